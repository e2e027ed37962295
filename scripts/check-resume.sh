#!/usr/bin/env bash
# Checks that `ember train --resume` after a kill -9 writes the same metrics.csv rows as an
# uninterrupted run with the same seed (all columns but `seconds`, the wall-clock time).
# The kill comes a moment after the second epoch is logged, usually in the middle of the
# third, so the resume starts from a mid-epoch checkpoint (saved every 5 steps here).
# Usage: scripts/check-resume.sh [extra ember train options]; needs a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
ember=.build/release/ember
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
options=(--epochs 4 --train-size 2000 --val-size 500 --seed 7 --checkpoint-every 5 "$@")

"$ember" train "${options[@]}" --out "$work/uninterrupted" > /dev/null

# Kill the second run without warning once two epochs are logged (header + 2 rows).
"$ember" train "${options[@]}" --out "$work/resumed" > /dev/null &
pid=$!
logged() { if [ -f "$work/resumed/metrics.csv" ]; then wc -l < "$work/resumed/metrics.csv"; else echo 0; fi; }
while [ "$(logged)" -lt 3 ]; do sleep 0.05; done
sleep "${KILL_DELAY:-1}"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
echo "killed after $(($(logged) - 1)) logged epoch(s); resuming"
"$ember" train --resume --out "$work/resumed" | grep Resuming

without_seconds() { cut -d, -f1-6 "$1"; }
if diff <(without_seconds "$work/uninterrupted/metrics.csv") <(without_seconds "$work/resumed/metrics.csv"); then
    echo "OK: the resumed run's rows equal the uninterrupted run's"
    without_seconds "$work/resumed/metrics.csv"
else
    echo "FAILED: the rows differ (above)" >&2
    exit 1
fi
