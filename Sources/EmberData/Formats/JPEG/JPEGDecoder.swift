import CTurboJPEG
import EmberIO

/// Decoding JPEG files with libjpeg-turbo's TurboJPEG API, the library Pillow's wheels and
/// torchvision decode with: baseline, extended and progressive (Huffman) JPEGs, lossless
/// excepted, in gray, YCbCr, RGB, CMYK or YCCK.
///
/// libjpeg's defaults are kept (accurate integer IDCT, fancy upsampling), as Pillow keeps
/// them, so pixels come out as Pillow's. Gray JPEGs give 1 channel and colour ones 3 (RGB);
/// CMYK and YCCK JPEGs (Adobe's inverted convention, which Pillow assumes too) are converted
/// to RGB as Pillow's `convert("RGB")` does, since 4 channels mean RGBA in `Image`. The EXIF
/// orientation, when present, is applied (Pillow's `ImageOps.exif_transpose`).
///
/// Unlike Pillow, libjpeg's warnings are errors: a truncated file or corrupt entropy-coded
/// data would otherwise decode with gray or smeared blocks, silently spoiling training data.
enum JPEGDecoder {
    /// JPEG files start with the SOI marker, then another marker.
    static func hasSignature(_ bytes: [UInt8]) -> Bool { bytes.starts(with: [0xFF, 0xD8, 0xFF]) }

    /// The image in `bytes`, a whole JPEG file; `source` names it in errors. Images of more
    /// than `maximumPixels` pixels are refused before their data is decoded.
    static func decode(_ bytes: [UInt8], source: String, maximumPixels: Int) throws(FileError) -> Image {
        func fail(_ problem: String) -> FileError { FileError(.jpeg, path: source, problem: problem) }
        guard hasSignature(bytes) else { throw fail("not a JPEG file: it does not start with the SOI marker FF D8 FF") }
        guard let handle = tjInitDecompress() else { throw fail("libjpeg-turbo could not start a decoder (out of memory)") }
        defer { tjDestroy(handle) }
        // libjpeg's message, and what it means when the file lacks its end: libjpeg then
        // reports whatever it missed first (a marker, the scan data).
        let endsWithEOI = bytes.suffix(2).elementsEqual([0xFF, 0xD9])
        func libraryFailure(_ stage: String) -> FileError {
            let message = tjGetErrorStr2(handle).map { String(cString: $0) } ?? "unknown error"
            let truncated = message.contains("Premature end") || !endsWithEOI
            return fail("\(stage): \(message)\(truncated ? " (the file is truncated: it does not end with the end-of-image marker FF D9)" : "")")
        }

        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let headerRead = bytes.withUnsafeBufferPointer { buffer in
            tjDecompressHeader3(handle, buffer.baseAddress, UInt(buffer.count), &width, &height, &subsampling, &colorspace)
        }
        guard headerRead == 0 else { throw libraryFailure("cannot read the header") }
        let (w, h) = (Int(width), Int(height))
        // libjpeg reads a file that ends before its frame header (SOF) as one of tables only.
        guard w > 0 && h > 0 else { throw fail("cannot read the header: the file ends before the frame header (SOF) that gives the image's size (the file is truncated)") }
        guard w <= maximumPixels / h else {
            throw fail("the image is \(w)x\(h), \(w * h) pixels, more than the limit of \(maximumPixels) (a guard against decompression bombs)")
        }

        let format: TJPF, channels: Int
        switch TJCS(UInt32(colorspace)) {
        case TJCS_GRAY: (format, channels) = (TJPF_GRAY, 1)
        case TJCS_CMYK, TJCS_YCCK: (format, channels) = (TJPF_CMYK, 4)
        default: (format, channels) = (TJPF_RGB, 3)
        }
        var pixels = [UInt8](repeating: 0, count: w * h * channels)
        // Warnings stop decoding (see above); progressive files of more than 500 scans are
        // refused, a guard against files crafted to take minutes.
        let flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS
        let decoded = bytes.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { target in
                tjDecompress2(handle, source.baseAddress, UInt(source.count), target.baseAddress, width, 0, height,
                              format.rawValue, flags)
            }
        }
        guard decoded == 0 else { throw libraryFailure("cannot decode the \(w)x\(h) image") }

        var image = Image(height: h, width: w, channels: channels, pixels: pixels)
        if channels == 4 { image = invertedCMYKToRGB(image) }
        let orientation = EXIFOrientation.read(bytes)
        return orientation.map(image.oriented) ?? image
    }

    /// RGB from CMYK stored inverted (Adobe's convention: libjpeg hands back 255 - C, ...),
    /// with Pillow's formula (libImaging/Convert.c, cmyk2rgb): with nk = 255 - K, each of R,
    /// G, B is nk - C * nk / 255, the product rounded as Pillow's MULDIV255.
    static func invertedCMYKToRGB(_ image: Image) -> Image {
        let count = image.height * image.width
        var rgb = [UInt8](repeating: 0, count: count * 3)
        for p in 0..<count {
            let nk = Int(image.pixels[p * 4 + 3])
            for c in 0..<3 {
                let ink = 255 - Int(image.pixels[p * 4 + c])
                let product = ink * nk + 128
                rgb[p * 3 + c] = UInt8(clamping: nk - (((product >> 8) + product) >> 8))
            }
        }
        return Image(height: image.height, width: image.width, channels: 3, pixels: rgb)
    }
}
