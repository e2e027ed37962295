import Foundation
import XCTest
@testable import EmberData

/// ImageFixtures/expected.json, written by generate_image_fixtures.py: Pillow's pixels for
/// every file in ImageFixtures/ and its conversions of some of them.
struct ImageFixtures: Decodable {
    struct Expected: Decodable {
        let height: Int
        let width: Int
        let channels: Int
        /// The pixels in hex, two digits per byte, in Image's layout.
        let pixels: String
        /// Why the pixels are not Pillow's own (where Pillow departs from the PNG specification).
        let note: String?

        var image: Image { Image(height: height, width: width, channels: channels, pixels: bytes(hex: pixels)) }
    }

    let generator: String
    let images: [String: Expected]
    /// File name -> channel count (1-4) -> Pillow's convert() to L, LA, RGB, RGBA, in hex.
    let conversions: [String: [String: String]]

    static func load() throws -> ImageFixtures {
        try JSONDecoder().decode(ImageFixtures.self, from: Data(contentsOf: url("expected.json")))
    }

    static func url(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "ImageFixtures"), "missing fixture \(name)")
    }
}

func bytes(hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
}

/// Pieces of PNG files for building valid and broken ones byte by byte.
enum PNGBytes {
    static let signature = PNGChunk.signature

    static func chunk(_ type: String, _ data: [UInt8] = []) -> [UInt8] { PNGChunk.encoded(type: type, data: data[...]) }

    static func ihdr(width: Int, height: Int, depth: UInt8 = 8, colorType: UInt8 = 2, compression: UInt8 = 0, filter: UInt8 = 0, interlace: UInt8 = 0) -> [UInt8] {
        chunk("IHDR", ZlibStream.bigEndianBytes(UInt32(width)) + ZlibStream.bigEndianBytes(UInt32(height)) + [depth, colorType, compression, filter, interlace])
    }

    /// An IDAT chunk holding `filtered` (rows behind their filter bytes) zlib-compressed.
    static func idat(_ filtered: [UInt8]) -> [UInt8] { chunk("IDAT", ZlibStream.compress(filtered)) }

    static let iend = chunk("IEND")

    /// A whole file from its chunks.
    static func file(_ chunks: [UInt8]...) -> [UInt8] { signature + chunks.joined() }

    /// The filter type of every row of a non-interlaced PNG.
    static func rowFilters(_ file: [UInt8]) throws -> [UInt8] {
        var reader = PNGChunkReader(bytes: file, source: "test")
        var header: PNGHeader?
        var compressed = [UInt8]()
        while let chunk = try reader.next() {
            if chunk.type == "IHDR" { header = try PNGHeader(chunk.data, source: "test") }
            if chunk.type == "IDAT" { compressed += chunk.data }
        }
        let ihdr = try XCTUnwrap(header)
        let stride = 1 + ihdr.rowBytes(pixels: ihdr.width)
        let filtered = try ZlibStream.decompress(compressed, expectedCount: stride * ihdr.height, source: "test", context: "IDAT")
        return (0..<ihdr.height).map { filtered[$0 * stride] }
    }
}

/// Deterministic pseudo-random bytes (a linear congruential generator), for test images.
func noise(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 56)
    }
}
