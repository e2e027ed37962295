import XCTest
@testable import Ember

/// Creating tensors, reading their values back, printing them, and random numbers.
/// References: PyTorch for arange, linspace and eye (Fixtures/generate_core.py); Random123's
/// known-answer vectors for Philox; statistics for the random distributions.
final class TensorTests: XCTestCase {
    // MARK: Creation

    func testCreationFromSwiftValues() {
        let floats = Tensor([1.5, -2, 3] as [Float])
        XCTAssertEqual(floats.dtype, .float32)
        XCTAssertEqual(floats.shape, [3])
        XCTAssertEqual(Tensor([[1, 2, 3], [4, 5, 6]] as [[Double]]).shape, [2, 3])
        XCTAssertEqual(Tensor([1, 2, 3, 4, 5, 6] as [Int32], shape: [3, 2]).doubles, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(Tensor([7] as [Int64]).dtype, .int64)
        XCTAssertEqual(Tensor([true, false]).dtype, .bool)
        XCTAssertEqual(Tensor([Float16(0.5)]).dtype, .float16)
        XCTAssertEqual(Tensor([BFloat16(0.5)]).dtype, .bfloat16)
        let scalar = Tensor(2.5 as Double)
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.item(), 2.5)
        XCTAssertTrue(Tensor([] as [Float]).doubles.isEmpty)
        for dtype in DType.allCases {
            let t = Tensor(doubles: [0, 1, 1, 0], shape: [2, 2], dtype: dtype)
            XCTAssertEqual(t.dtype, dtype)
            XCTAssertEqual(t.doubles, [0, 1, 1, 0], "\(dtype)")
        }
    }

    func testFilledTensors() {
        XCTAssertEqual(Tensor.zeros([2, 3]).doubles, Array(repeating: 0, count: 6))
        XCTAssertEqual(Tensor.ones([2], dtype: .int32).doubles, [1, 1])
        XCTAssertEqual(Tensor.full([3], 2.5, dtype: .float64).doubles, [2.5, 2.5, 2.5])
        XCTAssertEqual(Tensor.full([2], 7, dtype: .bool).scalars(as: Bool.self), [true, true])
        XCTAssertEqual(Tensor.full([2], -3.75, dtype: .bfloat16).doubles, [-3.75, -3.75])
        XCTAssertEqual(Tensor.scalar(4, dtype: .int64).shape, [])
        let like = Tensor.zeros(like: Tensor([1, 2] as [Int32]))
        XCTAssertEqual(like.dtype, .int32)
        XCTAssertEqual(Tensor.ones(like: Tensor.zeros([2, 2], dtype: .float16)).doubles, [1, 1, 1, 1])
        XCTAssertEqual(Tensor.zeros([0, 4]).count, 0)
    }

    /// Against torch.arange / linspace / eye: arange excludes its end (in either direction),
    /// linspace includes it, and linspace with one point is its start.
    func testRangesAndIdentity() {
        let f = coreFixtures
        let arange5 = Tensor.arange(5)
        XCTAssertEqual(arange5.dtype, .int64)
        assertClose(arange5, f.tensor("creation", "arange_5"), atol: 0, rtol: 0)
        let cases: [(String, Tensor)] = [
            ("arange_tenths", Tensor.arange(from: 0, to: 1, step: 0.1, dtype: .float64)),
            ("arange_halves", Tensor.arange(from: 1, to: 2.5, step: 0.5, dtype: .float64)),
            ("arange_down", Tensor.arange(from: 3, to: -1, step: -1.5, dtype: .float64)),
            ("linspace_7", Tensor.linspace(from: -1, through: 1, count: 7, dtype: .float64)),
            ("linspace_2", Tensor.linspace(from: 2, through: 5, count: 2, dtype: .float64)),
            ("linspace_1", Tensor.linspace(from: 2, through: 5, count: 1, dtype: .float64)),
            ("eye_3_4", Tensor.eye(3, 4)), ("eye_3", Tensor.eye(3)),
        ]
        for (name, result) in cases {
            assertClose(result, f.tensor("creation", name), atol: 1e-15, rtol: 0, name)
        }
        XCTAssertEqual(Tensor.linspace(from: 0, through: 1, count: 0).shape, [0])
    }

