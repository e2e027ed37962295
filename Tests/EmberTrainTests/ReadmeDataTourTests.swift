import Ember
import EmberData
import EmberModels
import EmberNN
import EmberOptim
import EmberTrain
import Foundation
import XCTest

/// The README's data-and-fit tour, verbatim, so that the documented code keeps compiling
/// and running.
final class ReadmeDataTourTests: XCTestCase {
    func testDataAndFitTour() throws {

        let augment = Compose {
            RandomCrop(32, padding: 4)
            RandomHorizontalFlip()
            ToTensor()
            Normalize(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
        }
        let trainSet = ShapesDataset(count: 256, seed: 0).map(images: augment)   // or MNIST, CIFAR10, CSV...
        let validationSet = ShapesDataset(count: 128, seed: 1).map(images: Compose { ToTensor() })
        let train = DataLoader(trainSet, batchSize: 64, shuffle: true, seed: 0, workers: 2)
        let validation = DataLoader(validationSet, batchSize: 128)

        let net = CIFARResNet(depth: 8)
        let runDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("shapes-run")
        let trainer = Trainer(model: net, optimizer: AdamW(net.parameters(), lr: 3e-3), loss: CrossEntropyLoss(),
                              metrics: [Accuracy()],
                              callbacks: [EarlyStopping(monitor: Monitor("val_loss"), patience: 3),
                                          ModelCheckpoint(directory: runDirectory, monitor: Monitor("val_accuracy")),
                                          CSVLogger(url: runDirectory.appendingPathComponent("metrics.csv")),
                                          TensorBoardLogger(logDirectory: runDirectory.appendingPathComponent("tb")),
                                          ProgressLogger()])
        let history = try trainer.fit(train, epochs: 2, validation: validation)
        print(history["val_accuracy"]!, trainer.evaluate(validation))

        // Later, or in another process: the same run continues exactly where it stopped.
        try TrainingCheckpoint(contentsOf: runDirectory.appendingPathComponent("last.ckpt")).restore(into: trainer)
        try trainer.fit(train, epochs: 3, validation: validation)

        // tf.data-style pipelines: parallel map, cache, shuffle buffer, batch, prefetch.
        let pipeline = Pipeline(ShapesDataset(count: 100, seed: 2))
            .map(images: Compose { ToTensor() }, threads: 2)
            .cache()
            .shuffle(bufferSize: 50, seed: 3)
            .batch(size: 50)
            .prefetch(2)
        print(trainer.evaluate(pipeline))
        XCTAssertEqual(trainer.epoch, 3)
        XCTAssertEqual(history.epochs, [0, 1])
    }
}
