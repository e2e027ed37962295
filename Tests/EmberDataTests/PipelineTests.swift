import Ember
import Foundation
import XCTest
@testable import EmberData

final class PipelineTests: XCTestCase {
    func testMapFilterTakeSkipAndRepeat() {
        let numbers = Pipeline(Array(0..<10))
        XCTAssertEqual(Array(numbers.map { $0 * 10 }.filter { $0 % 20 == 0 }), [0, 20, 40, 60, 80])
        XCTAssertEqual(Array(numbers.skip(3).take(4)), [3, 4, 5, 6])
        XCTAssertEqual(numbers.skip(3).take(4).count, 4)
        XCTAssertEqual(Array(numbers.take(3).repeat(3)), [0, 1, 2, 0, 1, 2, 0, 1, 2])
        XCTAssertEqual(numbers.take(3).repeat(3).count, 9)
        XCTAssertEqual(Array(numbers.take(2).repeat().take(5)), [0, 1, 0, 1, 0])
        XCTAssertNil(numbers.repeat().count)
        XCTAssertNil(numbers.filter { _ in true }.count)
    }

    func testParallelMapKeepsTheOrder() {
        let squares = Pipeline(Array(0..<200)).map(threads: 3) { x -> Int in
            // Uneven work, so threads finish out of order.
            if x % 7 == 0 { usleep(200) }
            return x * x
        }
        XCTAssertEqual(Array(squares), (0..<200).map { $0 * $0 })
        XCTAssertEqual(WorkerThreads.running, 0)
    }

    func testShuffleIsASeededPermutationReshuffledEachEpoch() {
        let shuffled = Pipeline(Array(0..<100)).shuffle(bufferSize: 100, seed: 7)
        let epochs = (0..<3).map { Array(shuffled.iterator(epoch: $0)) }
        for order in epochs { XCTAssertEqual(order.sorted(), Array(0..<100)) }
        XCTAssertNotEqual(epochs[0], epochs[1])
        XCTAssertEqual(epochs[2], Array(Pipeline(Array(0..<100)).shuffle(bufferSize: 100, seed: 7).iterator(epoch: 2)))
        // A small buffer only moves elements a bounded distance ahead.
        let local = Array(Pipeline(Array(0..<100)).shuffle(bufferSize: 4, seed: 1).iterator(epoch: 0))
        XCTAssertEqual(local.sorted(), Array(0..<100))
        for (position, x) in local.enumerated() { XCTAssertLessThanOrEqual(x, position + 3) }
        // Repetitions reshuffle.
        let twice = Array(Pipeline(Array(0..<20)).shuffle(bufferSize: 20, seed: 2).repeat(2))
        XCTAssertNotEqual(Array(twice[0..<20]), Array(twice[20..<40]))
    }

    func testBatchCollatesAndDropsTheRemainder() {
        let pairs = Pipeline((0..<5).map { (Tensor([Float($0)], shape: [1]), $0) })
        let batches = Array(pairs.batch(size: 2))
        XCTAssertEqual(batches.map(\.count), [2, 2, 1])
        XCTAssertEqual(batches[1].inputs.floats, [2, 3])
        XCTAssertEqual(batches[1].targets.doubles, [2, 3])
        XCTAssertEqual(pairs.batch(size: 2).count, 3)
        XCTAssertEqual(Array(pairs.batch(size: 2, dropRemainder: true)).map(\.count), [2, 2])
        XCTAssertEqual(pairs.batch(size: 2, dropRemainder: true).count, 2)
        XCTAssertEqual(Array(Pipeline(Array(0..<5)).batch(size: 3) { $0.reduce(0, +) }), [3, 7])
    }

    func testRandomMapDrawsFromSeedEpochAndPosition() {
        let noisy = Pipeline(Array(0..<30)).map(Lambda { (x: Int, random: inout SeededRandom) in Double(x) + random.uniform() }, seed: 3)
        let serial = Array(noisy.iterator(epoch: 1))
        let parallel = Array(Pipeline(Array(0..<30)).map(Lambda { (x: Int, random: inout SeededRandom) in Double(x) + random.uniform() }, seed: 3, threads: 3).iterator(epoch: 1))
        XCTAssertEqual(serial, parallel)
        XCTAssertNotEqual(serial, Array(noisy.iterator(epoch: 2)))
    }

