import Ember
import EmberData
import Foundation

extension TrainingData {
    /// Text classification: the built-in reviews, or a CSV file (split 80/20) or directory
    /// with train.csv and test.csv, with columns "text" and "label".
    static func textClassification(_ config: TrainConfig, workers: Int) throws -> TrainingData {
        let tokenizer = try TextTokenizer(folder: config.tokenizer)
        let maxLength = config.effectiveMaxLength
        func encode<D: Dataset>(_ data: D, _ count: Int?) -> LabelledSequences where D.Element == (text: String, label: Int) {
            let indices = 0..<min(count ?? data.count, data.count)
            let examples = indices.map { data[$0] }
            return LabelledSequences(sequences: examples.map { tokenizer.encode($0.text, maxLength: maxLength) }, labels: examples.map(\.label))
        }
        let train: LabelledSequences, validation: LabelledSequences, classNames: [String], name: String
        if config.dataset == "reviews" {
            train = encode(ReviewsDataset(count: config.trainSize ?? 10_000, seed: config.seed), nil)
            validation = encode(ReviewsDataset(count: config.valSize ?? 2_000, seed: config.seed &+ 0x9E37_79B9), nil)
            (classNames, name) = (ReviewsDataset.classNames, "the built-in reviews")
        } else {
            let location = URL(fileURLWithPath: config.dataDir!)
            let (trainURL, testURL) = splitFiles(location)
            let trainFile = try CSVTextClassification(contentsOf: trainURL)
            classNames = trainFile.classNames
            name = trainURL.lastPathComponent
            if let testURL {
                let test = try CSVTextClassification(contentsOf: testURL, options: CSVOptions(header: .present, classNames: classNames))
                (train, validation) = (encode(trainFile, config.trainSize), encode(test, config.valSize))
            } else {
                let split = try holdOut(trainFile, from: trainURL, config: config)
                (train, validation) = (encode(split.train, nil), encode(split.validation, nil))
            }
        }
        let collate = TextBatches.classification(padding: tokenizer.paddingID)
        return TrainingData(
            train: DataLoader(train, batchSize: config.batchSize, shuffle: true, seed: config.seed, workers: workers, collate: collate),
            validation: DataLoader(validation, batchSize: config.batchSize, workers: workers, collate: collate),
            input: .tokens(tokenizer: tokenizer.folder, vocabularySize: tokenizer.vocabularySize, maxLength: maxLength,
                           paddingID: tokenizer.paddingID),
            classNames: classNames,
            description: "\(name): \(train.count) training and \(validation.count) validation texts, \(classNames.count) classes, "
                + "\(tokenizer.description), at most \(maxLength) tokens")
    }

    /// Language modelling: a text file (or the built-in reviews, one per line) as one token
    /// stream, its last tenth held out, cut into windows of --max-length tokens.
    static func corpus(_ config: TrainConfig, workers: Int) throws -> TrainingData {
        let tokenizer = try TextTokenizer(folder: config.tokenizer)
        let length = config.effectiveMaxLength
        let text: String, name: String
        if config.dataset == "reviews" {
            let reviews = ReviewsDataset(count: (config.trainSize ?? 10_000) + (config.valSize ?? 2_000), seed: config.seed)
            text = (0..<reviews.count).map { reviews[$0].text }.joined(separator: "\n") + "\n"
            name = "the built-in reviews as text"
        } else {
            let url = URL(fileURLWithPath: config.dataDir!)
            guard let data = try? Data(contentsOf: url) else { throw CommandError("cannot read \(url.path)") }
            text = String(decoding: data, as: UTF8.self)
            name = url.lastPathComponent
        }
        let stream = tokenizer.encode(text, maxLength: nil, specialTokens: false)
        let split = stream.count * 9 / 10
        let train = NextTokenWindows(stream: Array(stream[..<split]), length: length)
        let validation = NextTokenWindows(stream: Array(stream[split...]), length: length)
        guard train.count > 0 && validation.count > 0 else {
            throw CommandError("\(name) has \(stream.count) tokens: too few for windows of \(length) tokens (--max-length) with a tenth held out")
        }
        return TrainingData(
            train: DataLoader(train, batchSize: config.batchSize, shuffle: true, seed: config.seed, workers: workers, collate: TextBatches.nextToken),
            validation: DataLoader(validation, batchSize: config.batchSize, workers: workers, collate: TextBatches.nextToken),
            input: .tokens(tokenizer: tokenizer.folder, vocabularySize: tokenizer.vocabularySize, maxLength: length,
                           paddingID: tokenizer.paddingID),
            classNames: [],
            description: "\(name): \(stream.count) tokens (\(tokenizer.description)), \(train.count) training and "
                + "\(validation.count) validation windows of \(length)")
    }

    /// A file (split later) or a directory's train.csv and, when present, test.csv.
    static func splitFiles(_ location: URL) -> (train: URL, test: URL?) {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: location.path, isDirectory: &isDirectory)
        guard isDirectory.boolValue else { return (location, nil) }
        let test = location.appendingPathComponent("test.csv")
        return (location.appendingPathComponent("train.csv"), FileManager.default.fileExists(atPath: test.path) ? test : nil)
    }
}
