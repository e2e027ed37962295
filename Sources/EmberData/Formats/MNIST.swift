import EmberIO
import Foundation

/// MNIST's handwritten digits as published: `train-images-idx3-ubyte` and
/// `train-labels-idx1-ubyte` (`t10k-...` for the test split), each plain or gzipped (`.gz`).
/// Images are 28x28x1; the pixel bytes of the whole split stay in memory and each `Image` is
/// built when read.
///
/// Fashion-MNIST ships in exactly these files and layout: read it as `FashionMNIST(directory:
/// split:, classNames: FashionMNIST.fashionClassNames)`.
public struct MNIST: Dataset, Sendable {
    public static let digitClassNames = (0...9).map(String.init)
    public static let fashionClassNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    public let classNames: [String]
    public let count: Int
    public let imageHeight: Int
    public let imageWidth: Int
    private let pixels: ArraySlice<UInt8>
    private let labels: ArraySlice<UInt8>

    /// Reads a split from `directory`. Throws if a file is missing (listing the names looked
    /// for), malformed, or if images and labels disagree in number, or a label is not below
    /// `classNames.count`.
    public init(directory: URL, split: DatasetSplit, classNames: [String] = MNIST.digitClassNames) throws {
        let prefix = split == .train ? "train" : "t10k"
        let imagesURL = try DataFile.find(["\(prefix)-images-idx3-ubyte", "\(prefix)-images-idx3-ubyte.gz"], in: [directory], format: .mnist)
        let labelsURL = try DataFile.find(["\(prefix)-labels-idx1-ubyte", "\(prefix)-labels-idx1-ubyte.gz"], in: [directory], format: .mnist)
        let images = try IDXArray(contentsOf: imagesURL)
        let labels = try IDXArray(contentsOf: labelsURL)
        guard images.elementType == .ubyte, images.shape.count == 3, images.shape[1] > 0, images.shape[2] > 0 else {
            throw FileError(.mnist, path: imagesURL.path, problem: "expected images as ubyte [count, height, width], found \(images.elementType) \(images.shape)")
        }
        guard labels.elementType == .ubyte, labels.shape.count == 1 else {
            throw FileError(.mnist, path: labelsURL.path, problem: "expected labels as ubyte [count], found \(labels.elementType) \(labels.shape)")
        }
        guard images.shape[0] == labels.shape[0] else {
            throw FileError(.mnist, path: labelsURL.path, problem: "\(labels.shape[0]) labels for the \(images.shape[0]) images of \(imagesURL.lastPathComponent)")
        }
        if let bad = labels.elementBytes.firstIndex(where: { Int($0) >= classNames.count }) {
            let example = bad - labels.elementBytes.startIndex
            throw FileError(.mnist, path: labelsURL.path, problem: "label \(labels.elementBytes[bad]) of example \(example) is out of range: there are \(classNames.count) classes")
        }
        self.classNames = classNames
        count = images.shape[0]
        imageHeight = images.shape[1]
        imageWidth = images.shape[2]
        pixels = images.elementBytes
        self.labels = labels.elementBytes
    }

    public subscript(index: Int) -> (image: Image, label: Int) {
        let size = imageHeight * imageWidth
        let start = pixels.startIndex + index * size
        let image = Image(height: imageHeight, width: imageWidth, channels: 1, pixels: Array(pixels[start..<(start + size)]))
        return (image, Int(labels[labels.startIndex + index]))
    }
}

/// Fashion-MNIST: MNIST's files and layout with clothing classes (`MNIST.fashionClassNames`).
public typealias FashionMNIST = MNIST
