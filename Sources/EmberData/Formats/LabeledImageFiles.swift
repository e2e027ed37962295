import EmberIO
import Foundation

/// Image files with a class each, decoded when an example is read: what `ImageFolder` and
/// `CSVImageClassification` hold.
///
/// Datasets cannot throw when an example is read (loaders read them on worker threads,
/// mid-epoch), so `verify()` decodes every file once, in parallel, when the dataset is made:
/// a corrupt, truncated or unsupported file is an error then, naming the file, instead of a
/// failure in the middle of training. A file that fails later anyway (not verified, or
/// changed since) stops the program with the same one-line message.
struct LabeledImageFiles: Sendable {
    let files: [URL]
    let labels: [Int]
    /// The channel count every image is converted to (nil keeps each file's own).
    let channels: Int?
    let maximumPixels: Int

    /// Decodes every file, on all cores; throws the error of the first file (in order) that
    /// cannot be read.
    func verify() throws(FileError) {
        let failures = FailureList()
        DispatchQueue.concurrentPerform(iterations: files.count) { index in
            do throws(FileError) {
                _ = try Image(contentsOf: files[index], maximumPixels: maximumPixels)
            } catch {
                failures.record(error, at: index)
            }
        }
        if let first = failures.first { throw first }
    }

    func example(_ index: Int) -> (image: Image, label: Int) {
        let image: Image
        do {
            image = try Image(contentsOf: files[index], maximumPixels: maximumPixels)
        } catch {
            fatalError("\(error)")
        }
        return (channels.map(image.converted(toChannels:)) ?? image, labels[index])
    }
}

/// The failures of a parallel loop, kept by index so that the first in order is reported
/// whatever the threads' timing.
private final class FailureList: @unchecked Sendable {
    private var errors: [Int: FileError] = [:]
    private let lock = NSLock()

    func record(_ error: FileError, at index: Int) {
        lock.lock()
        errors[index] = error
        lock.unlock()
    }

    var first: FileError? { errors.min { $0.key < $1.key }?.value }
}
