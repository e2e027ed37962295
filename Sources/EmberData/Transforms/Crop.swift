extension Image {
    /// The `height` x `width` window whose top-left corner is at (top, left); pixels outside
    /// the image are 0 (so a window hanging over the edges is zero padding).
    public func cropped(top: Int, left: Int, height: Int, width: Int) -> Image {
        precondition(height > 0 && width > 0, "cropped: the crop must have a positive size, got \(height)x\(width)")
        var out = [UInt8](repeating: 0, count: height * width * channels)
        let y0 = Swift.max(top, 0), y1 = Swift.min(top + height, self.height)
        let x0 = Swift.max(left, 0), x1 = Swift.min(left + width, self.width)
        if y0 < y1 && x0 < x1 {
            let rowBytes = (x1 - x0) * channels
            pixels.withUnsafeBufferPointer { source in
                out.withUnsafeMutableBufferPointer { target in
                    for y in y0..<y1 {
                        let from = (y * self.width + x0) * channels
                        let to = ((y - top) * width + (x0 - left)) * channels
                        (target.baseAddress! + to).update(from: source.baseAddress! + from, count: rowBytes)
                    }
                }
            }
        }
        return Image(height: height, width: width, channels: channels, pixels: out)
    }

    /// Mirrored left to right.
    public func flippedHorizontally() -> Image {
        var out = pixels
        let c = channels
        pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for y in 0..<height {
                    let row = y * width * c
                    for x in 0..<width {
                        let from = row + (width - 1 - x) * c, to = row + x * c
                        for k in 0..<c { target[to + k] = source[from + k] }
                    }
                }
            }
        }
        return Image(height: height, width: width, channels: channels, pixels: out)
    }
}

/// A crop size given as one side (square) or as [height, width], as torchvision takes it.
func cropSize(_ size: [Int], _ name: String) -> (height: Int, width: Int) {
    precondition(size.count == 1 || size.count == 2, "\(name): size must be one side or [height, width], got \(size)")
    precondition(size.allSatisfy { $0 > 0 }, "\(name): size must be positive, got \(size)")
    return (size[0], size[size.count - 1])
}

/// The central window (torchvision's CenterCrop); zero padding where the image is smaller.
public struct CenterCrop: Transform {
    public let height: Int
    public let width: Int

    public init(_ size: Int...) { (height, width) = cropSize(size, "CenterCrop") }

    public func callAsFunction(_ image: Image, using random: inout SeededRandom) -> Image {
        // torchvision rounds half offsets to even, as Python's round does.
        let top = Int((Double(image.height - height) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(image.width - width) / 2).rounded(.toNearestOrEven))
        return image.cropped(top: top, left: left, height: height, width: width)
    }
}

/// A window at a uniformly random position of the image padded by `padding` zeros on every
/// side (torchvision's RandomCrop with constant fill 0).
public struct RandomCrop: Transform {
    public let height: Int
    public let width: Int
    public let padding: Int

    public init(_ size: Int..., padding: Int = 0) {
        (height, width) = cropSize(size, "RandomCrop")
        precondition(padding >= 0, "RandomCrop: padding cannot be negative, got \(padding)")
        self.padding = padding
    }

    /// The window's top-left corner in unpadded image coordinates.
    public func position(forImageHeight imageHeight: Int, width imageWidth: Int, using random: inout SeededRandom) -> (top: Int, left: Int) {
        let paddedHeight = imageHeight + 2 * padding, paddedWidth = imageWidth + 2 * padding
        precondition(paddedHeight >= height && paddedWidth >= width,
                     "RandomCrop: a \(height)x\(width) crop does not fit a \(imageHeight)x\(imageWidth) image padded by \(padding)")
        let top = random.integer(below: paddedHeight - height + 1)
        let left = random.integer(below: paddedWidth - width + 1)
        return (top - padding, left - padding)
    }

    public func callAsFunction(_ image: Image, using random: inout SeededRandom) -> Image {
        let (top, left) = position(forImageHeight: image.height, width: image.width, using: &random)
        return image.cropped(top: top, left: left, height: height, width: width)
    }
}

/// Mirrors the image left to right with probability `p` (torchvision's RandomHorizontalFlip).
public struct RandomHorizontalFlip: Transform {
    public let p: Double

    public init(_ p: Double = 0.5) {
        precondition(p >= 0 && p <= 1, "RandomHorizontalFlip: p must be in [0, 1], got \(p)")
        self.p = p
    }

    public func callAsFunction(_ image: Image, using random: inout SeededRandom) -> Image {
        random.bernoulli(p) ? image.flippedHorizontally() : image
    }
}
