import Ember
import EmberRuns
import EmberData
import Foundation

/// The training and validation batches of a run, with what the model needs to know about
/// one example.
struct TrainingData {
    let train: any BatchProvider
    let validation: any BatchProvider
    /// What one example is, and how raw input becomes one.
    let input: ModelInput
    let classNames: [String]
    /// For the run's header line.
    let description: String

    static func load(_ config: TrainConfig, workers: Int) throws -> TrainingData {
        let directory = config.dataDir.map { URL(fileURLWithPath: $0) }
        if let directory, !FileManager.default.fileExists(atPath: directory.path) {
            throw CommandError("the data directory \(directory.path) does not exist")
        }
        switch config.dataset {
        case "shapes":
            // Validation images come from another seed: none of them is a training image.
            let train = ShapesDataset(count: config.shapesTrainSize, seed: config.seed)
            let validation = ShapesDataset(count: config.shapesValidationSize, seed: config.seed &+ 0x9E37_79B9)
            let normalize = Normalize(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
            let transform = Compose { ToTensor(); normalize }
            return try images(train, validation, classNames: ShapesDataset.classNames, normalize: normalize, transform: transform,
                              augment: transform, config: config, workers: workers, name: "the built-in shapes dataset")
        case "mnist", "fashion-mnist":
            let names = config.dataset == "mnist" ? MNIST.digitClassNames : MNIST.fashionClassNames
            let train = try MNIST(directory: directory!, split: .train, classNames: names)
            let test = try MNIST(directory: directory!, split: .test, classNames: names)
            let normalize = Normalize(mean: [0.1307], std: [0.3081])
            let transform = Compose { ToTensor(); normalize }
            return try images(train, test, classNames: names, normalize: normalize, transform: transform, augment: transform,
                              config: config, workers: workers, name: "\(config.dataset) in \(directory!.path)")
        case "cifar10":
            let train = try CIFAR10(directory: directory!, split: .train)
            let test = try CIFAR10(directory: directory!, split: .test)
            let normalize = Normalize(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])
            // The standard CIFAR augmentation: padded random crops and mirror images.
            let augment = Compose { RandomCrop(32, padding: 4); RandomHorizontalFlip(); ToTensor(); normalize }
            let transform = Compose { ToTensor(); normalize }
            return try images(train, test, classNames: train.classNames, normalize: normalize, transform: transform, augment: augment,
                              config: config, workers: workers, name: "CIFAR-10 in \(directory!.path)")
        case "tfrecord":
            return try tfRecord(directory!, config: config, workers: workers)
        case "folder":
            return try imageFolder(directory!, config: config, workers: workers)
        case "reviews" where config.isLanguageModel, "corpus":
            return try corpus(config, workers: workers)
        case "reviews", "text":
            return try textClassification(config, workers: workers)
        default:
            return try csv(directory!, config: config, workers: workers)
        }
    }

    /// Image datasets: `augment` for training examples, `transform` for validation. Both
    /// splits must hold images, of one size (checked on their first images, before training),
    /// unless the transforms resize them all to `resized` (height, width).
    static func images<Train: Dataset, Validation: Dataset, Augment: Transform, Plain: Transform>(
        _ train: Train, _ validation: Validation, classNames: [String], normalize: Normalize, transform: Plain, augment: Augment,
        resized: (height: Int, width: Int)? = nil, config: TrainConfig, workers: Int, name: String
    ) throws -> TrainingData
    where Train.Element == (image: Image, label: Int), Validation.Element == (image: Image, label: Int),
          Augment.Input == Image, Augment.Output == Tensor, Plain.Input == Image, Plain.Output == Tensor {
        guard train.count > 0 else { throw CommandError("\(name): the training split holds no images") }
        guard validation.count > 0 else { throw CommandError("\(name): the test split holds no images") }
        var example = validation[0].image, first = train[0].image
        if let resized {
            example = Image(height: resized.height, width: resized.width, channels: example.channels)
            first = Image(height: resized.height, width: resized.width, channels: first.channels)
        }
        guard (first.width, first.height, first.channels) == (example.width, example.height, example.channels) else {
            throw CommandError("\(name): the training images are \(first.width)x\(first.height)x\(first.channels), "
                               + "the test images \(example.width)x\(example.height)x\(example.channels); both splits need one size")
        }
        let trainSet = prefix(train, config.trainSize).map(images: augment)
        let validationSet = prefix(validation, config.valSize).map(images: transform)
        let description = "\(name): \(trainSet.count) training and \(validationSet.count) validation images "
            + "\(example.width)x\(example.height)x\(example.channels), \(classNames.count) classes"
        return TrainingData(
            train: DataLoader(trainSet, batchSize: config.batchSize, shuffle: true, seed: config.seed, workers: workers),
            validation: DataLoader(validationSet, batchSize: config.batchSize, workers: workers),
            input: .image(channels: example.channels, height: example.height, width: example.width, mean: normalize.mean, std: normalize.std),
            classNames: classNames, description: description)
    }

