import Foundation
import XCTest
import Ember
import EmberModels
import EmberNN

/// The profiler: every kernel, eager and compiled, with its shapes, FLOPs and bytes; ranges and
/// module paths around them; the key-averages table and the Chrome trace.
final class ProfilerTests: XCTestCase {
    func testEagerKernelsAreRecordedWithShapesFLOPsAndBytes() {
        let a = Tensor.ones([4, 3]), b = Tensor.ones([3, 5])
        let (_, recorded) = profile { matmul(a, b).relu() }
        XCTAssertEqual(recorded.kernels.map(\.name), ["matmul", "relu"])
        let product = recorded.kernels[0]
        XCTAssertEqual(product.inputShapes, [[4, 3], [3, 5]])
        XCTAssertEqual(product.inputDTypes, [.float32, .float32])
        XCTAssertEqual(product.flops, 2 * 4 * 5 * 3)
        XCTAssertEqual(product.bytes, 4 * (12 + 15 + 20))
        XCTAssertEqual(product.scope, "")
        XCTAssertNil(Profiler.current, "nothing records outside profile { }")
    }

    /// Compiled code is recorded kernel by kernel, fused kernels named by what they fuse, with
    /// the FLOPs the eager pass has.
    func testCompiledAndFusedKernelsAreRecorded() throws {
        let model = ResNet.resnet18(classes: 10)
        model.eval()
        let x = Tensor.zeros([1, 3, 32, 32])
        let compiled = compile({ model($0) }, options: .inference)
        _ = noGrad { compiled(x) }
        let eager = profile { noGrad { model(x) } }.profile
        let replayed = profile { noGrad { compiled(x) } }.profile
        XCTAssertTrue(replayed.kernels.contains { $0.name.hasPrefix("fused<conv2d+") }, "\(Set(replayed.kernels.map(\.name)))")
        XCTAssertEqual(replayed.kernels.reduce(0) { $0 + $1.flops }, eager.kernels.reduce(0) { $0 + $1.flops })
        XCTAssertEqual(eager.kernels.reduce(0) { $0 + $1.flops }, countingFLOPs { noGrad { model(x) } }.flops)
    }

    /// Given the model, each module call is a range named by its path, and the kernels inside
    /// it carry the innermost path.
    func testModuleCallsAreRangesNamedByPath() throws {
        let model = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))
        let paths = model.namedModules().map(\.0).filter { !$0.isEmpty }
        let (_, recorded) = profile(model) { model(Tensor.ones([3, 4])) }
        let ranges = recorded.events.filter { $0.category == .module }
        XCTAssertEqual(ranges.map(\.name), ["Sequential"] + paths)
        XCTAssertEqual(Set(recorded.kernels.map(\.scope)), Set(paths))
        let firstLinear = try XCTUnwrap(recorded.kernels.first { $0.name == "matmul" })
        XCTAssertEqual(firstLinear.scope, paths[0])
        // Without the model, module calls are named by type.
        XCTAssertEqual(profile { model(Tensor.ones([3, 4])) }.profile.events.filter { $0.category == .module }.map(\.name),
                       ["Sequential", "Linear", "ReLU", "Linear"])

        let byModule = recorded.keyAverages(groupBy: .module)
        let root = try XCTUnwrap(byModule.first { $0.key == "Sequential" })
        XCTAssertEqual(root.flops, 2 * 3 * 4 * 8 + 2 * 3 * 8 * 2, "a module's FLOPs include its submodules'")
        let children = byModule.filter { $0.key != "Sequential" }.reduce(0) { $0 + $1.totalTime }
        XCTAssertEqual(root.selfTime, root.totalTime - children)
    }

    /// `record` ranges nest, hold the kernels run inside them, and cost nothing outside a profile.
    func testUserRangesNestAndNestedProfilesJoinTheOuter() throws {
        let a = Tensor.ones([8, 8])
        XCTAssertEqual(record("outside") { 7 }, 7)
        let (inner, outer) = profile { () -> Profile in
            record("step") {
                _ = record("forward") { matmul(a, a) }
                return profile { _ = a + a }.profile
            }
        }
        XCTAssertEqual(inner.kernels.map(\.name), ["add"])
        XCTAssertEqual(outer.events.map(\.name), ["step", "forward", "matmul", "add"])
        let step = 0, forward = 1
        XCTAssertEqual(outer.events.map(\.parent), [nil, step, forward, step])
        XCTAssertEqual(outer.events[0].category, .userAnnotation)
        for event in outer.events.dropFirst() {
            XCTAssertGreaterThanOrEqual(event.start, outer.events[0].start)
            XCTAssertLessThanOrEqual(event.start + event.duration, outer.events[0].start + outer.events[0].duration)
        }
    }

    func testKeyAveragesTableAndChromeTrace() throws {
        let model = Sequential(Linear(16, 32), ReLU(), Linear(32, 4))
        let (_, recorded) = profile(model) {
            for _ in 0..<3 { _ = model(Tensor.ones([5, 16])) }
        }
        let rows = recorded.keyAverages()
        XCTAssertEqual(rows.first { $0.key == "matmul" }?.calls, 6)
        XCTAssertEqual(rows.map(\.selfTime), rows.map(\.selfTime).sorted(by: >), "largest self time first")
        XCTAssertEqual(recorded.keyAverages(groupBy: .opAndShape).first { $0.key == "matmul [5, 16], [16, 32]" }?.calls, 3)
        let table = recorded.table(peakFLOPS: 1e11)
        XCTAssertTrue(table.contains("Name") && table.contains("% peak") && table.contains("matmul"), table)

        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ember-trace-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try recorded.writeChromeTrace(to: url)
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let events = try XCTUnwrap(document["traceEvents"] as? [[String: Any]])
        let complete = events.filter { $0["ph"] as? String == "X" }
        XCTAssertEqual(complete.count, recorded.events.count)
        let kernel = try XCTUnwrap(complete.first { $0["name"] as? String == "matmul" })
        XCTAssertNotNil(kernel["ts"] as? Double)
        XCTAssertNotNil(kernel["dur"] as? Double)
        XCTAssertEqual(kernel["cat"] as? String, "kernel")
        let args = try XCTUnwrap(kernel["args"] as? [String: Any])
        XCTAssertEqual(args["input_shapes"] as? [[Int]], [[5, 16], [16, 32]])
        XCTAssertEqual(args["flops"] as? Int, 2 * 5 * 16 * 32)
        XCTAssertEqual(args["module"] as? String, model.namedModules()[1].0)
    }
}
