import Foundation

/// torchvision's color adjustments of uint8 tensor images, reproduced operation for operation
/// in float32 (including its truncating conversions back to uint8), so results match it.
extension Image {
    /// Pixels scaled by `factor` (0 gives black, 1 the original).
    public func adjustedBrightness(_ factor: Double) -> Image {
        precondition(factor >= 0, "adjustedBrightness: the factor must be non-negative, got \(factor)")
        return blended(with: { _ in 0 }, ratio: factor)
    }

    /// Pixels pulled toward (factor < 1) or pushed away from (> 1) the mean gray level.
    public func adjustedContrast(_ factor: Double) -> Image {
        precondition(factor >= 0, "adjustedContrast: the factor must be non-negative, got \(factor)")
        let gray = channels == 3 ? grayscale() : pixels
        let mean = Float(gray.reduce(0.0) { $0 + Double($1) } / Double(gray.count))
        return blended(with: { _ in mean }, ratio: factor)
    }

    /// Colors pulled toward (factor < 1) or pushed away from (> 1) their gray level; images
    /// with one channel are returned unchanged, as in torchvision.
    public func adjustedSaturation(_ factor: Double) -> Image {
        precondition(factor >= 0, "adjustedSaturation: the factor must be non-negative, got \(factor)")
        guard channels == 3 else { return self }
        let gray = grayscale()
        return blended(with: { Float(gray[$0 / 3]) }, ratio: factor)
    }

    /// The hue rotated by `shift` turns (in [-0.5, 0.5]) in HSV space; one-channel images are
    /// returned unchanged.
    public func adjustedHue(_ shift: Double) -> Image {
        precondition(shift >= -0.5 && shift <= 0.5, "adjustedHue: the shift must be in [-0.5, 0.5], got \(shift)")
        guard channels == 3 else { return self }
        let shift = Float(shift)
        var out = pixels
        for i in stride(from: 0, to: pixels.count, by: 3) {
            let r = Float(pixels[i]) / 255, g = Float(pixels[i + 1]) / 255, b = Float(pixels[i + 2]) / 255
            var (h, s, v) = Image.hsv(r, g, b)
            h = (h + shift).truncatingRemainder(dividingBy: 1)
            if h < 0 { h += 1 }
            let rgb = Image.rgb(h, s, v)
            // torchvision's float-to-uint8 conversion: scale by 256 - 1e-3 and truncate.
            out[i] = UInt8(rgb.0 * 255.999)
            out[i + 1] = UInt8(rgb.1 * 255.999)
            out[i + 2] = UInt8(rgb.2 * 255.999)
        }
        return Image(height: height, width: width, channels: channels, pixels: out)
    }

    /// ITU-R 601 luma per pixel, truncated to uint8 as torchvision's rgb_to_grayscale does.
    func grayscale() -> [UInt8] {
        precondition(channels == 3, "grayscale: needs an RGB image, got \(channels) channels")
        return (0..<(height * width)).map { p in
            let r = Float(pixels[3 * p]), g = Float(pixels[3 * p + 1]), b = Float(pixels[3 * p + 2])
            return UInt8(0.2989 * r + 0.587 * g + 0.114 * b)
        }
    }

    /// ratio * pixel + (1 - ratio) * other, clamped to [0, 255] and truncated (torchvision's _blend).
    private func blended(with other: (Int) -> Float, ratio: Double) -> Image {
        let a = Float(ratio), b = Float(1 - ratio)
        var out = pixels
        for i in 0..<pixels.count {
            out[i] = UInt8(Swift.min(Swift.max(a * Float(pixels[i]) + b * other(i), 0), 255))
        }
        return Image(height: height, width: width, channels: channels, pixels: out)
    }

    /// torchvision's _rgb2hsv on one pixel.
    private static func hsv(_ r: Float, _ g: Float, _ b: Float) -> (Float, Float, Float) {
        let maxc = Swift.max(r, g, b), minc = Swift.min(r, g, b)
        let equal = maxc == minc
        let cr = maxc - minc
        let s = cr / (equal ? 1 : maxc)
        let divisor = equal ? 1 : cr
        let rc = (maxc - r) / divisor, gc = (maxc - g) / divisor, bc = (maxc - b) / divisor
        let h: Float
        if maxc == r {
            h = bc - gc
        } else if maxc == g {
            h = 2 + rc - bc
        } else {
            h = 4 + gc - rc
        }
        return ((h / 6 + 1).truncatingRemainder(dividingBy: 1), s, maxc)
    }

    /// torchvision's _hsv2rgb on one pixel.
    private static func rgb(_ h: Float, _ s: Float, _ v: Float) -> (Float, Float, Float) {
        let i = (h * 6).rounded(.down)
        let f = h * 6 - i
        let p = Swift.min(Swift.max(v * (1 - s), 0), 1)
        let q = Swift.min(Swift.max(v * (1 - s * f), 0), 1)
        let t = Swift.min(Swift.max(v * (1 - s * (1 - f)), 0), 1)
        switch ((Int(i) % 6) + 6) % 6 {
        case 0: return (v, t, p)
        case 1: return (q, v, p)
        case 2: return (p, v, t)
        case 3: return (p, q, v)
        case 4: return (t, p, v)
        default: return (v, p, q)
        }
    }
}

/// Random brightness, contrast, saturation and hue changes applied in a random order
/// (torchvision's ColorJitter). A factor b gives a brightness, contrast or saturation factor
/// uniform in [max(0, 1 - b), 1 + b]; hue h a hue shift uniform in [-h, h] (h <= 0.5). Zero
/// turns an adjustment off and draws nothing for it.
public struct ColorJitter: Transform {
    public let brightness: ClosedRange<Double>?
    public let contrast: ClosedRange<Double>?
    public let saturation: ClosedRange<Double>?
    public let hue: ClosedRange<Double>?

    public init(brightness: Double = 0, contrast: Double = 0, saturation: Double = 0, hue: Double = 0) {
        func around1(_ value: Double, _ name: String) -> ClosedRange<Double>? {
            precondition(value >= 0, "ColorJitter: \(name) must be non-negative, got \(value)")
            return value == 0 ? nil : Swift.max(0, 1 - value)...(1 + value)
        }
        precondition(hue >= 0 && hue <= 0.5, "ColorJitter: hue must be in [0, 0.5], got \(hue)")
        self.brightness = around1(brightness, "brightness")
        self.contrast = around1(contrast, "contrast")
        self.saturation = around1(saturation, "saturation")
        self.hue = hue == 0 ? nil : -hue...hue
    }

    public func callAsFunction(_ image: Image, using random: inout SeededRandom) -> Image {
        let order = random.permutation(4)
        let b = brightness.map { random.uniform($0) }
        let c = contrast.map { random.uniform($0) }
        let s = saturation.map { random.uniform($0) }
        let h = hue.map { random.uniform($0) }
        var out = image
        for adjustment in order {
            switch adjustment {
            case 0: if let b { out = out.adjustedBrightness(b) }
            case 1: if let c { out = out.adjustedContrast(c) }
            case 2: if let s { out = out.adjustedSaturation(s) }
            default: if let h { out = out.adjustedHue(h) }
            }
        }
        return out
    }
}
