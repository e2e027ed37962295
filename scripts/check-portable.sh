#!/usr/bin/env bash
# Checks that one build of Ember runs on any x86-64 CPU:
#  1. in the `ember` binary, only the dispatched kernels (Sources/CEmberVectorMath: functions
#     named with the suffix _avx2 or _avx512) use AVX registers: everything else is baseline code;
#  2. EMBER_CPU_DISPATCH=baseline forces the baseline path (`ember info` says so), and a value
#     that is unknown, or names a path the CPU lacks, gives a warning and the widest path;
#  3. under qemu-x86_64 (Debian's qemu-user, from scripts/install-deps.sh) emulating a CPU without
#     AVX (Nehalem) and one with AVX2 but no AVX-512 (Haswell), whose emulator raises
#     SIGILL on any AVX-512 instruction: `ember info` names the path chosen, and the vector
#     math and loop tests pass there (comparing the paths the CPU has bit for bit).
#
#   scripts/check-portable.sh [BUILD_DIR]    # default .build/debug, built with its tests
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.build/debug}
ember="$dir/ember"
tests="$dir/EmberPackageTests.xctest"
if [ ! -x "$ember" ] || [ ! -x "$tests" ]; then
    echo "scripts/check-portable.sh: $ember or $tests is missing; build with 'swift build --build-tests'" >&2
    exit 1
fi
fail() { echo "check-portable: FAILED: $*" >&2; exit 1; }

# 1. Which functions use ymm or zmm registers.
wide=$(objdump -d --no-show-raw-insn "$ember" |
    awk '/^[0-9a-f]+ <.*>:$/ { name = $2 } /%[yz]mm/ { uses[name]++ } END { for (f in uses) print f }' | sort)
others=$(grep -v -E '_(avx2|avx512)>:$' <<<"$wide" || true)
[ -z "$others" ] || fail "functions outside the dispatched kernels use AVX registers: $(echo $others)"
for entry in ember_vector_math_avx2 ember_vector_math_avx512 binary_loop_avx2 binary_loop_avx512; do
    grep -qx "<$entry>:" <<<"$wide" || fail "$entry uses no AVX register (is the dispatched code still built per path?)"
done
echo "check-portable: only the dispatched kernels use AVX registers ($(wc -l <<<"$wide") functions, all *_avx2 or *_avx512)"

# 2. The forced baseline.
path=$(EMBER_CPU_DISPATCH=baseline "$ember" info | sed -n 's/^vector kernels: //p')
[ "$path" = baseline ] || fail "EMBER_CPU_DISPATCH=baseline: ember info says '$path'"
echo "check-portable: EMBER_CPU_DISPATCH=baseline: vector kernels: baseline"
# An unknown value is named in a warning, and the widest path is used.
path=$(EMBER_CPU_DISPATCH=avx9 "$ember" info 2>/dev/null | sed -n 's/^vector kernels: //p')
case "$path" in
    *"(EMBER_CPU_DISPATCH=avx9 is not one of auto, baseline, avx2, avx512; using "*) ;;
    *) fail "EMBER_CPU_DISPATCH=avx9: ember info says '$path' (expected the warning)" ;;
esac
echo "check-portable: EMBER_CPU_DISPATCH=avx9: vector kernels: $path"

# 3. Older CPUs, emulated.
command -v qemu-x86_64 >/dev/null || fail "qemu-x86_64 is missing (scripts/install-deps.sh installs Debian's qemu-user)"
for cpu in Nehalem:baseline Haswell:avx2; do
    model=${cpu%%:*} want=${cpu##*:}
    path=$(qemu-x86_64 -cpu "$model" "$ember" info 2>/dev/null | sed -n 's/^vector kernels: //p')
    [ "$path" = "$want" ] || fail "on an emulated $model ember info says '$path', expected $want"
    # Asking for a path the CPU lacks falls back to the widest it has, with a warning.
    forced=$(EMBER_CPU_DISPATCH=avx512 qemu-x86_64 -cpu "$model" "$ember" info 2>/dev/null | sed -n 's/^vector kernels: //p')
    [ "$forced" = "$want (EMBER_CPU_DISPATCH=avx512: this CPU does not support avx512; using $want)" ] ||
        fail "EMBER_CPU_DISPATCH=avx512 on an emulated $model: ember info says '$forced'"
    for suite in VectorMathTests VectorLoopTests; do
        qemu-x86_64 -cpu "$model" "$tests" "EmberTests.$suite" > "${TMPDIR:-/tmp}/check-portable-$model.log" 2>&1 ||
            fail "$suite on an emulated $model (log: ${TMPDIR:-/tmp}/check-portable-$model.log)"
    done
    echo "check-portable: emulated $model: vector kernels: $path; VectorMathTests and VectorLoopTests pass"
done
