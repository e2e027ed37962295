import XCTest
@testable import Ember

/// Key tensors and the randomBits primitive: the same numbers as the host-side `Key`, eagerly,
/// traced and replayed; per-example streams under vmap; dropout with explicit keys.
final class RandomKeyTests: XCTestCase {
    /// Key operations on key tensors compute exactly what `Key`'s methods compute.
    func testKeyTensorOperationsMatchKey() {
        let key = Key(2024)
        XCTAssertEqual(Key(key.tensor), key)
        XCTAssertEqual(Key(Tensor.randomKey(2024)), key)
        let split = key.tensor.splitKey(into: 3)
        XCTAssertEqual(split.shape, [3, 2])
        XCTAssertEqual((0..<3).map { Key(split[$0]) }, key.split(into: 3))
        XCTAssertEqual(Key(key.tensor.foldKey(in: 7)), key.fold(in: 7))
        XCTAssertEqual(Key(key.tensor.foldKey(in: -3)), key.fold(in: -3))
    }

    /// randomUniform with a key tensor draws the host generator's numbers, bit for bit.
    func testUniformMatchesTheHostGenerator() {
        let key = Key(11)
        let fromTensor = Tensor.randomUniform([5, 3], key: key.tensor, low: -2, high: 3, dtype: .float64)
        let fromHost = Tensor.randomUniform([5, 3], low: -2, high: 3, dtype: .float64, source: .key(key))
        XCTAssertEqual(fromTensor.doubles, fromHost.doubles)
        let bits = Tensor.randomBits([6], key: key.tensor).scalars(as: Int64.self)
        XCTAssertEqual(bits.map { UInt32($0) }, Philox.words(key: key.rawValue, .values, count: 6))
    }

    /// A batch of keys [B, 2] gives each key's own bits, as drawing with each key alone.
    func testBatchOfKeys() {
        let keys = Key(5).tensor.splitKey(into: 4)
        let batched = Tensor.randomBits([3, 2], key: keys)
        XCTAssertEqual(batched.shape, [4, 3, 2])
        for b in 0..<4 {
            XCTAssertEqual(batched[b].scalars(as: Int64.self), Tensor.randomBits([3, 2], key: keys[b]).scalars(as: Int64.self))
        }
        XCTAssertNotEqual(batched[0].scalars(as: Int64.self), batched[1].scalars(as: Int64.self))
    }

    /// The key is an input of the trace: the replay gives the eager numbers for each key.
    func testTracedRandomNumbersFollowTheKeyInput() {
        let graph = trace([TensorSpec([2], .int64)]) { keys in
            [Tensor.randomNormal([4], key: keys[0].foldKey(in: 1), dtype: .float64)]
        }
        let first = graph([Key(1).tensor])[0], second = graph([Key(2).tensor])[0]
        XCTAssertEqual(first.doubles, Tensor.randomNormal([4], key: Key(1).fold(in: 1).tensor, dtype: .float64).doubles)
        XCTAssertNotEqual(first.doubles, second.doubles)
        XCTAssertEqual(graph([Key(1).tensor])[0].doubles, first.doubles)
    }

    func testNormalStatistics() {
        let n = 20_000
        let values = Tensor.randomNormal([n], key: Key(3).tensor, mean: 2, std: 3, dtype: .float64).doubles
        let mean = values.reduce(0, +) / Double(n)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n - 1)
        // Standard errors: 3 / sqrt(n) = 0.021 for the mean, about 9 * sqrt(2 / n) = 0.09 for the variance.
        XCTAssertEqual(mean, 2, accuracy: 0.1)
        XCTAssertEqual(variance, 9, accuracy: 0.45)
    }

    // MARK: Dropout

    /// Kept elements are scaled by 1 / (1 - p); about p of them are dropped; the gradient is
    /// the same mask.
    func testDropoutScalesKeptElementsAndDropsAboutP() {
        let x = Tensor.ones([10_000], dtype: .float64)
        let y = dropout(x, probability: 0.25, key: Key(8))
        let values = Set(y.doubles)
        XCTAssertEqual(values, [0, 1 / 0.75])
        let dropped = Double(y.doubles.filter { $0 == 0 }.count) / 10_000
        XCTAssertEqual(dropped, 0.25, accuracy: 0.02)
        let g = grad { (t: Tensor) in dropout(t, probability: 0.25, key: Key(8)).sum() }(x)
        XCTAssertEqual(g.doubles, y.doubles)
        XCTAssertEqual(dropout(x, probability: 0, key: Key(8)).doubles, x.doubles)
        XCTAssertEqual(Set(dropout(x, probability: 1, key: Key(8)).doubles), [0])
    }

    /// Dropout is linear in x for a fixed key: its tangent is the dropout of the tangent.
    func testDropoutJVP() {
        let x = Tensor.randomNormal([50], dtype: .float64, source: .key(Key(1)))
        let v = Tensor.randomNormal([50], dtype: .float64, source: .key(Key(2)))
        let (_, tangent) = jvp({ (t: Tensor) in dropout(t, probability: 0.5, key: Key(3)) }, primal: x, tangent: v)
        XCTAssertEqual(tangent.doubles, dropout(v, probability: 0.5, key: Key(3)).doubles)
    }

    /// Replays of a traced dropout draw a new mask for a new key input.
    func testTracedDropoutWithDifferentKeys() {
        let graph = trace([TensorSpec([64], .float32), TensorSpec([2], .int64)]) { xs in
            [dropout(xs[0], probability: 0.5, key: xs[1])]
        }
        let x = Tensor.ones([64])
        let a = graph([x, Key(1).tensor])[0].floats, b = graph([x, Key(2).tensor])[0].floats
        XCTAssertEqual(a, dropout(x, probability: 0.5, key: Key(1)).floats)
        XCTAssertNotEqual(a, b)
    }

    /// Under vmap a batch of keys gives each example its own mask (that of dropout with its
    /// key alone); one shared key gives every example the same mask, as in JAX.
    func testDropoutUnderVmap() {
        let x = Tensor.ones([4, 32])
        let keys = Key(9).tensor.splitKey(into: 4)
        let f = { (xs: [Tensor]) in [dropout(xs[0], probability: 0.5, key: xs[1])] }
        let perExample = vmap(f)([x, keys])[0]
        for b in 0..<4 {
            XCTAssertEqual(perExample[b].floats, dropout(x[b], probability: 0.5, key: keys[b]).floats)
        }
        XCTAssertNotEqual(perExample[0].floats, perExample[1].floats)
        let shared = vmap(f, inAxes: [0, nil])([x, Key(9).tensor])[0]
        for b in 1..<4 { XCTAssertEqual(shared[b].floats, shared[0].floats) }
        XCTAssertEqual(shared[0].floats, dropout(x[0], probability: 0.5, key: Key(9)).floats)
    }

    /// Keys split inside a vmapped function: each example splits its own key.
    func testSplitInsideVmap() {
        let keys = Key(4).tensor.splitKey(into: 3)
        let f = { (k: Tensor) in Tensor.randomBits([2], key: k.splitKey(into: 2)[1]) }
        let batched = vmap(f)(keys)
        for b in 0..<3 { XCTAssertEqual(batched[b].scalars(as: Int64.self), f(keys[b]).scalars(as: Int64.self)) }
    }
}
