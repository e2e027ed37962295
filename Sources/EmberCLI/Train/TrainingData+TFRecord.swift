import EmberData
import Foundation

extension TrainingData {
    /// TFRecord shards of labeled images in TensorFlow's layout (`image/encoded`,
    /// `image/class/label`): train-* and validation-* files in one directory. Images are
    /// brought to the first training image's size and channels (datasets such as ImageNet
    /// mix sizes); training images are also mirrored at random.
    static func tfRecord(_ directory: URL, config: TrainConfig, workers: Int) throws -> TrainingData {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory)
        guard isDirectory.boolValue else {
            throw CommandError("--data-dir \(directory.path) is a file; --dataset tfrecord reads a directory of train-* and validation-* TFRecord shards")
        }
        var splits = [TFRecordImageClassification]()
        for prefix in ["train-", "validation-"] {
            let files = try TFRecordDataset.shards(in: directory, prefix: prefix)
            guard !files.isEmpty else {
                throw CommandError("--data-dir \(directory.path) holds no \(prefix)* files; --dataset tfrecord expects TensorFlow's shard names, "
                                   + "train-00000-of-0000N and validation-00000-of-0000N")
            }
            splits.append(try TFRecordImageClassification(files: files))
        }
        let (train, validation) = (splits[0], splits[1])
        guard train.count > 0 else { throw CommandError("--data-dir \(directory.path): the train-* shards hold no records") }
        let first = train[0].image
        let (height, width, channels) = (first.height, first.width, first.channels)
        let uniform = Lambda<Image, Image> { image in
            let sized = image.height == height && image.width == width ? image : Resize(height, width)(image)
            return sized.channels == channels ? sized : sized.converted(toChannels: channels)
        }
        let normalize = Normalize(mean: Array(repeating: 0.5, count: channels), std: Array(repeating: 0.25, count: channels))
        let classNames = validation.classNames.count > train.classNames.count ? validation.classNames : train.classNames
        return try images(train.map(images: uniform), validation.map(images: uniform), classNames: classNames, normalize: normalize,
                          transform: Compose { ToTensor(); normalize }, augment: Compose { RandomHorizontalFlip(); ToTensor(); normalize },
                          config: config, workers: workers, name: "TFRecord shards in \(directory.path)")
    }
}
