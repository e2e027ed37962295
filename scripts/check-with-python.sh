#!/usr/bin/env bash
# The checks that read Ember's files with the real tools: TensorBoard's own reader on
# Ember's event files, and NumPy on Ember's .npy/.npz files, under the Python that
# EMBER_PYTHON names or else the one scripts/python-env.sh sets up.
set -euo pipefail
cd "$(dirname "$0")/.."
export EMBER_PYTHON=${EMBER_PYTHON:-$(scripts/python-env.sh)}
swift build --build-tests
swift test --skip-build --filter "TensorBoardWriterTests|NumPyInteropTests"
