import Ember
import XCTest
@testable import EmberData

/// The deterministic parts of the transforms against torchvision 0.29 on a fixed 6 x 7 x 3
/// image (TransformFixtures.swift, written by generate_transform_fixtures.py).
final class TransformTests: XCTestCase {
    let image = Image(height: 6, width: 7, channels: 3, pixels: TransformFixtures.input)

    /// Equal within `tolerance` per byte. The Swift code repeats torchvision's float32 operations
    /// (truncations included) and matches it exactly here, except where PyTorch's vectorized
    /// upsampling kernel orders the bilinear weights differently: a value then lands on the
    /// other side of a rounding boundary, 1 apart.
    func assertPixels(_ actual: Image, _ expected: [UInt8], height: Int, width: Int, tolerance: Int = 0,
                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual([actual.height, actual.width], [height, width], "size", file: file, line: line)
        XCTAssertEqual(actual.pixels.count, expected.count, "byte count", file: file, line: line)
        let worst = zip(actual.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, tolerance, "largest difference from torchvision", file: file, line: line)
    }

    func testCropPadsOutsideTheImageWithZeros() {
        assertPixels(image.cropped(top: -1, left: 2, height: 4, width: 6), TransformFixtures.crop, height: 4, width: 6)
    }

    func testCenterCropMatchesTorchvisionIncludingPadding() {
        assertPixels(CenterCrop(4, 3)(image), TransformFixtures.centerCrop4x3, height: 4, width: 3)
        assertPixels(CenterCrop(8, 9)(image), TransformFixtures.centerCrop8x9, height: 8, width: 9)
    }

    func testHorizontalFlip() {
        assertPixels(image.flippedHorizontally(), TransformFixtures.flip, height: 6, width: 7)
        XCTAssertEqual(RandomHorizontalFlip(1)(image), image.flippedHorizontally())
        XCTAssertEqual(RandomHorizontalFlip(0)(image), image)
    }

    func testBilinearResizeMatchesTorchvisionWithoutAntialiasing() {
        assertPixels(Resize(4, 5)(image), TransformFixtures.resize4x5, height: 4, width: 5)
        assertPixels(Resize(9, 11)(image), TransformFixtures.resize9x11, height: 9, width: 11, tolerance: 1)
        // One side: the shorter edge (height 6) becomes 4, the width int(4 * 7 / 6) = 4.
        assertPixels(Resize(4)(image), TransformFixtures.resizeShort4, height: 4, width: 4)
    }

    func testColorAdjustmentsMatchTorchvision() {
        assertPixels(image.adjustedBrightness(1.3), TransformFixtures.brightness1_3, height: 6, width: 7)
        assertPixels(image.adjustedBrightness(0.6), TransformFixtures.brightness0_6, height: 6, width: 7)
        assertPixels(image.adjustedContrast(0.5), TransformFixtures.contrast0_5, height: 6, width: 7)
        assertPixels(image.adjustedContrast(1.7), TransformFixtures.contrast1_7, height: 6, width: 7)
        assertPixels(image.adjustedSaturation(0.3), TransformFixtures.saturation0_3, height: 6, width: 7)
        assertPixels(image.adjustedSaturation(1.8), TransformFixtures.saturation1_8, height: 6, width: 7)
        assertPixels(image.adjustedHue(0.2), TransformFixtures.hue0_2, height: 6, width: 7)
        assertPixels(image.adjustedHue(-0.35), TransformFixtures.hueMinus0_35, height: 6, width: 7)
    }

