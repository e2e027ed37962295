import XCTest
@testable import Ember

// Helpers shared by the convolution, pooling and normalization tests.

/// Checks of the cases that Fixtures/generate_nn.py writes: inputs x0, x1, ..., the value y,
/// a cotangent w and the gradients d0, d1, ... of sum(w * y).
extension Fixtures {
    /// Whether case `name` holds tensor `key` (inputs given to PyTorch as None are absent).
    func has(_ name: String, _ key: String) -> Bool { cases[name]?[key] != nil }

    /// Checks `f`'s value and gradients at the case's inputs (nil where absent) in float64,
    /// against the float64 reference to 1e-10, and in float32 (oneDNN) to 2e-4: float32
    /// rounding of the sums of a few dozen terms of order one, amplified up to tenfold by
    /// a normalization's inverse standard deviation.
    func checkCase(_ name: String, inputs count: Int, file: StaticString = #filePath, line: UInt = #line,
                   _ f: ([Tensor?]) -> Tensor) {
        for (dtype, tolerance) in [(DType.float64, 1e-10), (.float32, 2e-4)] {
            let inputs = (0..<count).map { i in
                has(name, "x\(i)") ? tensor(name, "x\(i)").cast(to: dtype).requiringGrad() : nil
            }
            let y = f(inputs)
            assertClose(y, tensor(name, "y"), atol: tolerance, rtol: tolerance, "\(name) \(dtype) value", file: file, line: line)
            let present = inputs.indices.filter { inputs[$0] != nil }
            let grads = gradients(of: [y], withRespectTo: present.map { inputs[$0]! },
                                  gradOutputs: [tensor(name, "w").cast(to: dtype)])
            for (i, g) in zip(present, grads) {
                assertClose(g, tensor(name, "d\(i)"), atol: tolerance, rtol: tolerance, "\(name) \(dtype) gradient of x\(i)",
                            file: file, line: line)
            }
        }
    }

    /// Checks a case written by `second_order`: with g_i the gradients of sum(w * f) (recorded),
    /// the gradients of sum_i <g_i, v_i> with respect to the inputs (dd{i}) and to w (ddw), in float64.
    func checkSecondOrder(_ name: String, inputs count: Int, wrt: [Int], file: StaticString = #filePath, line: UInt = #line,
                          _ f: ([Tensor]) -> Tensor) {
        let inputs = (0..<count).map { tensor(name, "x\($0)").cast(to: .float64).requiringGrad() }
        let w = tensor(name, "w").requiringGrad()
        let first = gradients(of: [f(inputs)], withRespectTo: wrt.map { inputs[$0] }, gradOutputs: [w], createGraph: true)
        for (i, g) in zip(wrt, first) {
            assertClose(g, tensor(name, "d\(i)"), atol: 1e-10, rtol: 1e-10, "\(name) first-order gradient of x\(i)", file: file, line: line)
        }
        let s = zip(wrt, first).map { i, g in (g * tensor(name, "v\(i)").cast(to: .float64)).sum() }.reduce(Tensor.scalar(0, dtype: .float64), +)
        let second = gradients(of: [s], withRespectTo: wrt.map { inputs[$0] } + [w])
        for (i, g) in zip(wrt, second) {
            assertClose(g, tensor(name, "dd\(i)"), atol: 1e-10, rtol: 1e-10, "\(name) second-order gradient of x\(i)", file: file, line: line)
        }
        assertClose(second.last!, tensor(name, "ddw"), atol: 1e-10, rtol: 1e-10, "\(name) second-order gradient of w", file: file, line: line)
    }
}

/// Normal values in float64 from a fixed key.
func randomDoubles(_ shape: [Int], seed: UInt64) -> Tensor {
    Tensor.randomNormal(shape, dtype: .float64, source: .key(Key(seed)))
}

/// The same values with a transposed layout (last two axes), so kernels see strided input.
func transposedLayout(_ x: Tensor) -> Tensor {
    let strided = x.transposed().contiguous().transposed()
    XCTAssertFalse(strided.isContiguous)
    return strided
}

/// Asserts that the shape rule rejects `inputs` with a message holding each of `fragments`
/// (the operation's name, the shapes given, what was expected).
func assertShapeError(_ primitive: Primitive, _ inputs: [TensorSpec], mentions fragments: [String],
                      file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try primitive.outputSpecs(inputs), file: file, line: line) { error in
        let message = "\(error)"
        for fragment in fragments {
            XCTAssert(message.contains(fragment), "\"\(message)\" does not mention \(fragment)", file: file, line: line)
        }
    }
}
