/// An 8-bit image in height x width x channels order, the way image files and datasets
/// (IDX, CIFAR after reordering, PIL, NumPy) hold pixels.
public struct Image: Equatable, Sendable {
    public let height: Int
    public let width: Int
    public let channels: Int
    /// Row-major: the pixel at (y, x) starts at `(y * width + x) * channels`.
    public var pixels: [UInt8]

    public init(height: Int, width: Int, channels: Int, pixels: [UInt8]) {
        precondition(height > 0 && width > 0 && channels > 0, "Image: dimensions must be positive, got \(height)x\(width)x\(channels)")
        precondition(pixels.count == height * width * channels,
                     "Image: \(height)x\(width)x\(channels) needs \(height * width * channels) bytes, got \(pixels.count)")
        self.height = height
        self.width = width
        self.channels = channels
        self.pixels = pixels
    }

    /// A black image.
    public init(height: Int, width: Int, channels: Int) {
        self.init(height: height, width: width, channels: channels, pixels: [UInt8](repeating: 0, count: height * width * channels))
    }

    public subscript(y: Int, x: Int, channel: Int) -> UInt8 {
        get { pixels[(y * width + x) * channels + channel] }
        set { pixels[(y * width + x) * channels + channel] = newValue }
    }
}
