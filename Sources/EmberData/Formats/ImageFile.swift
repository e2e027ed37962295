import EmberIO
import Foundation

extension Image {
    /// Pillow's limit against decompression bombs (2 x its warning threshold of 89,478,485
    /// pixels, about a 1/4 gigapixel image): larger images are refused unless asked for.
    public static let defaultMaximumPixels = 178_956_970

    /// The file name extensions of the formats read (lower case): PNG, JPEG and Netpbm.
    public static let fileExtensions: Set<String> = ["png", "jpg", "jpeg", "jpe", "jfif", "ppm", "pgm", "pbm", "pnm"]
    /// Extensions of common image formats that are not read (lower case).
    public static let unreadableFileExtensions: Set<String> = ["gif", "bmp", "tif", "tiff", "webp", "heic", "heif", "avif", "jxl"]

    /// Reads an image file, PNG, JPEG or Netpbm (PBM, PGM, PPM), recognized by its first bytes
    /// whatever its name. Pixels come out 8-bit with 1 (gray), 2 (gray+alpha), 3 (RGB) or 4
    /// (RGBA) channels, as Pillow decodes them:
    /// - PNG: every colour type, bit depth and interlacing; palette images become RGB, and a
    ///   tRNS chunk adds an alpha channel; samples below 8 bits are scaled to 0-255 by bit
    ///   replication, 16-bit samples keep their high byte;
    /// - JPEG (libjpeg-turbo): baseline and progressive, gray (1 channel) or colour (3); CMYK
    ///   becomes RGB as Pillow converts it, and the EXIF orientation is applied (see
    ///   `JPEGDecoder`);
    /// - Netpbm: a maxval other than 255 is rescaled, round(value / maxval * 255); PBM's 1 is
    ///   black.
    /// Other formats (GIF, WebP, TIFF...) are refused with an error naming them. Images of
    /// more than `maximumPixels` pixels are refused before their data is decompressed.
    /// `converted(toChannels:)` gives the channel count a model expects.
    public init(contentsOf url: URL, maximumPixels: Int = Image.defaultMaximumPixels) throws(FileError) {
        let data = try FileError.contents(of: url, format: .image)
        try self.init(encoded: [UInt8](data), source: url.path, maximumPixels: maximumPixels)
    }

    /// Decodes a whole image file held in memory (see `init(contentsOf:)`); `source` names it
    /// in errors.
    public init(encoded bytes: [UInt8], source: String, maximumPixels: Int = Image.defaultMaximumPixels) throws(FileError) {
        if bytes.starts(with: PNGChunk.signature) {
            self = try PNGDecoder.decode(bytes, source: source, maximumPixels: maximumPixels)
        } else if JPEGDecoder.hasSignature(bytes) {
            self = try JPEGDecoder.decode(bytes, source: source, maximumPixels: maximumPixels)
        } else if Netpbm.hasMagicNumber(bytes) {
            self = try Netpbm.decode(bytes, source: source, maximumPixels: maximumPixels)
        } else {
            throw FileError(.image, path: source, problem: Self.unsupportedFormat(bytes))
        }
    }

    /// Why `bytes` cannot be read: the format their magic number names, or their first bytes.
    private static func unsupportedFormat(_ bytes: [UInt8]) -> String {
        func at(_ offset: Int, _ text: String) -> Bool { bytes.dropFirst(offset).starts(with: Array(text.utf8)) }
        let named: String?
        if at(0, "GIF87a") || at(0, "GIF89a") {
            named = "GIF"
        } else if at(0, "RIFF") && at(8, "WEBP") {
            named = "WebP"
        } else if at(0, "II*\u{0}") || at(0, "MM\u{0}*") {
            named = "TIFF"
        } else if at(0, "BM") && bytes.count >= 26 {
            named = "BMP"
        } else if at(4, "ftypavif") {
            named = "AVIF"
        } else if at(4, "ftyphei") || at(4, "ftypmif1") {
            named = "HEIF/HEIC"
        } else if at(0, "P7") {
            named = "PAM (Netpbm P7)"
        } else if bytes.starts(with: [0x1F, 0x8B]) {
            return "a gzip-compressed file; decompress it first (only PNG, JPEG and Netpbm images are read)"
        } else {
            named = nil
        }
        if let named { return "\(named) is not supported; convert to PNG or JPEG (only PNG, JPEG and Netpbm images are read)" }
        guard !bytes.isEmpty else { return "the file is empty" }
        let start = bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        return "not a PNG, JPEG or Netpbm (PBM, PGM, PPM) image: the file starts with \(start)"
    }
}
