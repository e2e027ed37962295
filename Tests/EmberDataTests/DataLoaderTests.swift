import Ember
import XCTest
@testable import EmberData

/// Example i is (a 2-value tensor [i, -i], label i % 3).
struct Numbers: Dataset {
    let count: Int
    subscript(index: Int) -> (Tensor, Int) { (Tensor([Float(index), -Float(index)], shape: [2]), index % 3) }
}

/// Example i carries a random draw from its per-example generator, to check how it is seeded.
struct Noisy: RandomizedDataset {
    typealias Element = (Tensor, Int)
    let count: Int
    func element(at index: Int, using random: inout SeededRandom) -> (Tensor, Int) {
        (Tensor([Float(index), Float(random.uniform())], shape: [2]), index)
    }
}

final class DataLoaderTests: XCTestCase {
    func values(_ batches: some Sequence<Batch>) -> [[Float]] { batches.map { $0.inputs.floats } }

    func testBatchesInOrderWithAPartialLastBatch() {
        let loader = DataLoader(Numbers(count: 10), batchSize: 4)
        let batches = Array(loader)
        XCTAssertEqual(loader.count, 3)
        XCTAssertEqual(batches.map(\.count), [4, 4, 2])
        XCTAssertEqual(batches[0].inputs.shape, [4, 2])
        XCTAssertEqual(batches[0].inputs.dtype, .float32)
        XCTAssertEqual(batches[0].targets.dtype, .int64)
        XCTAssertEqual(batches[0].targets.shape, [4])
        XCTAssertEqual(batches[2].inputs.floats, [8, -8, 9, -9])
        XCTAssertEqual(batches[1].targets.doubles, [1, 2, 0, 1])
    }

    func testDropLastDropsThePartialBatch() {
        let loader = DataLoader(Numbers(count: 10), batchSize: 4, dropLast: true)
        XCTAssertEqual(loader.count, 2)
        XCTAssertEqual(Array(loader).map(\.count), [4, 4])
    }

    func testShuffledEpochsArePermutationsThatDifferFromEachOther() {
        let loader = DataLoader(Numbers(count: 50), batchSize: 7, shuffle: true, seed: 3)
        let epochs = (0..<3).map { _ in Array(loader).flatMap { $0.targets.doubles.isEmpty ? [] : $0.inputs.floats.enumerated().filter { $0.offset % 2 == 0 }.map(\.element) } }
        for order in epochs { XCTAssertEqual(order.sorted(), (0..<50).map(Float.init)) }
        XCTAssertNotEqual(epochs[0], epochs[1])
        XCTAssertNotEqual(epochs[1], epochs[2])
        XCTAssertEqual(loader.epoch, 3)
        // The order is a function of (seed, epoch).
        XCTAssertEqual(loader.order(epoch: 1), DataLoader(Numbers(count: 50), batchSize: 7, shuffle: true, seed: 3).order(epoch: 1))
        XCTAssertNotEqual(loader.order(epoch: 1), DataLoader(Numbers(count: 50), batchSize: 7, shuffle: true, seed: 4).order(epoch: 1))
    }

    func testWorkersGiveTheSameBatchesAsTheCallingThread() {
        let dataset = Noisy(count: 37)
        let expected = (0..<2).map { values(DataLoader(dataset, batchSize: 5, shuffle: true, seed: 9).batches(epoch: $0, skipping: 0)) }
        XCTAssertNotEqual(expected[0], expected[1])
        for workers in [1, 3] {
            let loader = DataLoader(dataset, batchSize: 5, shuffle: true, seed: 9, workers: workers, prefetch: workers + 1)
            for epoch in 0..<2 {
                XCTAssertEqual(values(loader.batches(epoch: epoch, skipping: 0)), expected[epoch], "\(workers) workers, epoch \(epoch)")
            }
        }
    }

    func testPerExampleRandomnessDependsOnSeedEpochAndIndexOnly() {
        // Unshuffled and shuffled loaders read example i with the same generator.
        let plain = values(DataLoader(Noisy(count: 12), batchSize: 12, seed: 5).batches(epoch: 2, skipping: 0))[0]
        let shuffled = values(DataLoader(Noisy(count: 12), batchSize: 12, shuffle: true, seed: 5).batches(epoch: 2, skipping: 0))[0]
        func byIndex(_ v: [Float]) -> [Float: Float] { Dictionary(uniqueKeysWithValues: stride(from: 0, to: v.count, by: 2).map { (v[$0], v[$0 + 1]) }) }
        XCTAssertEqual(byIndex(plain), byIndex(shuffled))
        let otherEpoch = values(DataLoader(Noisy(count: 12), batchSize: 12, seed: 5).batches(epoch: 3, skipping: 0))[0]
        XCTAssertNotEqual(byIndex(plain), byIndex(otherEpoch))
    }

    func testResumingBySkippingEqualsAnUninterruptedEpoch() {
        for workers in [0, 2] {
            let loader = DataLoader(Noisy(count: 23), batchSize: 4, shuffle: true, seed: 1, workers: workers)
            let full = values(loader.batches(epoch: 4, skipping: 0))
            XCTAssertEqual(values(loader.batches(epoch: 4, skipping: 2)), Array(full.dropFirst(2)))
            XCTAssertEqual(values(loader.batches(epoch: 4, skipping: 10)), [])
        }
    }

    func testDroppingTheIteratorStopsTheWorkers() {
        XCTAssertEqual(WorkerThreads.running, 0)
        let loader = DataLoader(Numbers(count: 1000), batchSize: 2, workers: 3, prefetch: 4)
        do {
            let batches = loader.makeIterator()
            _ = batches.next()
            XCTAssertEqual(WorkerThreads.running, 3)
        }
        XCTAssertEqual(WorkerThreads.running, 0)
        // An exhausted iteration leaves none either.
        XCTAssertEqual(Array(DataLoader(Numbers(count: 9), batchSize: 2, workers: 2)).count, 5)
        XCTAssertEqual(WorkerThreads.running, 0)
    }

    func testMappedDatasetsAugmentPerEpochThroughTheLoader() {
        let images = ShapesDataset(count: 8, seed: 2, imageSize: 16).map(images: Compose {
            RandomCrop(12, padding: 2)
            RandomHorizontalFlip()
            ToTensor()
        })
        let loader = DataLoader(images, batchSize: 8, seed: 11, workers: 2)
        let epoch0 = values(loader.batches(epoch: 0, skipping: 0))
        XCTAssertEqual(epoch0, values(loader.batches(epoch: 0, skipping: 0)))
        XCTAssertNotEqual(epoch0, values(loader.batches(epoch: 1, skipping: 0)))
        let batch = loader.batches(epoch: 0, skipping: 0).next()!
        XCTAssertEqual(batch.inputs.shape, [8, 3, 12, 12])
        XCTAssertEqual(batch.targets.doubles, (0..<8).map(Double.init))
    }

    func testImagesCollateToFloatChannelsFirst() {
        let batch = Collate.batch([(image: Image(height: 1, width: 2, channels: 3, pixels: [0, 51, 255, 102, 153, 204]), label: 7)])
        XCTAssertEqual(batch.inputs.shape, [1, 3, 1, 2])
        XCTAssertEqual(batch.inputs.floats, [0, 0.4, 0.2, 0.6, 1, 0.8])
        XCTAssertEqual(batch.targets.doubles, [7])
    }
}
