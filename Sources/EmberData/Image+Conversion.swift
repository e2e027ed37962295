extension Image {
    /// The image with `channels` channels, 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA), as
    /// Pillow's `convert("L" / "LA" / "RGB" / "RGBA")` makes it:
    /// - colour to gray is ITU-R 601 luma in Pillow's fixed point,
    ///   (19595 R + 38470 G + 7471 B + 2^15) >> 16, i.e. 0.299 R + 0.587 G + 0.114 B rounded
    ///   (this differs from rounding the decimal weights by one level for about 0.05% of colours);
    /// - gray to colour repeats the gray level in R, G and B;
    /// - dropping alpha discards it: pixels are not composited on any background;
    /// - adding alpha makes every pixel opaque (255).
    public func converted(toChannels target: Int) -> Image {
        precondition((1...4).contains(channels), "converted(toChannels:): the image has \(channels) channels; conversions are between 1 and 4")
        precondition((1...4).contains(target), "converted(toChannels:): \(target) channels asked; 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) are possible")
        guard target != channels else { return self }
        let sourceIsColor = channels >= 3, targetIsColor = target >= 3
        let sourceHasAlpha = channels == 2 || channels == 4, targetHasAlpha = target == 2 || target == 4
        let count = height * width
        var out = [UInt8](repeating: 255, count: count * target)
        pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { out in
                for p in 0..<count {
                    let pixel = source.baseAddress! + p * channels, converted = out.baseAddress! + p * target
                    if targetIsColor {
                        for c in 0..<3 { converted[c] = pixel[sourceIsColor ? c : 0] }
                    } else {
                        converted[0] = sourceIsColor ? Image.luma(pixel[0], pixel[1], pixel[2]) : pixel[0]
                    }
                    if targetHasAlpha && sourceHasAlpha { converted[target - 1] = pixel[channels - 1] }
                }
            }
        }
        return Image(height: height, width: width, channels: target, pixels: out)
    }

    /// Pillow's RGB-to-L conversion (libImaging/Convert.c): weights scaled by 2^16, rounded.
    static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let weighted: UInt32 = UInt32(r) * 19595 + UInt32(g) * 38470 + UInt32(b) * 7471
        return UInt8((weighted + 0x8000) >> 16)
    }
}
