import Ember
import EmberData
import Foundation

/// The seeds' Lab 2 in small (`ember bench --tfrecord-lab`): write a sharded image dataset as
/// TFRecord files, read it back through a DataLoader that augments every image, and report
/// images/s for each. The images are the built-in shapes drawn at 64x64, PNG-encoded in
/// TensorFlow's layout (`image/encoded`, `image/class/label`) in 4 shards; the reading side
/// decodes each PNG and applies a random 56x56 crop, a horizontal flip, brightness jitter,
/// ToTensor and Normalize, in batches of 64 with `workers` threads. bench/tfrecord_lab.py
/// reads the same shards with tf.data.
enum TFRecordLab {
    static let imageSize = 64, shards = 4, batchSize = 64

    static func run(images: Int, workers: Int, reps: Int, directory: URL?, json: Bool) throws {
        let folder = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("ember-tfrecord-lab-\(UUID().uuidString)")
        defer { if directory == nil { try? FileManager.default.removeItem(at: folder) } }
        let shapes = ShapesDataset(count: images, seed: 2, imageSize: imageSize)
        let examples = (0..<images).map { shapes[$0] }

        // Writing: PNG encoding, Example serialization, framing and CRCs, atomic file writes.
        var files = [URL]()
        let writeSeconds = try measured { files = try TFRecordImageClassification.write(examples, to: folder, prefix: "train", shards: shards) }
        // Opening: every record's CRCs and Example checked; the images are decoded as read.
        var dataset: TFRecordImageClassification!
        let openSeconds = try measured { dataset = try TFRecordImageClassification(files: files, checkImages: false) }

        let augment = Compose {
            RandomCrop(56)
            RandomHorizontalFlip()
            ColorJitter(brightness: 0.2)
            ToTensor()
            Normalize(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
        }
        let loader = DataLoader(dataset.map(images: augment), batchSize: batchSize, shuffle: true, seed: 1, workers: workers)
        // One warm-up epoch, then `reps` timed ones.
        let epochs = (0...reps).map { epoch in
            elapsed { for batch in loader.batches(epoch: epoch, skipping: 0) { _ = batch.count } }
        }.dropFirst().map { Double(images) / $0 }.sorted()

        let row: [String: Any] = [
            "workload": "tfrecord-lab", "impl": "ember", "unit": "images/s", "median": epochs[epochs.count / 2],
            "min": epochs.first!, "max": epochs.last!, "write_images_per_s": Double(images) / writeSeconds,
            "open_seconds": openSeconds, "images": images, "shards": shards, "workers": workers,
            "bytes": files.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1.path)[.size] as? Int) ?? 0) },
        ]
        if json {
            let data = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(String(format: "TFRecord lab, %d %dx%d PNG images in %d shards (%.1f MB): written at %.0f images/s, opened (CRCs, Examples) in %.3f s, "
                         + "read with augmentation (%d workers) at %.0f images/s (median of %d epochs; min %.0f, max %.0f)",
                         images, imageSize, imageSize, shards, Double(row["bytes"] as! Int) / 1e6, row["write_images_per_s"] as! Double,
                         openSeconds, workers, row["median"] as! Double, reps, epochs.first!, epochs.last!))
        }
    }

    private static func measured(_ body: () throws -> Void) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
