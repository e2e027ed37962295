import CEmberVectorMath
import XCTest
@testable import Ember

/// The dispatched float32 loops (binary arithmetic, 32-bit select, optimizer updates, batch
/// normalization) on every instruction set this CPU has, against Swift references doing the
/// same IEEE operations in the same order: every path must give the reference's bits (so
/// the results do not depend on the CPU, and are those of the Swift loops the C replaced).
/// Lengths 1...40 leave every size of tail.
final class VectorLoopTests: XCTestCase {
    let paths = [EmberCPUPath.baseline, .AVX2, .AVX512].filter { ember_cpu_path_supported($0) != 0 }
    let lengths = Array(1...40) + [1000]

    /// Values with every special case among random ones.
    func values(_ count: Int, seed: UInt64) -> [Float] {
        var generator = SplitMix(seed)
        let special: [Float] = [0, -0, .nan, .infinity, -.infinity, 1, -1, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 3e-39]
        return (0..<count).map { i in i % 7 == 3 ? special[(i / 7) % special.count] : Float(generator.nextDouble() * 8 - 4) }
    }

    func assertSameBits(_ got: [Float], _ expected: [Float], _ what: @autoclosure () -> String,
                        file: StaticString = #filePath, line: UInt = #line) -> Bool {
        guard let i = zip(got, expected).enumerated().first(where: { $0.element.0.bitPattern != $0.element.1.bitPattern })?.offset
        else { return true }
        XCTFail("\(what()): element \(i) is \(got[i]), expected \(expected[i])", file: file, line: line)
        return false
    }

    func name(_ path: EmberCPUPath) -> String { String(cString: ember_cpu_path_name(path)) }

    func testBinaryLoops() {
        let functions: [(EmberBinaryFunction, (Float, Float) -> Float)] = [
            (.add, { $0 + $1 }), (.sub, { $0 - $1 }), (.mul, { $0 * $1 }),
            (.div, { $0 / $1 }),
            (.maximum, { $0.isNaN || $0 > $1 ? $0 : $1 }), (.minimum, { $0.isNaN || $0 < $1 ? $0 : $1 }),
        ]
        let a = values(1000, seed: 1), b = values(1000, seed: 2)
        for path in paths {
            let loops = ember_loops_on(path).pointee
            for (function, reference) in functions {
                for (aStep, bStep) in [(1, 1), (1, 0), (0, 1)] {
                    for n in lengths {
                        var out = [Float](repeating: 7, count: n)
                        loops.binary(function, a, aStep, b, bStep, &out, n)
                        let expected = (0..<n).map { reference(a[$0 * aStep], b[$0 * bStep]) }
                        guard assertSameBits(out, expected, "\(name(path)) \(function) steps \(aStep),\(bStep) n \(n)") else { return }
                    }
                }
            }
        }
    }

    func testSelectLoop() {
        var generator = SplitMix(3)
        let flags = (0..<1000).map { _ in [UInt8(0), 1, 2, 255][Int(generator.next() % 4)] }
        let a = (0..<1000).map { _ in UInt32(truncatingIfNeeded: generator.next()) }
        let b = (0..<1000).map { _ in UInt32(truncatingIfNeeded: generator.next()) }
        for path in paths {
            let loops = ember_loops_on(path).pointee
            for (aStep, bStep) in [(1, 1), (1, 0), (0, 1)] {
                for n in lengths {
                    var out = [UInt32](repeating: 7, count: n)
                    loops.select32(flags, a, aStep, b, bStep, &out, n)
                    let expected = (0..<n).map { flags[$0] != 0 ? a[$0 * aStep] : b[$0 * bStep] }
                    XCTAssertEqual(out, expected, "\(name(path)) steps \(aStep),\(bStep) n \(n)")
                }
            }
        }
    }

    func testUpdateLoops() {
        let t = values(1000, seed: 4), x = values(1000, seed: 5), y = values(1000, seed: 6).map { Swift.abs($0) }
        let forms: [(EmberUpdateFunction, Float, Float, Float, Float, (Float, Float, Float) -> Float)] = [
            (.scaleAndAdd, 1, -0.1, 0, 0, { t, x, _ in t + -0.1 * x }),
            (.scaleAndAdd, 0.9, 0.3, 0, 0, { t, x, _ in 0.9 * t + 0.3 * x }),
            (.scaleAndAddProduct, 0.999, 0.001, 0, 0, { t, x, y in 0.999 * t + 0.001 * x * y }),
            (.addRatioToSquareRoot, 0, -0.01, 1.5, 1e-8, { t, x, y in t + -0.01 * x / (y.squareRoot() * 1.5 + 1e-8) }),
        ]
        for path in paths {
            let loops = ember_loops_on(path).pointee
            for (function, a, b, c, e, reference) in forms {
                for n in lengths {
                    var target = Array(t.prefix(n))
                    loops.update(function, &target, x, y, a, b, c, e, n)
                    let expected = (0..<n).map { reference(t[$0], x[$0], y[$0]) }
                    guard assertSameBits(target, expected, "\(name(path)) \(function) a \(a) n \(n)") else { return }
                }
            }
        }
    }

