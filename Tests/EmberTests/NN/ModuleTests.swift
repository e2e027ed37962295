import XCTest
import Ember
@testable import EmberNN
import EmberIO

/// A model with every kind of slot, to pin the state keys PyTorch would give it.
private final class Block: Module, Layer {
    let conv = Linear(4, 4)
    @Buffer var runningMean = Tensor.zeros([4])
    @Buffer var numBatchesTracked = Tensor.zeros([], dtype: .int64)
    @Buffer(persistent: false) var scratch = Tensor.zeros([2])
    @Child(key: "LayerNorm") var layerNorm = Linear(4, 4, bias: false)
    let stages: [Linear] = [Linear(4, 2), Linear(2, 4)]
    let head: Linear? = nil

    func forward(_ x: Tensor) -> Tensor { stages[1](stages[0](layerNorm(conv(x)))) }
}

private final class Net: Module, Layer {
    let layer1 = Block()
    @Parameter var scale = Tensor.ones([1])
    let fc = Sequential(Linear(4, 3), ReLU())

    func forward(_ x: Tensor) -> Tensor { fc(layer1(x) * scale) }
}

/// Stands in for a layer: doubles what the layer it holds gives (by its own forward pass).
private final class Doubling: Module, Layer {
    let child: Child<Linear>
    var inner: Linear { child.wrappedValue }
    init(_ inner: Linear) { child = Child(wrappedValue: inner, key: "") }
    func forward(_ x: Tensor) -> Tensor { inner.callingOwnForward { inner(x) } * 2 }
}

final class ModuleTests: XCTestCase {
    func testReplaceModulePutsTheReplacementInTheTreeAndInTheCalls() throws {
        let net = Net()
        let x = Tensor.randomNormal([2, 4])
        let before = net(x)
        let keys = net.stateKeys(), parameters = net.parameters()
        let original = net.layer1.stages[1]
        // An array element, a Sequential's layer: the keys stay (the replacement's child is under "").
        try net.replaceModule(at: "layer1.stages.1", with: Doubling(original))
        XCTAssert(net.namedModules().contains { $0.0 == "layer1.stages.1" && $0.1 is Doubling })
        XCTAssertEqual(net.stateKeys(), keys)
        XCTAssert(zip(net.parameters(), parameters).allSatisfy { $0 === $1 })
        // The parent still calls its stored layer: the call goes to the replacement.
        let stages = net.layer1.stages
        let expected = net.fc(stages[1].callingOwnForward { stages[1](stages[0](net.layer1.layerNorm(net.layer1.conv(x)))) } * 2 * net.scale)
        XCTAssertEqual(net(x).doubles, expected.doubles)
        XCTAssertNotEqual(net(x).doubles, before.doubles)
        try net.replaceModule(at: "fc.0", with: Doubling(net.fc.layers[0] as! Linear))
        XCTAssert(net.namedModules().contains { $0.0 == "fc.0" && $0.1 is Doubling }, "Sequential's layers can be replaced")

        XCTAssertThrowsError(try net.replaceModule(at: "layer1.nothing", with: ReLU())) {
            XCTAssertEqual("\($0)", "Net has no submodule layer1.nothing")
        }
        XCTAssertThrowsError(try net.replaceModule(at: "", with: ReLU())) {
            XCTAssertEqual("\($0)", "cannot replace the module itself (path \"\"); wrap it instead")
        }
    }