    func testToTensorThenNormalizeMatchesTorchvision() {
        let tensor = Compose {
            ToTensor()
            Normalize(mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3])
        }(image)
        XCTAssertEqual(tensor.shape, [3, 6, 7])
        XCTAssertEqual(tensor.dtype, .float32)
        // Both compute (x / 255 - mean) / std in float32; allow an ulp of reordering.
        for (a, b) in zip(tensor.floats, TransformFixtures.normalized) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    func testRandomResizedCropFallsBackToTheCentralWindowLikeTorchvision() {
        var random = SeededRandom(seed: 1)
        func window(_ ratio: ClosedRange<Double>) -> [Int] {
            let box = RandomResizedCrop(4, scale: 2...3, ratio: ratio).window(forImageHeight: 6, width: 7, using: &random)
            return [box.top, box.left, box.height, box.width]
        }
        XCTAssertEqual(window(3...4), TransformFixtures.fallbackWide)
        XCTAssertEqual(window(0.2...0.5), TransformFixtures.fallbackTall)
        XCTAssertEqual(window(0.5...2), TransformFixtures.fallbackInRange)
    }

    func testRandomResizedCropWindowsRespectScaleAndRatio() {
        let transform = RandomResizedCrop(8, scale: 0.3...0.7, ratio: 0.75...(4.0 / 3))
        var random = SeededRandom(seed: 2)
        for _ in 0..<200 {
            let box = transform.window(forImageHeight: 40, width: 50, using: &random)
            XCTAssert(box.top >= 0 && box.left >= 0 && box.top + box.height <= 40 && box.left + box.width <= 50)
            let area = Double(box.height * box.width) / 2000
            // Rounding each side to whole pixels moves the area and ratio a little.
            XCTAssert(area > 0.25 && area < 0.75, "area fraction \(area)")
            let ratio = Double(box.width) / Double(box.height)
            XCTAssert(ratio > 0.7 && ratio < 1.4, "aspect ratio \(ratio)")
        }
        var random2 = SeededRandom(seed: 3)
        let out = transform(Image(height: 40, width: 50, channels: 3), using: &random2)
        XCTAssertEqual([out.height, out.width, out.channels], [8, 8, 3])
    }

    func testRandomCropCoversEveryPositionOfThePaddedImage() {
        let crop = RandomCrop(4, padding: 2)
        var random = SeededRandom(seed: 4)
        var seen = Set<[Int]>()
        for _ in 0..<2000 {
            let p = crop.position(forImageHeight: 6, width: 7, using: &random)
            seen.insert([p.top, p.left])
        }
        // Padded 10 x 11: tops -2...4, lefts -2...5.
        XCTAssertEqual(seen, Set((-2...4).flatMap { t in (-2...5).map { [t, $0] } }))
        var random2 = SeededRandom(seed: 5)
        let out = crop(image, using: &random2)
        XCTAssertEqual([out.height, out.width], [4, 4])
    }

    func testColorJitterDrawsFactorsInRangeAndIsSeeded() {
        let jitter = ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1)
        XCTAssertEqual(jitter.brightness, 0.6...1.4)
        XCTAssertEqual(jitter.hue, -0.1...0.1)
        var a = SeededRandom(seed: 6), b = SeededRandom(seed: 6), c = SeededRandom(seed: 7)
        let first = jitter(image, using: &a)
        XCTAssertEqual(first, jitter(image, using: &b))
        XCTAssertNotEqual(first, jitter(image, using: &c))
        // Off adjustments draw nothing and change nothing.
        XCTAssertEqual(ColorJitter()(image), image)
    }

    func testComposeChainsInOrderAndSharesTheGenerator() {
        let augment = Compose {
            RandomCrop(4, padding: 1)
            RandomHorizontalFlip()
            ToTensor()
        }
        var a = SeededRandom(seed: 8), b = SeededRandom(seed: 8), d = SeededRandom(seed: 8)
        XCTAssertEqual(augment(image, using: &a).floats, augment(image, using: &b).floats)
        // By hand: the crop draws first, then the flip.
        var c = SeededRandom(seed: 8)
        let (top, left) = RandomCrop(4, padding: 1).position(forImageHeight: 6, width: 7, using: &c)
        var cropped = image.cropped(top: top, left: left, height: 4, width: 4)
        if c.bernoulli(0.5) { cropped = cropped.flippedHorizontally() }
        XCTAssertEqual(augment(image, using: &d).floats, ToTensor()(cropped).floats)
    }
}
