extension Image {
    /// The image turned upright from EXIF orientation `orientation` (1 to 8), as Pillow's
    /// `ImageOps.exif_transpose` turns it: 2 mirrors left-right, 3 rotates 180°, 4 mirrors
    /// top-bottom, 5 transposes, 6 rotates 90° clockwise, 7 transverses, 8 rotates 90°
    /// counter-clockwise. 5 to 8 swap the width and height.
    public func oriented(_ orientation: Int) -> Image {
        precondition((1...8).contains(orientation), "Image.oriented: EXIF orientations are 1 to 8, got \(orientation)")
        guard orientation != 1 else { return self }
        let (h, w) = (height, width)
        let swaps = orientation >= 5
        let (outHeight, outWidth) = swaps ? (w, h) : (h, w)
        // The source pixel (row, column) of output pixel (y, x).
        let source: (Int, Int) -> (Int, Int)
        switch orientation {
        case 2: source = { y, x in (y, w - 1 - x) }
        case 3: source = { y, x in (h - 1 - y, w - 1 - x) }
        case 4: source = { y, x in (h - 1 - y, x) }
        case 5: source = { y, x in (x, y) }
        case 6: source = { y, x in (h - 1 - x, y) }
        case 7: source = { y, x in (h - 1 - x, w - 1 - y) }
        default: source = { y, x in (x, w - 1 - y) }
        }
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0..<outHeight {
            for x in 0..<outWidth {
                let (sy, sx) = source(y, x)
                let from = (sy * w + sx) * channels, to = (y * outWidth + x) * channels
                for c in 0..<channels { out[to + c] = pixels[from + c] }
            }
        }
        return Image(height: outHeight, width: outWidth, channels: channels, pixels: out)
    }
}
