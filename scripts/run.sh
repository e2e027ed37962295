#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode and runs `ember train`
# with its defaults (a small ResNet on the built-in shapes dataset), writing metrics,
# checkpoints, TensorBoard events and a report into runs/train-N. Extra arguments go to
# `ember train` (see `ember train --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product ember
.build/release/ember train "$@"