    // MARK: Element access

    func testReadingValues() {
        let x = Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]])
        XCTAssertEqual(x.element(at: [1, 2]), 6)
        XCTAssertEqual(x.element(at: [-1, 0]), 4)
        XCTAssertEqual(x.element(at: [0, -1]), 3)
        XCTAssertEqual(x.scalars(as: Int32.self), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(x.transposed().floats, [1, 4, 2, 5, 3, 6], "views read in their own row-major order")
        XCTAssertEqual(x[1].doubles, [4, 5, 6])
        XCTAssertEqual(Tensor([2.7, -2.7] as [Double]).scalars(as: Int64.self), [2, -2])
        XCTAssertEqual(Tensor([0, 3] as [Int64]).scalars(as: Bool.self), [false, true])
        XCTAssertEqual(Tensor([true, false]).doubles, [1, 0])
        XCTAssertEqual(Tensor.scalar(-0.5).item(), -0.5)
    }

    // MARK: Printing

    func testPrintingSmallTensors() {
        XCTAssertEqual("\(Tensor([[1, 2.5], [-3, 0.00001]] as [[Float]]))", """
            Tensor(float32, shape: [2, 2])
            [[1.0000, 2.5000],
             [-3.0000, 1.0000e-05]]
            """)
        XCTAssertEqual("\(Tensor([3, -1] as [Int64]))", "Tensor(int64, shape: [2])\n[3, -1]")
        XCTAssertEqual("\(Tensor([true, false]))", "Tensor(bool, shape: [2])\n[true, false]")
        XCTAssertEqual("\(Tensor([.nan, .infinity, -.infinity, 123456] as [Double]))",
                       "Tensor(float64, shape: [4])\n[nan, inf, -inf, 1.2346e+05]")
        XCTAssertEqual("\(Tensor.scalar(2))", "Tensor(float32, shape: [])\n2.0000")
        XCTAssertEqual("\(Tensor([1] as [Double]).requiringGrad())", "Tensor(float64, shape: [1], requiresGrad)\n[1.0000]")
    }

    /// Over 1,000 elements, each long axis shows its first and last three entries.
    func testPrintingLargeTensorsElides() {
        let text = "\(Tensor.arange(from: 0, to: 1200, dtype: .int64).reshaped(to: [30, 40]))"
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, 8, text)
        XCTAssertEqual(lines[0], "Tensor(int64, shape: [30, 40])")
        XCTAssertEqual(lines[1], "[[0, 1, 2, ..., 37, 38, 39],")
        XCTAssertEqual(lines[4], " ...,")
        XCTAssertEqual(lines[7], " [1160, 1161, 1162, ..., 1197, 1198, 1199]]")
        XCTAssertFalse("\(Tensor.zeros([1000]))".contains("..."), "exactly 1,000 elements print in full")
    }

    // MARK: Random numbers

    /// Random123's known-answer vectors for Philox4x32-10 (kat_vectors): the generator is
    /// the standard one, so its streams can be reproduced elsewhere.
    func testPhiloxMatchesKnownAnswers() {
        func check(_ key: (UInt32, UInt32), _ counter: (UInt32, UInt32, UInt32, UInt32), _ expected: [UInt32]) {
            let r = Philox.block(key: key, counter: counter)
            XCTAssertEqual([r.0, r.1, r.2, r.3], expected)
        }
        check((0, 0), (0, 0, 0, 0), [0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8])
        check((0xFFFF_FFFF, 0xFFFF_FFFF), (0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF),
              [0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD])
        check((0xA409_3822, 0x299F_31D0), (0x243F_6A88, 0x85A3_08D3, 0x1319_8A2E, 0x0370_7344),
              [0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1])
    }

    /// Seeding the global generator replays its numbers; consecutive draws differ.
    func testSameSeedGivesSameNumbers() {
        manualSeed(42)
        let first = Tensor.randomNormal([100])
        let second = Tensor.randomNormal([100])
        manualSeed(42)
        XCTAssertEqual(Tensor.randomNormal([100]).floats, first.floats)
        XCTAssertEqual(Tensor.randomNormal([100]).floats, second.floats)
        XCTAssertNotEqual(first.floats, second.floats)
        manualSeed(43)
        XCTAssertNotEqual(Tensor.randomNormal([100]).floats, first.floats)

        let generator = Generator(seed: 7)
        _ = Tensor.randomUniform([10], source: .generator(generator))
        let saved = generator.state
        let after = Tensor.randomUniform([10], source: .generator(generator)).doubles
        generator.state = saved
        XCTAssertEqual(Tensor.randomUniform([10], source: .generator(generator)).doubles, after, "restored state")
    }

    /// Keys are values: the same key gives the same numbers, split and fold are
    /// deterministic, and the keys they make give different streams.
    func testKeySplitAndFoldAreDeterministic() {
        let key = Key(2024)
        XCTAssertEqual(Key(2024), key)
        XCTAssertNotEqual(Key(2025), key)
        XCTAssertEqual(key.split(), Key(2024).split())
        let parts = key.split(into: 4)
        XCTAssertEqual(Set(parts + [key]).count, 5)
        XCTAssertEqual(key.fold(in: 3), Key(2024).fold(in: 3))
        XCTAssertNotEqual(key.fold(in: 3), key.fold(in: 4))
        XCTAssertNotEqual(key.fold(in: 0), key)
        let a = Tensor.randomUniform([50], source: .key(key)).doubles
        XCTAssertEqual(Tensor.randomUniform([50], source: .key(key)).doubles, a)
        XCTAssertNotEqual(Tensor.randomUniform([50], source: .key(parts[0])).doubles, a)
        XCTAssertNotEqual(Tensor.randomUniform([50], source: .key(parts[0])).doubles,
                          Tensor.randomUniform([50], source: .key(parts[1])).doubles)
    }

    /// Sample moments of 50,000 draws, within 5 standard errors of the distribution's.
    func testDistributionMoments() {
        let n = 50_000
        let bound = 5 / Double(n).squareRoot()
        let normal = Tensor.randomNormal([n], mean: 2, std: 3, dtype: .float64, source: .key(Key(1))).doubles
        let mean = normal.reduce(0, +) / Double(n)
        let std = (normal.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n - 1)).squareRoot()
        XCTAssertEqual(mean, 2, accuracy: 3 * bound)
        XCTAssertEqual(std, 3, accuracy: 3 * bound)
        XCTAssertEqual(Double(normal.filter { Swift.abs($0 - 2) < 3 }.count) / Double(n), 0.6827, accuracy: bound)

        let uniform = Tensor.randomUniform([n], low: -1, high: 3, source: .key(Key(2))).doubles
        XCTAssertTrue(uniform.allSatisfy { $0 >= -1 && $0 < 3 })
        XCTAssertEqual(uniform.reduce(0, +) / Double(n), 1, accuracy: 4 / 12.0.squareRoot() * bound)
        XCTAssertEqual(Double(uniform.filter { $0 < 0 }.count) / Double(n), 0.25, accuracy: bound)

        let integers = Tensor.randomIntegers([n], low: -3, high: 4, source: .key(Key(3)))
        XCTAssertEqual(integers.dtype, .int64)
        let values = integers.doubles
        XCTAssertEqual(Set(values), Set((-3..<4).map(Double.init)), "every value in [low, high), nothing else")
        for v in -3..<4 {
            XCTAssertEqual(Double(values.filter { $0 == Double(v) }.count) / Double(n), 1.0 / 7, accuracy: bound)
        }

        let coin = Tensor.bernoulli([n], probability: 0.3, source: .key(Key(4))).doubles
        XCTAssertEqual(Set(coin), [0, 1])
        XCTAssertEqual(coin.reduce(0, +) / Double(n), 0.3, accuracy: bound)
        XCTAssertEqual(Tensor.bernoulli([100], probability: 0, source: .key(Key(5))).doubles.reduce(0, +), 0)
        XCTAssertEqual(Tensor.bernoulli([100], probability: 1, source: .key(Key(5))).doubles.reduce(0, +), 100)
    }
}