    func testPrefetchYieldsTheSameElementsAndStopsItsThread() {
        let pipeline = Pipeline(Array(0..<50)).map { $0 + 1 }.prefetch(4)
        XCTAssertEqual(Array(pipeline), Array(1...50))
        do {
            let elements = pipeline.iterator(epoch: 0)
            XCTAssertEqual(elements.next(), 1)
            XCTAssertEqual(WorkerThreads.running, 1)
        }
        XCTAssertEqual(WorkerThreads.running, 0)
    }

    func testMemoryCacheRunsTheUpstreamOnce() {
        let counter = Counter()
        let cached = Pipeline(Array(0..<6)).map { x -> Int in counter.increment(); return x * 2 }.cache()
        XCTAssertEqual(Array(cached.iterator(epoch: 0)), [0, 2, 4, 6, 8, 10])
        XCTAssertEqual(Array(cached.iterator(epoch: 1)), [0, 2, 4, 6, 8, 10])
        XCTAssertEqual(counter.value, 6)
    }

    func testFileCacheReadsTheFileOnLaterEpochs() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ember-cache-\(UUID().uuidString).bin")
        defer { try? FileManager.default.removeItem(at: file) }
        let counter = Counter()
        let source = Pipeline(Array(0..<5)).map { x -> (image: Image, label: Int) in
            counter.increment()
            return (Image(height: 1, width: 2, channels: 1, pixels: [UInt8(x), UInt8(2 * x)]), x)
        }
        let cached = source.cache(file: file)
        // An interrupted epoch leaves no file.
        _ = cached.iterator(epoch: 0).next()
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.path))
        let first = Array(cached.iterator(epoch: 0))
        XCTAssertTrue(FileManager.default.fileExists(atPath: file.path))
        XCTAssertEqual(counter.value, 6)
        let second = Array(cached.iterator(epoch: 1))
        XCTAssertEqual(counter.value, 6, "the second epoch must come from the file")
        XCTAssertEqual(second.map(\.image), first.map(\.image))
        XCTAssertEqual(second.map(\.label), [0, 1, 2, 3, 4])
    }

    func testSerializationRoundTripsTensorsAndBatches() {
        let batch = Batch(inputs: Tensor([1.5, -2, 3, 4] as [Float], shape: [2, 2]), targets: Tensor([3, 9] as [Int64]))
        var writer = CacheWriter()
        batch.serialize(into: &writer)
        (-5).serialize(into: &writer)
        var reader = CacheReader(Data(writer.bytes), source: "a test buffer")
        let back = Batch(from: &reader)
        XCTAssertEqual(back.inputs.shape, [2, 2])
        XCTAssertEqual(back.inputs.floats, [1.5, -2, 3, 4])
        XCTAssertEqual(back.targets.dtype, .int64)
        XCTAssertEqual(back.targets.doubles, [3, 9])
        XCTAssertEqual(Int(from: &reader), -5)
        XCTAssertTrue(reader.isAtEnd)
    }

    func testABatchPipelineIsABatchProvider() {
        let provider: any BatchProvider = Pipeline(ShapesDataset(count: 20, seed: 1, imageSize: 8))
            .map(images: ToTensor())
            .shuffle(bufferSize: 20, seed: 4)
            .batch(size: 6)
        XCTAssertEqual(provider.batchesPerEpoch, 4)
        let full = provider.batches(epoch: 3, skipping: 0).map { $0.inputs.floats }
        XCTAssertEqual(provider.batches(epoch: 3, skipping: 2).map { $0.inputs.floats }, Array(full.dropFirst(2)))
        XCTAssertNotEqual(provider.batches(epoch: 4, skipping: 0).map { $0.targets.doubles }, provider.batches(epoch: 3, skipping: 0).map { $0.targets.doubles })
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
