import Ember
import Foundation
import XCTest
@testable import EmberData

final class ShapesDatasetTests: XCTestCase {
    func testSameSeedSameImagesOtherSeedOtherImages() {
        let a = ShapesDataset(count: 30, seed: 1), b = ShapesDataset(count: 30, seed: 1), c = ShapesDataset(count: 30, seed: 2)
        for i in [0, 7, 29] {
            XCTAssertEqual(a[i].image, b[i].image)
            XCTAssertEqual(a[i].label, b[i].label)
            XCTAssertNotEqual(a[i].image, c[i].image)
        }
    }

    func testClassesAreBalancedAndNamed() {
        let dataset = ShapesDataset(count: 1003, seed: 0, imageSize: 8)
        var counts = [Int](repeating: 0, count: 10)
        for i in 0..<dataset.count { counts[dataset[i].label] += 1 }
        XCTAssertEqual(counts, [101, 101, 101, 100, 100, 100, 100, 100, 100, 100])
        XCTAssertEqual(dataset.classNames.count, 10)
        XCTAssertEqual(Set(dataset.classNames).count, 10)
    }

    func testImagesHaveTheRequestedSizeAndUseTheRange() {
        for size in [16, 32, 48] {
            let image = ShapesDataset(count: 3, seed: 5, imageSize: size)[2].image
            XCTAssertEqual([image.height, image.width, image.channels], [size, size, 3])
            // Shape and background are distinct colours, so an image spans a wide range.
            XCTAssertGreaterThan(Int(image.pixels.max()!) - Int(image.pixels.min()!), 60)
        }
    }

    func testConcurrentReadsEqualSerialReads() {
        let dataset = ShapesDataset(count: 64, seed: 3)
        let serial = (0..<64).map { dataset[$0].image }
        var parallel = [Image?](repeating: nil, count: 64)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            let image = dataset[i].image
            lock.withLock { parallel[i] = image }
        }
        XCTAssertEqual(parallel.map { $0! }, serial)
    }

    /// The label must not be readable from colour or brightness: per class, the mean pixel
    /// value over many examples is the same up to sampling noise.
    func testMeanBrightnessCarriesNoClassSignal() {
        let dataset = ShapesDataset(count: 2000, seed: 9, imageSize: 16)
        var sums = [Double](repeating: 0, count: 10)
        for i in 0..<dataset.count {
            let (image, label) = dataset[i]
            sums[label] += Double(image.pixels.reduce(0) { $0 + Int($1) }) / Double(image.pixels.count)
        }
        let means = sums.map { $0 / 200 }
        // The mean of 200 image means (each spread ~40 around 127) varies by ~3 between classes.
        XCTAssertLessThan(means.max()! - means.min()!, 15, "per-class mean brightness \(means)")
    }
}