    /// An image folder: `train/` and `val/` (or `validation/`) of class folders, or class
    /// folders alone, a fifth of whose images (or --val-size) are held out for validation.
    /// Images are converted to RGB and resized to --image-size square; training images are
    /// also mirrored at random. Pixels are normalized with ImageNet's statistics.
    private static func imageFolder(_ root: URL, config: TrainConfig, workers: Int) throws -> TrainingData {
        let size = config.effectiveImageSize
        let normalize = Normalize(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
        let transform = Compose { Resize(size, size); ToTensor(); normalize }
        let augment = Compose { Resize(size, size); RandomHorizontalFlip(); ToTensor(); normalize }
        let trainRoot = root.appendingPathComponent("train", isDirectory: true)
        guard isDirectory(trainRoot) else {
            let all = try ImageFolder(directory: root)
            let (train, validation) = try holdOut(all, from: root, config: config, examples: "images")
            return try images(train, validation, classNames: all.classNames, normalize: normalize, transform: transform, augment: augment,
                              resized: (size, size), config: config, workers: workers, name: "the image folder \(root.path) (a held-out split)")
        }
        let train = try ImageFolder(directory: trainRoot)
        guard let validationRoot = ["val", "validation"].map({ root.appendingPathComponent($0, isDirectory: true) }).first(where: isDirectory) else {
            let (trainSet, validation) = try holdOut(train, from: trainRoot, config: config, examples: "images")
            return try images(trainSet, validation, classNames: train.classNames, normalize: normalize, transform: transform, augment: augment,
                              resized: (size, size), config: config, workers: workers, name: "the image folder \(trainRoot.path) (a held-out split)")
        }
        let validation = try ImageFolder(directory: validationRoot, classNames: train.classNames)
        return try images(train, validation, classNames: train.classNames, normalize: normalize, transform: transform, augment: augment,
                          resized: (size, size), config: config, workers: workers, name: "the image folder \(root.path)")
    }

    private static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// A CSV file (split 80/20 into training and validation) or a directory holding
    /// train.csv and test.csv. The label is the column named "label", else the last one.
    private static func csv(_ location: URL, config: TrainConfig, workers: Int) throws -> TrainingData {
        let (trainURL, testURL) = splitFiles(location)
        let train = try CSVClassification(contentsOf: trainURL, label: .nameOrLast("label"),
                                          options: CSVOptions(standardization: .fitted))
        let trainSet: Subset<CSVClassification>
        let validationSet: Subset<CSVClassification>
        if let testURL {
            let test = try CSVClassification(contentsOf: testURL, label: .nameOrLast("label"),
                                             options: CSVOptions(standardization: train.standardization, classNames: train.classNames))
            guard test.featureNames == train.featureNames else {
                throw CommandError("\(testURL.path) has columns \(test.featureNames), \(trainURL.path) has \(train.featureNames)")
            }
            trainSet = prefix(train, config.trainSize)
            validationSet = prefix(test, config.valSize)
        } else {
            (trainSet, validationSet) = try holdOut(train, from: trainURL, config: config)
        }
        let collate = { (examples: [(features: Tensor, label: Int)]) in Collate.batch(examples.map { ($0.features, $0.label) }) }
        return TrainingData(
            train: DataLoader(trainSet, batchSize: config.batchSize, shuffle: true, seed: config.seed, workers: workers, collate: collate),
            validation: DataLoader(validationSet, batchSize: config.batchSize, workers: workers, collate: collate),
            input: .features(names: train.featureNames, mean: train.standardization.statistics?.mean,
                             std: train.standardization.statistics?.std),
            classNames: train.classNames,
            description: "\(trainURL.lastPathComponent): \(trainSet.count) training and \(validationSet.count) validation rows, "
                + "\(train.featureNames.count) features, \(train.classNames.count) classes")
    }

    /// A file's rows (or a folder's images) split at random into training rows (at most
    /// --train-size) and validation rows (--val-size, or a fifth).
    static func holdOut<D: Dataset>(_ data: D, from url: URL, config: TrainConfig, examples: String = "rows") throws -> (train: Subset<D>, validation: Subset<D>) {
        guard data.count >= 5 else { throw CommandError("\(url.path) has \(data.count) \(examples); at least 5 are needed to hold out validation \(examples)") }
        let validationCount = min(config.valSize ?? data.count / 5, data.count - 1)
        let parts = data.randomSplit([data.count - validationCount, validationCount], seed: config.seed)
        return (Subset(data, indices: Array(parts[0].indices.prefix(config.trainSize ?? data.count))), parts[1])
    }

    /// The dataset format of a `--data-dir` given without `--dataset`, from the files there.
    /// IDX files are taken as MNIST (Fashion-MNIST has the same names: say so with --dataset).
    static func detectFormat(at path: String) throws -> String {
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        guard files.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CommandError("the data directory \(path) does not exist")
        }
        if !isDirectory.boolValue {
            if path.lowercased().hasSuffix(".txt") { return "corpus" }
            guard path.lowercased().hasSuffix(".csv") else {
                throw CommandError("\(path) is a file but not a .csv or .txt; give a dataset directory or name the format with --dataset")
            }
            return hasTextColumn(URL(fileURLWithPath: path)) ? "text" : "csv"
        }
        let names = Set((try? files.contentsOfDirectory(atPath: path)) ?? [])
        if names.contains("train-images-idx3-ubyte") || names.contains("train-images-idx3-ubyte.gz") { return "mnist" }
        if names.contains("data_batch_1.bin") || names.contains("cifar-10-batches-bin") { return "cifar10" }
        if names.contains(where: { $0.hasPrefix("train-") }) && names.contains(where: { $0.hasPrefix("validation-") }) { return "tfrecord" }
        if Self.isDirectory(URL(fileURLWithPath: path).appendingPathComponent("train")) { return "folder" }
        if names.contains("train.csv") {
            return hasTextColumn(URL(fileURLWithPath: path).appendingPathComponent("train.csv")) ? "text" : "csv"
        }
        throw CommandError("cannot tell the dataset in \(path): expected MNIST IDX files (train-images-idx3-ubyte[.gz]), "
                           + "CIFAR-10 batches (data_batch_1.bin), TFRecord shards (train-* and validation-*), train.csv "
                           + "or a train/ image folder; name the format with --dataset")
    }

    /// Whether a CSV file's header names a "text" column (a text classification file).
    private static func hasTextColumn(_ url: URL) -> Bool {
        guard let header = try? CSVTextClassification(contentsOf: url) else { return false }
        return header.count > 0
    }

    /// The first `count` examples (all when nil or larger).
    static func prefix<D: Dataset>(_ dataset: D, _ count: Int?) -> Subset<D> {
        Subset(dataset, indices: Array(0..<min(count ?? dataset.count, dataset.count)))
    }
}
