#!/usr/bin/env bash
# Installs what is missing and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The pretrained model the sentence-embedding tests compare with sentence-transformers
# (those tests fetch it themselves too, and are skipped with the reason if they cannot).
scripts/fetch-minilm.sh >/dev/null || echo "warning: all-MiniLM-L6-v2 could not be fetched; its tests will be skipped"
swift build --build-tests
swift test --skip-build "$@"
