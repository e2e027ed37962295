#!/usr/bin/env bash
# Coverage-guided fuzzing of Ember's file loaders with libFuzzer and AddressSanitizer.
#
#   scripts/fuzz.sh                    # every target, 60 seconds each
#   scripts/fuzz.sh TARGET [SECONDS]   # one target (names: scripts/fuzz.sh --list)
#
# Starts from the committed seeds in Fuzz/Corpus/TARGET/ and adds the inputs that reach new
# code to Fuzz/Corpus/TARGET/ (commit the interesting ones); a crash, leak or timeout
# leaves its input in Fuzz/Findings/ and stops with libFuzzer's report. Every committed
# corpus is replayed by the test suite (FuzzCorpusTests).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(safetensors npy npz gzip png netpbm idx cifar csv tokenizer-json vocab-txt bpe hf-config checkpoint)
if [ "${1:-}" = "--list" ]; then printf '%s\n' "${targets[@]}"; exit 0; fi
selected=("${1:-all}")
[ "${selected[0]}" = "all" ] && selected=("${targets[@]}")
seconds=${2:-60}

swift build --package-path Fuzz -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
    --build-path .build-fuzz >&2
binary=.build-fuzz/debug/ember-fuzz
mkdir -p Fuzz/Findings
for target in "${selected[@]}"; do
    mkdir -p "Fuzz/Corpus/$target"
    echo "== $target: ${seconds}s" >&2
    EMBER_FUZZ_TARGET=$target "$binary" "Fuzz/Corpus/$target" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=4096 -max_len=65536 -artifact_prefix="Fuzz/Findings/$target-" -print_final_stats=1
done
