import Foundation
import XCTest
@testable import EmberData

/// The reverse direction: Pillow reads the PNGs Ember writes, to the same pixels. Runs the
/// fixture generator's `--decode` under the Python that EMBER_PYTHON names (one with Pillow
/// and numpy, e.g. /work/venv/peers/bin/python).
final class ImageFileInteropTests: XCTestCase {
    private struct Decoded: Decodable {
        let height: Int
        let width: Int
        let channels: Int
        let pixels: String
        let filters: [Int]
    }

    func testPillowReadsWhatEmberWrites() throws {
        guard let python = ProcessInfo.processInfo.environment["EMBER_PYTHON"], !python.isEmpty else {
            throw XCTSkip("set EMBER_PYTHON to a Python with Pillow and numpy (e.g. /work/venv/peers/bin/python) to check that Pillow reads Ember's PNG files")
        }
        let directory = try temporaryDirectory(self)
        var written = [String: Image]()
        for channels in 1...4 {
            for (height, width) in [(1, 1), (6, 9), (40, 37)] {
                // Half smooth (so every filter gets chosen somewhere), half noise.
                var pixels = noise(count: height * width * channels, seed: UInt64(10 * channels + height))
                for index in 0..<(pixels.count / 2) { pixels[index] = UInt8(truncatingIfNeeded: index / channels * 3 + index % channels * 50) }
                let image = Image(height: height, width: width, channels: channels, pixels: pixels)
                let name = "ember_\(channels)_\(height)x\(width).png"
                try image.writePNG(to: directory.appendingPathComponent(name))
                written[name] = image
            }
        }
        let fixtures = try ImageFixtures.load()
        for name in ["pillow_rgba.png", "luma_rgb.png"] {
            let converted = try Image(contentsOf: ImageFixtures.url(name)).converted(toChannels: 1)
            try converted.writePNG(to: directory.appendingPathComponent("gray_\(name)"))
            written["gray_\(name)"] = converted
            XCTAssertEqual(converted.pixels, bytes(hex: try XCTUnwrap(fixtures.conversions[name]?["1"])))
        }

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("generate_image_fixtures.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path, "--decode", directory.path]
        // Warnings go to a file, so that the pipe carries only the JSON report.
        let errorsURL = directory.appendingPathComponent("stderr.txt")
        try Data().write(to: errorsURL)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errorsURL)
        try process.run()
        let report = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let messages = (try? String(contentsOf: errorsURL, encoding: .utf8)) ?? ""
        XCTAssertEqual(process.terminationStatus, 0, "generate_image_fixtures.py --decode:\n\(messages)")

        let decoded = try JSONDecoder().decode([String: Decoded].self, from: report)
        XCTAssertEqual(Set(decoded.keys), Set(written.keys))
        var filters = Set<Int>()
        for (name, image) in written {
            let pillow = try XCTUnwrap(decoded[name], name)
            XCTAssertEqual([pillow.height, pillow.width, pillow.channels], [image.height, image.width, image.channels], name)
            XCTAssertEqual(bytes(hex: pillow.pixels), image.pixels, "\(name): Pillow's pixels differ")
            filters.formUnion(pillow.filters)
        }
        XCTAssertEqual(filters, [0, 1, 2, 3, 4], "the filter types of the rows Ember wrote")
    }
}
