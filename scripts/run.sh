#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode and runs the demo
# (a small network trained with autograd). Extra arguments go to `ember demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product ember
.build/release/ember demo "$@"
