import Foundation

extension Image {
    /// Bilinear resampling with half-pixel centers and no antialiasing, in float32, rounded
    /// half to even (PyTorch's interpolate(mode="bilinear", align_corners=False, antialias=False)
    /// on the image as float, as torchvision's resize does for uint8 tensors).
    public func resized(height newHeight: Int, width newWidth: Int) -> Image {
        precondition(newHeight > 0 && newWidth > 0, "resized: the size must be positive, got \(newHeight)x\(newWidth)")
        if newHeight == height && newWidth == width { return self }
        let rows = Image.samples(from: height, to: newHeight)
        let columns = Image.samples(from: width, to: newWidth)
        let c = channels
        var out = [UInt8](repeating: 0, count: newHeight * newWidth * c)
        pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for y in 0..<newHeight {
                    let row = rows[y]
                    let top = row.low * width * c, bottom = row.high * width * c
                    for x in 0..<newWidth {
                        let column = columns[x]
                        let left = column.low * c, right = column.high * c
                        for k in 0..<c {
                            let upper = column.lowWeight * Float(source[top + left + k]) + column.highWeight * Float(source[top + right + k])
                            let lower = column.lowWeight * Float(source[bottom + left + k]) + column.highWeight * Float(source[bottom + right + k])
                            let value = row.lowWeight * upper + row.highWeight * lower
                            target[(y * newWidth + x) * c + k] = UInt8(Swift.min(Swift.max(value.rounded(.toNearestOrEven), 0), 255))
                        }
                    }
                }
            }
        }
        return Image(height: newHeight, width: newWidth, channels: c, pixels: out)
    }

    /// The two source positions each output position along an axis blends, and their weights.
    private static func samples(from size: Int, to newSize: Int) -> [(low: Int, high: Int, lowWeight: Float, highWeight: Float)] {
        let scale = Float(size) / Float(newSize)
        return (0..<newSize).map { i in
            let position = Swift.max(scale * (Float(i) + 0.5) - 0.5, 0)
            let low = Int(position)
            let high = low < size - 1 ? low + 1 : low
            let highWeight = position - Float(low)
            return (low, high, 1 - highWeight, highWeight)
        }
    }
}

/// Bilinear resizing (torchvision's Resize with antialias=False): one side resizes the shorter
/// edge to it, keeping the aspect ratio (the longer edge truncated, as torchvision does);
/// [height, width] resizes to exactly that.
public struct Resize: Transform {
    public let size: [Int]

    public init(_ size: Int...) {
        _ = cropSize(size, "Resize")
        self.size = size
    }

    /// The output height and width for an image of the given size.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        if size.count == 2 { return (size[0], size[1]) }
        let short = Swift.min(height, width), long = Swift.max(height, width)
        let newLong = Int(Double(size[0]) * Double(long) / Double(short))
        return width <= height ? (newLong, size[0]) : (size[0], newLong)
    }

    public func callAsFunction(_ image: Image, using random: inout SeededRandom) -> Image {
        let (h, w) = outputSize(height: image.height, width: image.width)
        return image.resized(height: h, width: w)
    }
}

/// A random window of random area and aspect ratio, resized to `size` (torchvision's
/// RandomResizedCrop, bilinear without antialiasing): ten tries at a window whose area is a
/// `scale` fraction of the image and whose log aspect ratio is uniform in log(`ratio`); if
/// none fits, the central window with the ratio clamped into `ratio`.
public struct RandomResizedCrop: Transform {
    public let height: Int
    public let width: Int
    public let scale: ClosedRange<Double>
    public let ratio: ClosedRange<Double>

    public init(_ size: Int..., scale: ClosedRange<Double> = 0.08...1, ratio: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3)) {
        (height, width) = cropSize(size, "RandomResizedCrop")
        precondition(scale.lowerBound > 0, "RandomResizedCrop: scale must be positive, got \(scale)")
        precondition(ratio.lowerBound > 0, "RandomResizedCrop: ratio must be positive, got \(ratio)")
        self.scale = scale
        self.ratio = ratio
    }

    /// The window (torchvision's RandomResizedCrop.get_params).
    public func window(forImageHeight imageHeight: Int, width imageWidth: Int, using random: inout SeededRandom)
        -> (top: Int, left: Int, height: Int, width: Int) {
        let area = Double(imageHeight * imageWidth)
        let logRatio = log(ratio.lowerBound)...log(ratio.upperBound)
        for _ in 0..<10 {
            let targetArea = area * random.uniform(scale)
            let aspect = exp(random.uniform(logRatio))
            // Python's round: half to even.
            let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= imageWidth && h > 0 && h <= imageHeight {
                let top = random.integer(below: imageHeight - h + 1)
                let left = random.integer(below: imageWidth - w + 1)
                return (top, left, h, w)
            }
        }
        let inRatio = Double(imageWidth) / Double(imageHeight)
        var w = imageWidth, h = imageHeight
        if inRatio < ratio.lowerBound {
            h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))
        } else if inRatio > ratio.upperBound {
            w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))
        }
        return ((imageHeight - h) / 2, (imageWidth - w) / 2, h, w)
    }

    public func callAsFunction(_ image: Image, using random: inout SeededRandom) -> Image {
        let box = window(forImageHeight: image.height, width: image.width, using: &random)
        return image.cropped(top: box.top, left: box.left, height: box.height, width: box.width).resized(height: height, width: width)
    }
}
