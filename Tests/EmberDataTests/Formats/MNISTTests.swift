import Ember
import Foundation
import XCTest
@testable import EmberData

/// IDX files built byte by byte (big-endian dimensions), plain and gzipped, read back as MNIST.
final class MNISTTests: XCTestCase {
    /// An IDX file: 00 00, the type, the rank, big-endian dimensions, then `data`.
    private func idx(_ type: UInt8, _ dimensions: [Int], _ data: [UInt8]) -> [UInt8] {
        [0, 0, type, UInt8(dimensions.count)] + dimensions.flatMap { bigEndian(UInt32($0)) } + data
    }

    /// Three 28x28 images whose pixel (y, x) of image n is (n + y + x) % 256.
    private let pixels = (0..<3).flatMap { n in (0..<28).flatMap { y in (0..<28).map { x in UInt8((n + y + x) % 256) } } }

    private func writeSplit(_ prefix: String, in directory: URL, gzipped: Bool, images: [UInt8]? = nil, labels: [UInt8]? = nil) throws {
        let images = images ?? idx(0x08, [3, 28, 28], pixels)
        let labels = labels ?? idx(0x08, [3], [7, 0, 9])
        let suffix = gzipped ? ".gz" : ""
        try Data(gzipped ? gzip(images) : images).write(to: directory.appendingPathComponent("\(prefix)-images-idx3-ubyte\(suffix)"))
        try Data(gzipped ? gzip(labels) : labels).write(to: directory.appendingPathComponent("\(prefix)-labels-idx1-ubyte\(suffix)"))
    }

    func testReadsPlainAndGzippedSplits() throws {
        let directory = try temporaryDirectory(self)
        try writeSplit("train", in: directory, gzipped: false)
        try writeSplit("t10k", in: directory, gzipped: true)
        for split in [DatasetSplit.train, .test] {
            let mnist = try MNIST(directory: directory, split: split)
            XCTAssertEqual(mnist.count, 3)
            XCTAssertEqual(mnist.classNames, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
            let (image, label) = mnist[2]
            XCTAssertEqual(label, 9)
            XCTAssertEqual([image.height, image.width, image.channels], [28, 28, 1])
            XCTAssertEqual(image[5, 20, 0], 27)
            XCTAssertEqual(image.pixels, Array(pixels[(2 * 784)..<(3 * 784)]))
            XCTAssertEqual(mnist[0].label, 7)
        }
        let fashion = try FashionMNIST(directory: directory, split: .test, classNames: FashionMNIST.fashionClassNames)
        XCTAssertEqual(fashion.classNames[fashion[0].label], "Sneaker")
    }

    func testReadsEveryIDXElementType() throws {
        let bytes = try IDXArray(bytes: idx(0x09, [2, 2], [0xFF, 1, 0x80, 0x7F]), source: "b.idx")
        XCTAssertEqual(bytes.tensor().shape, [2, 2])
        XCTAssertEqual(bytes.tensor().doubles, [-1, 1, -128, 127])
        XCTAssertEqual(try IDXArray(bytes: idx(0x0B, [2], bigEndian(Int16(-2)) + bigEndian(Int16(300))), source: "s").tensor().doubles, [-2, 300])
        XCTAssertEqual(try IDXArray(bytes: idx(0x0C, [1], bigEndian(Int32(-70000))), source: "i").tensor().doubles, [-70000])
        let float = try IDXArray(bytes: idx(0x0D, [1], bigEndian(Float(1.5).bitPattern)), source: "f").tensor()
        XCTAssertEqual(float.dtype, .float32)
        XCTAssertEqual(float.doubles, [1.5])
        let double = try IDXArray(bytes: idx(0x0E, [1, 1], bigEndian(Double(-0.25).bitPattern)), source: "d").tensor()
        XCTAssertEqual(double.dtype, .float64)
        XCTAssertEqual(double.doubles, [-0.25])
        XCTAssertEqual(try IDXArray(bytes: idx(0x08, [3], [0, 128, 255]), source: "u").tensor().doubles, [0, 128, 255])
    }

    func testRejectsWrongMagicAndLengthsThatDisagreeWithTheDimensions() {
        assertThrows(try IDXArray(bytes: [0, 0, 0x07, 1, 0, 0, 0, 0], source: "x.idx"), "x.idx", "bad magic 00 00 07 01")
        assertThrows(try IDXArray(bytes: Array("GIF89a..".utf8), source: "x.idx"), "x.idx", "bad magic 47 49 46 38")
        assertThrows(try IDXArray(bytes: [0, 0], source: "x.idx"), "x.idx", "truncated", "2 bytes")
        assertThrows(try IDXArray(bytes: [0, 0, 8, 3, 0, 0, 0, 2], source: "x.idx"), "x.idx", "truncated: the file ends inside its 3 dimensions")
        assertThrows(try IDXArray(bytes: idx(0x08, [2, 28, 28], [UInt8](repeating: 0, count: 1000)), source: "x.idx"),
                     "x.idx", "truncated: dimensions [2, 28, 28] of ubyte need 1568 bytes of data, the file has 1000")
        assertThrows(try IDXArray(bytes: idx(0x0C, [1], [0, 0, 0, 0, 0]), source: "x.idx"), "x.idx", "too long", "need 4 bytes")
        // Dimensions whose product overflows are an error, not a trap.
        let huge = Int(UInt32.max)
        assertThrows(try IDXArray(bytes: idx(0x0E, [huge, huge, huge], []), source: "x.idx"), "x.idx", "need more bytes than can be counted")
    }

    func testNamesWhatIsMissingOrInconsistent() throws {
        let directory = try temporaryDirectory(self)
        assertThrows(try MNIST(directory: directory, split: .train), directory.path, "missing MNIST file",
                     "train-images-idx3-ubyte, train-images-idx3-ubyte.gz")

        try writeSplit("train", in: directory, gzipped: false, labels: idx(0x08, [2], [1, 2]))
        assertThrows(try MNIST(directory: directory, split: .train), "train-labels-idx1-ubyte", "2 labels for the 3 images")

        try writeSplit("train", in: directory, gzipped: false, labels: idx(0x08, [3], [1, 10, 2]))
        assertThrows(try MNIST(directory: directory, split: .train), "train-labels-idx1-ubyte", "label 10 of example 1 is out of range")

        try writeSplit("train", in: directory, gzipped: false, images: idx(0x08, [3, 784], pixels))
        assertThrows(try MNIST(directory: directory, split: .train), "train-images-idx3-ubyte", "expected images as ubyte [count, height, width], found ubyte [3, 784]")

        // Gzipped but cut short: the gzip layer reports it, naming the file.
        try Data(gzip(idx(0x08, [3, 28, 28], pixels)).dropLast(20)).write(to: directory.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
        try Data(idx(0x08, [3], [1, 2, 3])).write(to: directory.appendingPathComponent("t10k-labels-idx1-ubyte"))
        assertThrows(try MNIST(directory: directory, split: .test), "t10k-images-idx3-ubyte.gz", "truncated")
    }
}
