#!/usr/bin/env bash
# The release build of `ember` on real files: the tests run a debug build, and an optimizer
# miscompile once made release builds refuse every 8-bit PNG. Trains a tiny run, then
# predicts every image fixture (each must be read) with the release binary.
#
#   scripts/check-release.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product ember
ember="$(swift build -c release --show-bin-path)/ember"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$ember" train --model linear --epochs 1 --train-size 64 --val-size 16 --workers 0 --out "$work/run" > "$work/train.log"
failed=0
count=0
for image in Tests/EmberDataTests/Formats/ImageFixtures/*.{png,ppm,pgm,pbm} Tests/EmberDataTests/Formats/JPEGFixtures/*.jpg; do
    [ -e "$image" ] || continue
    count=$((count + 1))
    if ! "$ember" predict "$work/run" "$image" > /dev/null 2> "$work/error.txt"; then
        echo "check-release: $image: $(head -c 300 "$work/error.txt")" >&2
        failed=$((failed + 1))
    fi
done
if [ "$failed" -gt 0 ]; then
    echo "check-release: $failed of $count image files could not be read by the release build" >&2
    exit 1
fi
echo "check-release: the release build read all $count image files"
