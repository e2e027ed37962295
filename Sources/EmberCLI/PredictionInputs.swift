import Ember
import EmberData
import Foundation

/// The examples `ember predict` classifies, prepared from the user's files as the model's
/// validation data was: named for the output.
enum PredictionInputs {
    struct Example {
        let name: String
        let tensor: Tensor
    }

    /// `paths` are files for images and features, the texts themselves for text models.
    static func examples(for input: ModelInput, from paths: [String]) throws -> [Example] {
        switch input {
        case .image(let channels, let height, let width, let mean, let std):
            let normalize = Normalize(mean: mean, std: std)
            return try imageFiles(paths).map { url in
                let image = try Image(contentsOf: url)
                var prepared = image.converted(toChannels: channels)
                if prepared.height != height || prepared.width != width {
                    prepared = Resize(height, width)(prepared)
                }
                return Example(name: url.path, tensor: normalize(ToTensor()(prepared)))
            }
        case .features(let names, let mean, let std):
            let standardization: Standardization = mean.map { .using(mean: $0, std: std ?? []) } ?? .none
            return try paths.flatMap { path -> [Example] in
                let rows = try CSVFeatures(contentsOf: URL(fileURLWithPath: path), columns: names,
                                           options: CSVOptions(header: .present, standardization: standardization))
                return (0..<rows.count).map { Example(name: "\(path) row \($0 + 1)", tensor: rows[$0]) }
            }
        case .tokens(let folder, let vocabularySize, let maxLength, _):
            // Texts are given as they are; examples are padded when batched.
            let tokenizer = try TextTokenizer(folder: folder, fitting: vocabularySize)
            return try paths.enumerated().map { index, text in
                let ids = tokenizer.encode(text, maxLength: maxLength)
                // A recurrent model has no state to classify a text of no tokens from.
                guard !ids.isEmpty else { throw CommandError("text \(index + 1) (\"\(text)\") has no tokens: give some text to classify") }
                return Example(name: text, tensor: Tensor(ids.map(Int64.init), shape: [ids.count]))
            }
        }
    }

    /// Examples stacked into a batch; token sequences padded on the right to the longest.
    static func batch(_ tensors: [Tensor], input: ModelInput) -> Tensor {
        guard case .tokens(_, _, _, let paddingID) = input else { return Tensor.stack(tensors) }
        let sequences = tensors.map { $0.scalars(as: Int64.self).map(Int.init) }
        return TextBatches.classification(padding: paddingID)(sequences.map { ($0, 0) }).inputs
    }

    /// The files named, with directories replaced by the image files in them (sorted).
    static func imageFiles(_ paths: [String]) throws -> [URL] {
        let files = FileManager.default
        return try paths.flatMap { path -> [URL] in
            var isDirectory: ObjCBool = false
            guard files.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CommandError("\(path) does not exist") }
            guard isDirectory.boolValue else { return [URL(fileURLWithPath: path)] }
            let names = ((try? files.contentsOfDirectory(atPath: path)) ?? []).filter { Image.fileExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
            guard !names.isEmpty else { throw CommandError("\(path) holds no image files (.\(Image.fileExtensions.sorted().joined(separator: ", .")))") }
            return names.sorted().map { URL(fileURLWithPath: path).appendingPathComponent($0) }
        }
    }
}
