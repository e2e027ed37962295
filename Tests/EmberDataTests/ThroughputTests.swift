import Ember
import Foundation
import XCTest
import EmberData

/// Augmentation throughput, for release builds: runs only with EMBER_DATA_BENCHMARK=1 and
/// prints its numbers (timings vary too much on shared machines to assert on).
final class ThroughputTests: XCTestCase {
    func testCIFARAugmentationThroughput() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["EMBER_DATA_BENCHMARK"] == "1", "set EMBER_DATA_BENCHMARK=1 to measure")
        let images = ShapesDataset(count: 5000, seed: 0)
        let stored = (0..<images.count).map { images[$0] }
        let augment = Compose {
            RandomCrop(32, padding: 4)
            RandomHorizontalFlip()
            ToTensor()
            Normalize(mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26])
        }
        var random = SeededRandom(seed: 0)
        var start = Date()
        for example in stored { _ = augment(example.image, using: &random) }
        print("crop+flip+ToTensor+Normalize: \(Int(Double(stored.count) / Date().timeIntervalSince(start))) images/s on one thread")

        let dataset = StoredImages(examples: stored).map(images: augment)
        for workers in [0, 2] {
            let loader = DataLoader(dataset, batchSize: 128, shuffle: true, seed: 0, workers: workers)
            start = Date()
            var count = 0
            for batch in loader { count += batch.count }
            print("DataLoader, \(workers) workers, batch 128: \(Int(Double(count) / Date().timeIntervalSince(start))) images/s")
        }
        start = Date()
        for i in 0..<1000 { _ = images[i] }
        print("ShapesDataset generation: \(Int(1000 / Date().timeIntervalSince(start))) images/s on one thread")
    }
}

/// Decoded images held in memory, as CIFAR-10 is once read.
struct StoredImages: Dataset {
    let examples: [(image: Image, label: Int)]
    var count: Int { examples.count }
    subscript(index: Int) -> (image: Image, label: Int) { examples[index] }
}