    /// Batch normalization forward and backward, channels split in two calls as the
    /// parallel loop splits them, against `BatchNormReference` (the former Swift loops).
    func testBatchNormLoops() {
        for (n, c, s) in [(3, 4, 13), (2, 3, 64), (5, 2, 1), (1, 3, 37)] {
            let count = n * c * s
            let x = values(count, seed: 7).map { $0.isFinite && Swift.abs($0) < 1e30 ? $0 : 0.5 }
            let gy = values(count, seed: 8).map { $0.isFinite && Swift.abs($0) < 1e30 ? $0 : -0.25 }
            let weight = (0..<c).map { Float($0) * 0.5 + 0.75 }, bias = (0..<c).map { Float($0) - 1 }
            let reference = BatchNormReference(n: n, c: c, s: s, epsilon: 1e-5)
            let (expectedY, mean, variance) = reference.forward(x, weight, bias)
            let (expectedGX, expectedGW, expectedGB) = reference.backward(x, gy, mean, variance, weight)
            for path in paths {
                let loops = ember_loops_on(path).pointee
                var y = [Float](repeating: 0, count: count), m = [Float](repeating: 0, count: c), v = m
                var gx = y, gw = m, gb = m
                for (first, end) in [(0, c / 2), (c / 2, c)] {
                    loops.batch_norm_forward(x, weight, bias, &y, &m, &v, n, c, s, first, end, 1e-5)
                    loops.batch_norm_backward(x, gy, mean, variance, weight, &gx, &gw, &gb, n, c, s, first, end, 1e-5)
                }
                let what = "\(name(path)) batch norm [\(n), \(c), \(s)]"
                _ = assertSameBits(y, expectedY, "\(what) y") && assertSameBits(m, mean, "\(what) mean")
                    && assertSameBits(v, variance, "\(what) variance") && assertSameBits(gx, expectedGX, "\(what) gradX")
                    && assertSameBits(gw, expectedGW, "\(what) gradWeight") && assertSameBits(gb, expectedGB, "\(what) gradBias")
            }
        }
    }

    /// The tensor operations reach these loops: a float32 ReLU's gradient and a broadcast add
    /// equal the chosen path's loops.
    func testTensorOpsUseTheLoops() {
        let a = values(300, seed: 9), b = values(300, seed: 10)
        var expected = [Float](repeating: 0, count: 300)
        ember_loops_on(ember_cpu_path()).pointee.binary(.maximum, a, 1, b, 1, &expected, 300)
        XCTAssertEqual(maximum(Tensor(a), Tensor(b)).floats.map(\.bitPattern), expected.map(\.bitPattern))
    }
}

/// The batch-normalization loops as they were written in Swift: each plane's sums in eight
/// partial float sums (element k in sum k mod 8, the tail in the first), combined as a tree,
/// and the channel's in Double.
struct BatchNormReference {
    let n: Int, c: Int, s: Int, epsilon: Double

    func planeSums(_ first: (Int) -> Float, _ second: (Int) -> Float) -> (Float, Float) {
        var a = [Float](repeating: 0, count: 8), b = a
        var k = 0
        while k + 8 <= s {
            for lane in 0..<8 {
                a[lane] += first(k + lane)
                b[lane] += second(k + lane)
            }
            k += 8
        }
        while k < s {
            a[0] += first(k)
            b[0] += second(k)
            k += 1
        }
        func tree(_ v: [Float]) -> Float { ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])) }
        return (tree(a), tree(b))
    }

    func forward(_ x: [Float], _ weight: [Float], _ bias: [Float]) -> ([Float], [Float], [Float]) {
        var y = x, mean = [Float](repeating: 0, count: c), variance = mean
        let count = Double(n * s)
        for ch in 0..<c {
            var total = 0.0, squares = 0.0
            for i in 0..<n { let at = (i * c + ch) * s; total += Double(planeSums({ x[at + $0] }, { _ in 0 }).0) }
            let m = Float(total / count)
            for i in 0..<n {
                let at = (i * c + ch) * s
                squares += Double(planeSums({ (x[at + $0] - m) * (x[at + $0] - m) }, { _ in 0 }).0)
            }
            let v = squares / count
            let scale = Float(Double(weight[ch]) / (v + epsilon).squareRoot())
            for i in 0..<n {
                for k in 0..<s { let at = (i * c + ch) * s + k; y[at] = (x[at] - m) * scale + bias[ch] }
            }
            mean[ch] = m
            variance[ch] = Float(v)
        }
        return (y, mean, variance)
    }

    func backward(_ x: [Float], _ gy: [Float], _ mean: [Float], _ variance: [Float], _ weight: [Float]) -> ([Float], [Float], [Float]) {
        var gx = x, gw = [Float](repeating: 0, count: c), gb = gw
        let count = Double(n * s)
        for ch in 0..<c {
            let m = mean[ch]
            var sumGY = 0.0, sumCentered = 0.0
            for i in 0..<n {
                let at = (i * c + ch) * s
                let (bias, centered) = planeSums({ gy[at + $0] }, { gy[at + $0] * (x[at + $0] - m) })
                sumGY += Double(bias)
                sumCentered += Double(centered)
            }
            let inverseStd = 1 / (Double(variance[ch]) + epsilon).squareRoot()
            let gradWeight = sumCentered * inverseStd
            let a = Double(weight[ch]) * inverseStd
            let (ta, tb, td) = (Float(a), Float(-a * inverseStd * gradWeight / count), Float(-a * sumGY / count))
            for i in 0..<n {
                for k in 0..<s { let at = (i * c + ch) * s + k; gx[at] = ta * gy[at] + tb * (x[at] - m) + td }
            }
            gw[ch] = Float(gradWeight)
            gb[ch] = Float(sumGY)
        }
        return (gx, gw, gb)
    }
}

/// A small seeded generator (SplitMix64), so the inputs are the same on every run.
private struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
