import Ember
import XCTest
@testable import EmberData

final class DatasetTests: XCTestCase {
    func testTensorDatasetIndexesTheFirstAxis() {
        let x = Tensor((0..<12).map(Float.init), shape: [4, 3])
        let y = Tensor([0, 1, 0, 1] as [Int64])
        let dataset = TensorDataset(x, y)
        XCTAssertEqual(dataset.count, 4)
        XCTAssertEqual(dataset[2][0].floats, [6, 7, 8])
        XCTAssertEqual(dataset[2][1].doubles, [0])
        let batch = DataLoader(dataset, batchSize: 3).makeIterator().next()!
        XCTAssertEqual(batch.inputs.floats, (0..<9).map(Float.init))
        XCTAssertEqual(batch.targets.doubles, [0, 1, 0])
        // A transposed (strided) tensor is made contiguous first.
        XCTAssertEqual(TensorDataset(x.transposed())[1][0].floats, [1, 4, 7, 10])
    }

    func testSubsetAndRandomSplitPartitionTheIndices() {
        let dataset = Numbers(count: 20)
        let parts = dataset.randomSplit([12, 5, 3], seed: 4)
        XCTAssertEqual(parts.map(\.count), [12, 5, 3])
        XCTAssertEqual(parts.flatMap(\.indices).sorted(), Array(0..<20))
        XCTAssertEqual(parts[1].indices, dataset.randomSplit([12, 5, 3], seed: 4)[1].indices)
        XCTAssertNotEqual(parts[0].indices, dataset.randomSplit([12, 5, 3], seed: 5)[0].indices)
        XCTAssertEqual(parts[2][1].1, parts[2].indices[1] % 3)
        XCTAssertEqual(dataset.randomSplit(fractions: [0.7, 0.3], seed: 0).map(\.count), [14, 6])
        XCTAssertEqual(Numbers(count: 11).randomSplit(fractions: [0.5, 0.5], seed: 0).map(\.count), [6, 5])
    }

    func testMapAppliesTheTransformOnDemand() {
        let doubled = Numbers(count: 5).map(Lambda { (x: (Tensor, Int)) in x.1 * 2 })
        XCTAssertEqual(doubled.count, 5)
        XCTAssertEqual((0..<5).map { doubled[$0] }, [0, 2, 4, 0, 2])
    }

    func testSubsetOfARandomizedDatasetPassesTheLoadersGeneratorThrough() {
        let subset = Subset(Noisy(count: 10), indices: [7, 3])
        let fromLoader = DataLoader(subset, batchSize: 2, seed: 1).makeIterator().next()!.inputs.floats
        // The loader seeds example 0 of the subset (base example 7) by (seed 1, epoch 0, index 0).
        var random = EpochKeys(seed: 1, epoch: 0).random(forExample: 0)
        XCTAssertEqual(Array(fromLoader[0..<2]), Noisy(count: 10).element(at: 7, using: &random).0.floats)
    }
}
