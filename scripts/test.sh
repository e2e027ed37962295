#!/usr/bin/env bash
# Installs what is missing and runs the whole test suite. Arguments go to `swift test`
# (for example --filter TracedCreationTests).
#
#   scripts/test.sh --sanitize address   # the suite under AddressSanitizer (.build-address)
#   scripts/test.sh --sanitize thread    # under ThreadSanitizer (.build-thread)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The pretrained model the sentence-embedding tests compare with sentence-transformers
# (those tests fetch it themselves too, and are skipped with the reason if they cannot).
scripts/fetch-minilm.sh >/dev/null || echo "warning: all-MiniLM-L6-v2 could not be fetched; its tests will be skipped"
# A Python with onnx, onnxruntime, numpy, Pillow and tensorboard, for the tests that check
# Ember's files with the real tools (cached outside the clone; skipped with the reason when
# PyPI cannot be reached).
if [ -z "${EMBER_PYTHON:-}" ]; then
    if python=$(scripts/python-env.sh); then export EMBER_PYTHON=$python
    else echo "warning: no Python with onnx and onnxruntime; the ONNX, NumPy, Pillow and TensorBoard interop tests will be skipped"; fi
fi
build=()
if [ "${1:-}" = "--sanitize" ]; then
    case "${2:-}" in
        address|thread) build=(--sanitize "$2" --build-path ".build-$2") ;;
        *) echo "scripts/test.sh: --sanitize takes address or thread, got '${2:-}'" >&2; exit 1 ;;
    esac
    # Leaks of the toolchain's libraries (XCTest, Foundation) are not Ember's.
    [ "$2" = address ] && export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp"
    shift 2
fi
swift build --build-tests ${build[@]+"${build[@]}"}
swift test --skip-build ${build[@]+"${build[@]}"} "$@"
# The whole suite (no arguments) also trains across two "hosts" (network namespaces) over
# TCP, where namespaces can be created (root or CAP_SYS_ADMIN; it says so otherwise), and
# checks `ember serve` with real clients and schemathesis.
if [ $# -eq 0 ] && [ ${#build[@]} -eq 0 ]; then
    scripts/check-multihost.sh --if-possible "$(swift build --show-bin-path)/ember"
    status=0
    scripts/check-serve.sh 10 || status=$?
    if [ "$status" -eq 2 ]; then echo "warning: the serving checks were skipped: their Python tools could not be installed"
    elif [ "$status" -ne 0 ]; then exit "$status"; fi
fi
