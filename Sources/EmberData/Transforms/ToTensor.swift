import Ember

/// An 8-bit HWC image to a float32 C x H x W tensor in [0, 1] (torchvision's ToTensor).
public struct ToTensor: Transform {
    public init() {}

    public func callAsFunction(_ image: Image, using random: inout SeededRandom) -> Tensor {
        var floats = [Float](repeating: 0, count: image.pixels.count)
        floats.withUnsafeMutableBufferPointer { ToTensor.write(image, into: $0) }
        return Tensor(floats, shape: [image.channels, image.height, image.width])
    }

    /// Writes the CHW floats of `image` (shared with the image collate, which fills a batch buffer).
    static func write(_ image: Image, into target: UnsafeMutableBufferPointer<Float>) {
        let plane = image.height * image.width, c = image.channels
        image.pixels.withUnsafeBufferPointer { source in
            for channel in 0..<c {
                let out = target.baseAddress! + channel * plane
                for i in 0..<plane { out[i] = Float(source[i * c + channel]) / 255 }
            }
        }
    }
}

/// (x - mean) / std per channel of a float32 C x H x W tensor (torchvision's Normalize).
public struct Normalize: Transform {
    public let mean: [Float]
    public let std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count, "Normalize: \(mean.count) means but \(std.count) standard deviations")
        precondition(std.allSatisfy { $0 > 0 }, "Normalize: standard deviations must be positive, got \(std)")
        self.mean = mean
        self.std = std
    }

    public func callAsFunction(_ tensor: Tensor, using random: inout SeededRandom) -> Tensor {
        precondition(tensor.rank == 3 && tensor.shape[0] == mean.count,
                     "Normalize: expects a \(mean.count)-channel C x H x W tensor, got shape \(tensor.shape)")
        var values = tensor.float32Values("Normalize")
        let plane = tensor.shape[1] * tensor.shape[2]
        values.withUnsafeMutableBufferPointer { buffer in
            for channel in 0..<mean.count {
                let m = mean[channel], s = std[channel]
                for i in (channel * plane)..<((channel + 1) * plane) { buffer[i] = (buffer[i] - m) / s }
            }
        }
        return Tensor(values, shape: tensor.shape)
    }
}
