// Training with `fit`, the Keras way: a ResNet-8 on the built-in shapes dataset, with
// augmentation prepared by loader threads, a one-cycle schedule, early stopping,
// checkpoints and a CSV log. About a minute in a release build on two cores.
//
//     swift run -c release example-fit [output directory]
import Ember
import EmberData
import EmberModels
import EmberNN
import EmberOptim
import EmberTrain
import Foundation

let output = URL(fileURLWithPath: CommandLine.arguments.dropFirst().first ?? "runs/example-fit")
let normalize = Normalize(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
let augment = Compose { RandomCrop(32, padding: 2); ToTensor(); normalize }
let train = DataLoader(ShapesDataset(count: 10_000, seed: 0).map(images: augment), batchSize: 64, shuffle: true, seed: 0, workers: 2)
let validation = DataLoader(ShapesDataset(count: 1000, seed: 1).map(images: Compose { ToTensor(); normalize }), batchSize: 256)

manualSeed(0)
let epochs = 6
let model = CIFARResNet(depth: 8, classes: ShapesDataset.classNames.count)
let optimizer = AdamW(model.parameters(), lr: 3e-3, weightDecay: 0.01)
let trainer = Trainer(
    model: model, optimizer: optimizer, loss: CrossEntropyLoss(), metrics: [Accuracy()],
    callbacks: [
        LearningRateScheduler(LRScheduler(optimizer, schedule: OneCycleLR(maxLR: 3e-3, totalSteps: epochs * train.batchesPerEpoch!)),
                              interval: .step),
        EarlyStopping(monitor: Monitor("val_loss"), patience: 2, restoreBestWeights: true),
        ModelCheckpoint(directory: output.appendingPathComponent("checkpoints"), monitor: Monitor("val_accuracy")),
        CSVLogger(url: output.appendingPathComponent("metrics.csv")),
        ProgressLogger(),
    ])
let history = try trainer.fit(train, epochs: epochs, validation: validation)
print("validation accuracy by epoch: \(history["val_accuracy"]!)")
try model.save(to: output.appendingPathComponent("resnet8.safetensors"))
