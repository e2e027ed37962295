#!/usr/bin/env bash
# Memory per rank of DDP, ZeRO stages 1 and 2 and FSDP on a GPT (8 layers, d_model 512) at
# 1, 2 and 4 ranks, and the bubble of 2-stage pipelines against (S-1)/(M+S-1); one JSON line
# per run on stdout (bench/SHARDING.md has the figures of this machine).
#
#     bash bench/sharding.sh [memory|bubble]...    (both when none is named)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product ember-sharding-bench >&2
program="$(swift build -c release --show-bin-path)/ember-sharding-bench"
run() {
    local ranks=$1; shift
    mpirun --allow-run-as-root --oversubscribe --bind-to none -n "$ranks" \
        -x EMBER_NUM_THREADS=1 -x OMP_NUM_THREADS=1 "$program" "$@"
}
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(memory bubble)
for part in "${parts[@]}"; do
    case "$part" in
    memory)
        for ranks in 1 2 4; do
            for mode in ddp zero1 zero2-at-step zero2 fsdp-block fsdp-model; do
                run "$ranks" memory "$mode"
                run "$ranks" memory "$mode" tiny   # the fixed footprint: the same launch, a one-block GPT
            done
        done ;;
    bubble)
        for schedule in gpipe 1f1b; do
            for m in 1 2 4 8; do run 2 bubble "$schedule" "$m"; done
        done ;;
    *) echo "bench/sharding.sh: unknown part '$part' (memory, bubble)" >&2; exit 2 ;;
    esac
done