    func testStateKeysFollowPyTorchNaming() {
        let net = Net()
        // PyTorch's order: a module's parameters, its buffers, then its children.
        XCTAssertEqual(net.stateKeys(), [
            "scale", "layer1.running_mean", "layer1.num_batches_tracked",
            "layer1.conv.weight", "layer1.conv.bias", "layer1.LayerNorm.weight",
            "layer1.stages.0.weight", "layer1.stages.0.bias", "layer1.stages.1.weight", "layer1.stages.1.bias",
            "fc.0.weight", "fc.0.bias",
        ])
        XCTAssertFalse(net.stateKeys().contains("layer1.scratch"), "non-persistent buffers stay out of the state")
        XCTAssertEqual(net.namedParameters().map(\.0), [
            "scale", "layer1.conv.weight", "layer1.conv.bias", "layer1.LayerNorm.weight",
            "layer1.stages.0.weight", "layer1.stages.0.bias", "layer1.stages.1.weight", "layer1.stages.1.bias",
            "fc.0.weight", "fc.0.bias",
        ])
        XCTAssertEqual(net.namedBuffers().map(\.0), ["layer1.running_mean", "layer1.num_batches_tracked", "layer1.scratch"])
        XCTAssertEqual(net.parameterCount, 1 + 20 + 16 + 10 + 12 + 15)
        XCTAssertTrue(net.parameters().allSatisfy(\.requiresGrad))
    }

    func testSlotsDeclaredBeforeChildrenComeFirstAsDeclared() {
        // Within one module, tensors come before submodules (PyTorch lists a module's own
        // parameters before its children's), each in declaration order.
        let block = Block()
        XCTAssertEqual(block.namedParameters().first?.0, "conv.weight")
        XCTAssertEqual(block.namedModules().map(\.0), ["", "conv", "LayerNorm", "stages", "stages.0", "stages.1"])
    }

    func testTrainEvalAndFreeze() {
        let net = Net()
        XCTAssertTrue(net.namedModules().allSatisfy { $0.1.isTraining })
        net.eval()
        XCTAssertTrue(net.namedModules().allSatisfy { !$0.1.isTraining })
        net.train()
        XCTAssertTrue(net.layer1.stages[1].isTraining)

        net.layer1.freeze()
        XCTAssertEqual(net.trainableParameterCount, 1 + 15)
        let loss = net(Tensor.randomNormal([2, 4])).sum()
        loss.backward()
        XCTAssertNil(net.layer1.conv.weight.grad, "frozen parameters get no gradient")
        XCTAssertNotNil(net.fc.layers[0].parameters().first?.grad)
        net.zeroGrad()
        XCTAssertTrue(net.parameters().allSatisfy { $0.grad == nil })
        net.unfreeze()
        XCTAssertEqual(net.trainableParameterCount, net.parameterCount)
    }

