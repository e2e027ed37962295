#!/usr/bin/env bash
# Builds a throwaway package that depends on Ember the way a user's package does, by URL and
# version (`.package(url:from:)`, here a tagged clone of this checkout through a file URL),
# and runs a few lines against the public API: a tensor op, a Linear forward and backward,
# a safetensors round trip. It fails if SwiftPM refuses Ember as a dependency (unsafe
# flags), if a product is missing, or if the API misbehaves. The clone holds the working
# tree as it is (uncommitted and untracked files included, ignored ones not).
#
#   scripts/check-consumer.sh            # release build of the consumer (as users ship)
#   scripts/check-consumer.sh --debug    # debug build: the same check in less time
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
configuration=release
case "${1:-}" in
    "") ;;
    --debug) configuration=debug ;;
    *) echo "scripts/check-consumer.sh: unknown argument '$1' (allowed: --debug)" >&2; exit 1 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/ember-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The tagged clone: this checkout's files committed on top of its history, tagged 0.1.0.
git clone --quiet --no-checkout "$root" "$work/ember"
git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$work/ember"
(
    cd "$work/ember"
    git tag -l | xargs -r git tag -d >/dev/null
    git add -A
    git -c user.name=check-consumer -c user.email=check-consumer@localhost commit --quiet --allow-empty -m "checkout as it is"
    git tag 0.1.0
)

mkdir -p "$work/consumer/Sources/consumer"
cat > "$work/consumer/Package.swift" <<EOF
// swift-tools-version:5.10
import PackageDescription

let package = Package(
    name: "consumer",
    dependencies: [.package(url: "file://$work/ember", from: "0.1.0")],
    targets: [
        .executableTarget(name: "consumer", dependencies: [
            .product(name: "Ember", package: "ember"),
            .product(name: "EmberNN", package: "ember"),
            .product(name: "EmberIO", package: "ember"),
        ]),
    ]
)
EOF
cat > "$work/consumer/Sources/consumer/main.swift" <<'EOF'
import Ember
import EmberIO
import EmberNN
import Foundation

func require(_ condition: Bool, _ what: String) {
    if !condition {
        print("check-consumer: FAILED: \(what)")
        exit(1)
    }
}

func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.floats, b.floats).map { abs($0 - $1) }.max() ?? .infinity
}

// A tensor op, and one on the vector kernels (exp inside softmax).
let x = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
require((x * 2 + 1).relu().sum(axis: 1).floats == [15, 33], "(x * 2 + 1).relu().sum(axis: 1)")
let rowSums = x.softmax(axis: 1).sum(axis: 1).floats
require(rowSums.allSatisfy { abs($0 - 1) < 1e-6 }, "softmax rows sum to 1, got \(rowSums)")

// A Linear layer forward and backward: the gradient of mean(y^2) by hand.
manualSeed(0)
let layer = Linear(3, 2)
let y = layer(x)
y.square().mean().backward()
let dy = noGrad { y.detached() * (2.0 / Double(y.count)) }
require(maxDifference(layer.weight.grad!, matmul(dy.transposed(), x)) < 1e-5, "Linear weight gradient")
require(maxDifference(layer.bias!.grad!, dy.sum(axis: 0)) < 1e-5, "Linear bias gradient")

// A safetensors round trip through a file.
let url = FileManager.default.temporaryDirectory.appendingPathComponent("ember-consumer-\(getpid()).safetensors")
defer { try? FileManager.default.removeItem(at: url) }
do {
    try layer.save(to: url)
    let restored = Linear(3, 2)
    try restored.load(from: url)
    require(restored(x).floats == y.floats, "a Linear loaded from safetensors computes the same")
    let tensors = try SafeTensors.load(contentsOf: url)
    require(Set(tensors.keys) == ["weight", "bias"], "safetensors names, got \(tensors.keys.sorted())")
} catch {
    require(false, "safetensors round trip: \(error)")
}
print("check-consumer: ok (Ember by URL and version, vector kernels: \(cpuDispatchPath))")
EOF

cd "$work/consumer"
start=$(date +%s)
swift build -c "$configuration"
echo "check-consumer: $configuration build of the consumer took $(( $(date +%s) - start )) s"
"$(swift build -c "$configuration" --show-bin-path)/consumer"
