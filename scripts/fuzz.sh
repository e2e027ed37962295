#!/usr/bin/env bash
# Coverage-guided fuzzing of Ember's file loaders with libFuzzer and AddressSanitizer.
#
#   scripts/fuzz.sh                    # every target, 60 seconds each
#   scripts/fuzz.sh TARGET [SECONDS]   # one target (names: scripts/fuzz.sh --list)
#
# Starts from the committed corpus in Fuzz/Corpus/TARGET/ and works in Fuzz/Work/TARGET/
# (not committed); afterwards the inputs that reach code the committed corpus does not are
# merged into Fuzz/Corpus/TARGET/ (libFuzzer's -merge=1: commit them). A crash, leak or
# timeout leaves its input in Fuzz/Findings/ and stops with libFuzzer's report: make it a
# file of the corpus once fixed. The test suite replays every committed corpus
# (FuzzCorpusTests).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(safetensors npy npz gzip png jpeg netpbm idx cifar csv tokenizer-json vocab-txt bpe hf-config checkpoint tfrecord tf-example run-model run-config onnx)
if [ "${1:-}" = "--list" ]; then printf '%s\n' "${targets[@]}"; exit 0; fi
selected=("${1:-all}")
[ "${selected[0]}" = "all" ] && selected=("${targets[@]}")
seconds=${2:-60}

swift build --package-path Fuzz -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
    --build-path .build-fuzz >&2
binary=.build-fuzz/debug/ember-fuzz
mkdir -p Fuzz/Findings
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp"
failed=()
for target in "${selected[@]}"; do
    mkdir -p "Fuzz/Corpus/$target" "Fuzz/Work/$target"
    echo "== $target: ${seconds}s" >&2
    if ! EMBER_FUZZ_TARGET=$target "$binary" "Fuzz/Work/$target" "Fuzz/Corpus/$target" -max_total_time="$seconds" \
        -timeout=10 -rss_limit_mb=4096 -artifact_prefix="Fuzz/Findings/$target-" -print_final_stats=1; then
        failed+=("$target")
    fi
    EMBER_FUZZ_TARGET=$target "$binary" -merge=1 "Fuzz/Corpus/$target" "Fuzz/Work/$target" 2>&1 | tail -n 1 >&2
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "findings in: ${failed[*]} (inputs in Fuzz/Findings/)" >&2
    exit 1
fi