    func testStateDictRoundTripAndErrors() throws {
        let a = Net(), b = Net()
        try b.loadStateDict(a.stateDict())
        for ((name, p), (_, q)) in zip(a.namedParameters(), b.namedParameters()) {
            XCTAssertEqual(p.floats, q.floats, name)
            XCTAssertFalse(p === q)
        }

        var state = a.stateDict()
        state["layer1.conv.weight"] = Tensor.zeros([3, 4])
        XCTAssertThrowsError(try b.loadStateDict(state)) { error in
            XCTAssertTrue("\(error)".contains("layer1.conv.weight: expected shape [4, 4], found [3, 4]"), "\(error)")
        }
        XCTAssertNotEqual(b.layer1.conv.weight.floats, [Float](repeating: 0, count: 16), "a failed load changes nothing")

        state = a.stateDict()
        state["layer1.running_mean"] = nil
        state["extra.weight"] = Tensor.zeros([1])
        XCTAssertThrowsError(try b.loadStateDict(state)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("missing keys: layer1.running_mean"), message)
            XCTAssertTrue(message.contains("unexpected keys: extra.weight"), message)
        }
        let report = try b.loadStateDict(state, strict: false)
        XCTAssertEqual(report, StateDictReport(missingKeys: ["layer1.running_mean"], unexpectedKeys: ["extra.weight"]))
    }

    func testLoadingCastsToEachSlotsDType() throws {
        let block = Block()
        var state = block.stateDict()
        state["num_batches_tracked"] = Tensor([7.0], shape: [])
        try block.loadStateDict(state)
        XCTAssertEqual(block.numBatchesTracked.dtype, .int64)
        XCTAssertEqual(Int64(block.numBatchesTracked.item()), 7)
    }

    func testWithStateSwapsParametersAndRestoresThem() {
        let linear = Linear(3, 2)
        let original = linear.weight
        let w = Tensor.ones([2, 3], dtype: .float32).requiringGrad()
        let x = Tensor([[1, 2, 3]] as [[Float]])
        let (y, g) = valueAndGrad { (w: Tensor) -> Tensor in
            linear.withState(["weight": w]) { linear(x).sum() }
        }(w)
        XCTAssertTrue(linear.weight === original)
        XCTAssertEqual(y.item(), 12 + linear.bias!.sum().item(), accuracy: 1e-5)
        XCTAssertEqual(g.floats, [1, 2, 3, 1, 2, 3])
    }

    func testLinearAndSequentialAgainstPyTorch() throws {
        let fixtures = try Fixtures("modules")
        let linear = Linear(5, 3, dtype: .float64)
        fixtures.checkModule("linear", linear, inputs: 1) { linear($0[0]) }
        let noBias = Linear(5, 3, bias: false, dtype: .float64)
        fixtures.checkModule("linear_no_bias", noBias, inputs: 1) { noBias($0[0]) }
        let mlp = Sequential(Linear(6, 8, dtype: .float64), ReLU(), Dropout(probability: 0), Linear(8, 8, dtype: .float64),
                             GELU(), Linear(8, 4, dtype: .float64), Tanh(), Flatten(startAxis: 0))
        fixtures.checkModule("mlp", mlp, inputs: 1) { mlp($0[0]) }
    }

    func testSummaryTable() {
        let mlp = Sequential(Linear(784, 512), ReLU(), Linear(512, 10))
        let text = mlp.summary(input: Tensor.zeros([1, 784]))
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("Layer (type)"))
        XCTAssertTrue(lines.contains { $0.contains("(model) (Sequential)") && $0.contains("[1, 10]") })
        XCTAssertTrue(lines.contains { $0.contains("0 (Linear)") && $0.contains("[1, 512]") && $0.contains(" 802.82K ")
                                       && $0.hasSuffix("401,920") })
        XCTAssertTrue(lines.contains { $0.contains("2 (Linear)") && $0.hasSuffix("5,130") })
        XCTAssertTrue(lines.contains("Total params: 407,050"))
        XCTAssertTrue(lines.contains("Non-trainable params: 0"))
        // Two FLOPs per multiply-add of the two matrix products: 2 (784 x 512 + 512 x 10).
        XCTAssertTrue(lines.contains("FLOPs per example: 813,056 (813.06K)"), text)
        XCTAssertTrue(mlp.isTraining, "summary restores the mode")
    }

    func testDropoutScalesAndIsOffInEval() {
        manualSeed(3)
        let dropout = Dropout(probability: 0.25)
        let y = dropout(Tensor.ones([10000])).floats
        XCTAssertTrue(y.allSatisfy { $0 == 0 || abs($0 - 4 / 3) < 1e-6 })
        let kept = Double(y.filter { $0 != 0 }.count) / 10000
        XCTAssertEqual(kept, 0.75, accuracy: 0.02)
        dropout.eval()
        XCTAssertEqual(dropout(Tensor.ones([5])).floats, [1, 1, 1, 1, 1])
    }
}

final class ModuleFileTests: XCTestCase {
    func testSaveAndLoadSafetensors() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-module-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("model.safetensors")

        let a = Sequential(Linear(4, 3), ReLU(), Linear(3, 2)), b = Sequential(Linear(4, 3), ReLU(), Linear(3, 2))
        try a.save(to: url)
        try b.load(from: url)
        for ((_, p), (_, q)) in zip(a.namedParameters(), b.namedParameters()) { XCTAssertEqual(p.floats, q.floats) }
        XCTAssertEqual(try SafeTensors.read(contentsOf: url).metadata, ["format": "pt"])

        let wrong = Sequential(Linear(4, 5), ReLU(), Linear(5, 2))
        XCTAssertThrowsError(try wrong.load(from: url)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(url.path) && message.contains("0.weight: expected shape [5, 4], found [3, 4]"), message)
        }
    }
}
