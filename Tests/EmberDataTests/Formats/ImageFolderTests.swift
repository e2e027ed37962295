import Ember
import EmberIO
import Foundation
import XCTest
@testable import EmberData

/// ImageFolder (one folder per class) and CSVImageClassification (a CSV of paths and
/// labels): what they find, the errors for what they cannot use, and batches through
/// transforms and loader workers.
final class ImageFolderTests: XCTestCase {
    /// root/dog/ (2 JPEGs, one in a subfolder), root/cat/ (a PNG and a gray JPEG), plus
    /// files that are not images.
    private func makeFolder() throws -> URL {
        let root = try temporaryDirectory(self)
        let manager = FileManager.default
        for folder in ["dog/puppies", "cat", ".thumbnails"] {
            try manager.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try manager.copyItem(at: JPEGFixtures.url("baseline_420.jpg"), to: root.appendingPathComponent("dog/b.JPG"))
        try manager.copyItem(at: JPEGFixtures.url("progressive_420.jpg"), to: root.appendingPathComponent("dog/puppies/a.jpeg"))
        try manager.copyItem(at: JPEGFixtures.url("gray.jpg"), to: root.appendingPathComponent("cat/2.jpg"))
        try Image(height: 5, width: 4, channels: 4, pixels: noise(count: 80, seed: 1)).writePNG(to: root.appendingPathComponent("cat/1.png"))
        try Data("notes".utf8).write(to: root.appendingPathComponent("cat/README.txt"))
        try Data("x".utf8).write(to: root.appendingPathComponent("cat/.DS_Store"))
        try Data("x".utf8).write(to: root.appendingPathComponent("labels.txt"))
        return root
    }

    func testClassesAreTheSortedFolderNamesAndImagesTheirFiles() throws {
        let root = try makeFolder()
        let folder = try ImageFolder(directory: root)
        XCTAssertEqual(folder.classNames, ["cat", "dog"])
        XCTAssertEqual(folder.files.map { $0.path.replacingOccurrences(of: root.path + "/", with: "") },
                       ["cat/1.png", "cat/2.jpg", "dog/b.JPG", "dog/puppies/a.jpeg"])
        XCTAssertEqual(folder.labels, [0, 0, 1, 1])
        // Converted to RGB, as torchvision's loader does: the gray JPEG and the RGBA PNG too.
        XCTAssertEqual((0..<4).map { folder[$0].image.channels }, [3, 3, 3, 3])
        XCTAssertEqual(folder[1].image, try Image(contentsOf: JPEGFixtures.url("gray.jpg")).converted(toChannels: 3))
        XCTAssertEqual(try ImageFolder(directory: root, channels: nil)[1].image.channels, 1)
    }

    func testBatchesThroughTransformsAndWorkers() throws {
        let folder = try ImageFolder(directory: makeFolder())
        let prepared = folder.map(images: Compose { Resize(8, 6); RandomHorizontalFlip(); ToTensor() })
        let inThread = DataLoader(prepared, batchSize: 3, shuffle: true, seed: 5)
        let withWorkers = DataLoader(prepared, batchSize: 3, shuffle: true, seed: 5, workers: 2)
        let batches = Array(inThread), parallel = Array(withWorkers)
        XCTAssertEqual(batches.map(\.inputs.shape), [[3, 3, 8, 6], [1, 3, 8, 6]])
        XCTAssertEqual(batches.map { $0.inputs.floats }, parallel.map { $0.inputs.floats })
        XCTAssertEqual(batches.flatMap { $0.targets.scalars(as: Int64.self) }.sorted(), [0, 0, 1, 1])
    }

    func testFolderErrorsNameWhatIsWrong() throws {
        let root = try temporaryDirectory(self)
        assertThrows(try ImageFolder(directory: root.appendingPathComponent("missing")), "image folder", "missing: no such directory")
        assertThrows(try ImageFolder(directory: root), root.path, "holds no class folders")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("cat"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("dog"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: JPEGFixtures.url("gray.jpg"), to: root.appendingPathComponent("dog/1.jpg"))
        try Data("x".utf8).write(to: root.appendingPathComponent("cat/notes.txt"))
        assertThrows(try ImageFolder(directory: root), "class folder \"cat\" holds no images (readable: .jfif, .jpe, .jpeg, .jpg, .pbm")
        try Data("GIF89a".utf8).write(to: root.appendingPathComponent("cat/anim.gif"))
        assertThrows(try ImageFolder(directory: root), "cat/anim.gif: GIF images are not read; convert to PNG or JPEG")
    }

    func testACorruptImageIsFoundWhenTheDatasetIsMade() throws {
        let root = try makeFolder()
        let jpeg = Array(try Data(contentsOf: JPEGFixtures.url("baseline_444.jpg")))
        try Data(jpeg.prefix(jpeg.count / 2)).write(to: root.appendingPathComponent("dog/truncated.jpg"))
        try Data("not an image".utf8).write(to: root.appendingPathComponent("cat/0.png"))
        // The first bad file in the dataset's order is reported, whatever the threads did.
        assertThrows(try ImageFolder(directory: root), "image \(root.path)/cat/0.png: not a PNG, JPEG or Netpbm")
        try FileManager.default.removeItem(at: root.appendingPathComponent("cat/0.png"))
        assertThrows(try ImageFolder(directory: root), "JPEG \(root.path)/dog/truncated.jpg: cannot decode the 37x23 image", "(the file is truncated: it does not end with the end-of-image marker FF D9)")
        XCTAssertEqual(try ImageFolder(directory: root, verify: false).count, 5)
    }

    func testCSVOfPathsRelativeToTheFile() throws {
        let root = try makeFolder()
        let csv = root.appendingPathComponent("images.csv")
        try Data("""
            file,species
            dog/b.JPG,dog
            cat/1.png,cat
            \(root.path)/cat/2.jpg,cat
            dog/puppies/a.jpeg,dog

            """.utf8).write(to: csv)
        let dataset = try CSVImageClassification(contentsOf: csv, label: "species")
        XCTAssertEqual(dataset.classNames, ["cat", "dog"])
        XCTAssertEqual(dataset.labels, [1, 0, 0, 1])
        XCTAssertEqual(dataset.count, 4)
        XCTAssertEqual(dataset[0].image, try Image(contentsOf: JPEGFixtures.url("baseline_420.jpg")))
        let loader = DataLoader(dataset.map(images: Compose { Resize(4, 4); ToTensor() }), batchSize: 4, workers: 2)
        XCTAssertEqual(Array(loader).map(\.inputs.shape), [[4, 3, 4, 4]])
    }

    func testCSVErrorsNameTheLineAndColumn() throws {
        let root = try makeFolder()
        let csv = root.appendingPathComponent("images.csv")
        func write(_ text: String) throws { try Data(text.utf8).write(to: csv) }
        try write("path,label\ncat/1.png,0\ncat/missing.jpg,1\n")
        assertThrows(try CSVImageClassification(contentsOf: csv), "CSV \(csv.path), line 3, column 1 (\"path\"): \"cat/missing.jpg\" names no file")
        try write("path,label\ncat/1.png,0\ncat,1\n")
        assertThrows(try CSVImageClassification(contentsOf: csv), "line 3, column 1", "is a directory")
        try write("path,label\ncat/1.png,0\n,1\n")
        assertThrows(try CSVImageClassification(contentsOf: csv), "line 3, column 1", "is not an image path")
        try write("path,label\ncat/1.png,0\n")
        assertThrows(try CSVImageClassification(contentsOf: csv, path: "label"), "the image paths and the labels are the same column")
        try write("path,label\ncat/README.txt,0\n")
        assertThrows(try CSVImageClassification(contentsOf: csv), "image \(root.path)/cat/README.txt: not a PNG, JPEG or Netpbm")
    }
}
