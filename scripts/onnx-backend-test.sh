#!/usr/bin/env bash
# Runs the ONNX backend node test suite (1,884 cases in onnx 1.23.2) through `ember run` and
# through onnxruntime, and prints the pass rates, overall and per operator.
#   scripts/onnx-backend-test.sh [--only SUBSTRING] [--markdown FILE] [--jobs N]
# Builds ember first (release; EMBER_BUILD=debug for a debug build); the Python with onnx
# and onnxruntime comes from scripts/python-env.sh (EMBER_PYTHON overrides it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${EMBER_PYTHON:-$(scripts/python-env.sh)}"
configuration="${EMBER_BUILD:-release}"
swift build -c "$configuration" --product ember >&2
exec "$python" scripts/onnx_backend_test.py "$(swift build -c "$configuration" --show-bin-path)/ember" "$@"
