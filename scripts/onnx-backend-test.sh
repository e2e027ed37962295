#!/usr/bin/env bash
# Runs the ONNX backend node test suite (1,884 cases in onnx 1.23.2) through `ember run` and
# through onnxruntime, and prints the pass rates, overall and per operator.
#   scripts/onnx-backend-test.sh [--only SUBSTRING] [--markdown FILE] [--jobs N]
# Builds ember in release first; the Python with onnx and onnxruntime comes from
# scripts/python-env.sh (EMBER_PYTHON overrides it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${EMBER_PYTHON:-$(scripts/python-env.sh)}"
swift build -c release --product ember >&2
exec "$python" scripts/onnx_backend_test.py "$(swift build -c release --show-bin-path)/ember" "$@"
