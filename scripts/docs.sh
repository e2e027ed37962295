#!/usr/bin/env bash
# Builds the API documentation (DocC, through swift-docc-plugin) of the library targets
# into one combined archive, .build/docs/Ember.doccarchive by default: an overview page per
# library (Sources/<Target>/<Target>.docc) and articles for people coming from PyTorch,
# Keras and JAX. A broken link or a documentation comment that names a parameter the
# function lacks is an error, so the pages cannot rot unnoticed.
#
#   scripts/docs.sh [OUTPUT_DIR]
#   python3 -m http.server -d .build/docs/Ember.doccarchive   # then open /documentation/ember
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.build/docs}
mkdir -p "$out"
targets=(Ember EmberNN EmberOptim EmberIO EmberData EmberTrain EmberText EmberModels)
swift package --allow-writing-to-directory "$out" generate-documentation \
    $(printf -- '--target %s ' "${targets[@]}") \
    --enable-experimental-combined-documentation \
    --output-path "$out/Ember.doccarchive" \
    --warnings-as-errors
echo "Documentation: $out/Ember.doccarchive"
