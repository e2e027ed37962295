#!/usr/bin/env bash
# The checks that read Ember's files with the real tools: TensorBoard's own reader on
# Ember's event files, and NumPy on Ember's .npy/.npz files. Creates a virtual environment
# with tensorboard and numpy in .build/python-checks (PyPI access needed the first time)
# unless EMBER_PYTHON already names a Python that has them.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${EMBER_PYTHON:-}" ]; then
    env=.build/python-checks
    if [ ! -x "$env/bin/python" ]; then
        python3 -m venv "$env" || { echo "python3 -m venv failed: apt-get install python3-venv" >&2; exit 1; }
        "$env/bin/pip" install -q numpy tensorboard
    fi
    export EMBER_PYTHON="$PWD/$env/bin/python"
fi
swift build --build-tests
swift test --skip-build --filter "TensorBoardWriterTests|NumPyInteropTests"
