#!/usr/bin/env bash
# Regenerates Sources/EmberONNX/Proto/onnx.pb.swift from onnx.proto (copied from the `onnx`
# wheel; proto2, package onnx). Run by hand when onnx.proto changes; the output is committed
# so that builds need neither protoc nor swift-protobuf's build plugin.
#
# Needs Debian's protobuf-compiler and a protoc-gen-swift built from swift-protobuf 1.39.0
# (the version Package.swift resolves): swift build -c release --product protoc-gen-swift
#
#   scripts/generate-onnx-proto.sh PATH/TO/protoc-gen-swift
set -euo pipefail
cd "$(dirname "$0")/../Sources/EmberONNX/Proto"
plugin=${1:?usage: scripts/generate-onnx-proto.sh PATH/TO/protoc-gen-swift}
[ -x "$plugin" ] || { echo "generate-onnx-proto.sh: '$plugin' is not an executable protoc-gen-swift" >&2; exit 1; }
command -v protoc >/dev/null || { echo "generate-onnx-proto.sh: protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public --swift_opt=FileNaming=DropPath \
    --swift_out=. onnx.proto
