import Ember
import EmberData
import EmberModels
import EmberNN
import EmberOptim
import EmberTrain
import Foundation

/// W3 fed by the data pipeline: a ResNet-18 (CIFAR variant) trained with `fit` from a
/// DataLoader that augments every image on the fly (padded random crop, horizontal flip,
/// ToTensor, Normalize) in worker threads. Reports images/s and the fraction of the epoch
/// the training loop spent waiting for its next batch (`ember bench --data-wait`).
enum DataWaitMeasurement {
    /// CIFAR-10-sized images with random pixels, held in memory as a decoded CIFAR file is.
    struct RandomImages: Dataset {
        let count: Int
        private let pixels: [UInt8]

        init(count: Int) {
            self.count = count
            pixels = Tensor.randomIntegers([count * 3072], high: 256, source: .key(Key(31))).scalars(as: Int32.self).map { UInt8($0) }
        }

        subscript(index: Int) -> (image: Image, label: Int) {
            (Image(height: 32, width: 32, channels: 3, pixels: Array(pixels[(index * 3072)..<((index + 1) * 3072)])), index % 10)
        }
    }

    static func run(images: Int, workers: Int, json: Bool) throws {
        let augment = Compose {
            RandomCrop(32, padding: 4)
            RandomHorizontalFlip()
            ToTensor()
            Normalize(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])
        }
        let loader = DataLoader(RandomImages(count: images).map(images: augment), batchSize: 64, shuffle: true,
                                seed: 1, dropLast: true, workers: workers)
        manualSeed(0)
        let model = ResNet.resnet18Cifar()
        let trainer = Trainer(model: model, optimizer: SGD(model.parameters(), lr: 0.01, momentum: 0.9), loss: CrossEntropyLoss())
        // One epoch to warm up (oneDNN primitive creation, the block cache), one measured.
        try trainer.fit(loader, epochs: 2)
        let timing = trainer.lastEpochTiming!
        let row: [String: Any] = [
            "workload": "W3", "impl": "ember-data-pipeline", "unit": "images/s",
            "median": Double(timing.batches * 64) / timing.seconds, "data_wait_fraction": timing.dataWaitFraction,
            "data_wait_seconds": timing.waitingForData, "epoch_seconds": timing.seconds, "workers": workers,
        ]
        if json {
            let data = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(String(format: "W3 with on-the-fly augmentation (%d workers): %.1f images/s; waited for data %.3f s of a %.1f s epoch (%.2f%%)",
                         workers, row["median"] as! Double, timing.waitingForData, timing.seconds, 100 * timing.dataWaitFraction))
        }
    }
}
