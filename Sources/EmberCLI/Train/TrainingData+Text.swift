import Ember
import EmberRuns
import EmberData
import EmberIO
import Foundation

extension TrainingData {
    /// Text classification: the built-in reviews, or a CSV file (split 80/20) or directory
    /// with train.csv and test.csv, with columns "text" and "label".
    static func textClassification(_ config: TrainConfig, workers: Int) throws -> TrainingData {
        let tokenizer = try TextTokenizer(folder: config.tokenizer)
        let maxLength = config.effectiveMaxLength
        // A text of no tokens would leave a recurrent model no state to classify from.
        func encode<D: Dataset>(_ data: D, _ count: Int?, from source: String) throws -> LabelledSequences
        where D.Element == (text: String, label: Int) {
            let examples = (0..<min(count ?? data.count, data.count)).map { data[$0] }
            let sequences = examples.map { tokenizer.encode($0.text, maxLength: maxLength) }
            if let empty = sequences.firstIndex(where: \.isEmpty) {
                throw CommandError("\(source) holds a text of no tokens (\"\(examples[empty].text)\", class \(examples[empty].label)): "
                                   + "every text needs at least one")
            }
            return LabelledSequences(sequences: sequences, labels: examples.map(\.label))
        }
        let train: LabelledSequences, validation: LabelledSequences, classNames: [String], name: String
        if config.dataset == "reviews" {
            train = try encode(ReviewsDataset(count: config.trainSize ?? 10_000, seed: config.seed), nil, from: "the built-in reviews")
            validation = try encode(ReviewsDataset(count: config.valSize ?? 2_000, seed: config.seed &+ 0x9E37_79B9), nil, from: "the built-in reviews")
            (classNames, name) = (ReviewsDataset.classNames, "the built-in reviews")
        } else {
            let location = URL(fileURLWithPath: config.dataDir!)
            let (trainURL, testURL) = splitFiles(location)
            let trainFile = try CSVTextClassification(contentsOf: trainURL)
            classNames = trainFile.classNames
            name = trainURL.lastPathComponent
            if let testURL {
                let test = try CSVTextClassification(contentsOf: testURL, options: CSVOptions(header: .present, classNames: classNames))
                (train, validation) = (try encode(trainFile, config.trainSize, from: trainURL.path), try encode(test, config.valSize, from: testURL.path))
            } else {
                let split = try holdOut(trainFile, from: trainURL, config: config)
                (train, validation) = (try encode(split.train, nil, from: trainURL.path), try encode(split.validation, nil, from: trainURL.path))
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
            let data = try FileError.contents(of: url, format: .text)
            guard let utf8 = String(validating: data, as: UTF8.self) else { throw FileError(.text, path: url.path, problem: "not UTF-8 text") }
            text = utf8
            name = url.lastPathComponent
        }
        let stream = tokenizer.encode(text, maxLength: nil, specialTokens: false)
        let split = stream.count * 9 / 10
        let windows = NextTokenWindows(stream: Array(stream[..<split]), length: length)
        let heldOut = NextTokenWindows(stream: Array(stream[split...]), length: length)
        guard windows.count > 0 && heldOut.count > 0 else {
            throw CommandError("\(name) has \(stream.count) tokens: too few for windows of \(length) tokens (--max-length) with a tenth held out")
        }
        // --train-size and --val-size count windows, as they count examples of other datasets.
        let train = prefix(windows, config.trainSize), validation = prefix(heldOut, config.valSize)
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
