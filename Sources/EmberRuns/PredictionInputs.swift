import Ember
import EmberData
import Foundation

/// The examples `ember predict` classifies, prepared from the user's files as the model's
/// validation data was: named for the output.
public enum PredictionInputs {
    public struct Example {
        public let name: String
        public let tensor: Tensor
    }

    /// `paths` are files for images and features, the texts themselves for text models.
    public static func examples(_ preprocessing: Preprocessing, from paths: [String]) throws -> [Example] {
        switch preprocessing.input {
        case .image:
            return try imageFiles(paths).map { url in
                Example(name: url.path, tensor: try preprocessing.tensor(image: Image(contentsOf: url)))
            }
        case .features(let names, let mean, let std):
            let standardization: Standardization = mean.map { .using(mean: $0, std: std ?? []) } ?? .none
            return try paths.flatMap { path -> [Example] in
                let rows = try CSVFeatures(contentsOf: URL(fileURLWithPath: path), columns: names,
                                           options: CSVOptions(header: .present, standardization: standardization))
                return (0..<rows.count).map { Example(name: "\(path) row \($0 + 1)", tensor: rows[$0]) }
            }
        case .tokens:
            return try paths.enumerated().map { index, text in
                do {
                    return Example(name: text, tensor: try preprocessing.tensor(text: text))
                } catch {
                    throw RunError("text \(index + 1) (\"\(text)\") has no tokens: give some text to classify")
                }
            }
        }
    }

    /// The files named, with directories replaced by the image files in them (sorted).
    public static func imageFiles(_ paths: [String]) throws -> [URL] {
        let files = FileManager.default
        return try paths.flatMap { path -> [URL] in
            var isDirectory: ObjCBool = false
            guard files.fileExists(atPath: path, isDirectory: &isDirectory) else { throw RunError("\(path) does not exist") }
            guard isDirectory.boolValue else { return [URL(fileURLWithPath: path)] }
            let names = ((try? files.contentsOfDirectory(atPath: path)) ?? []).filter { Image.fileExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
            guard !names.isEmpty else { throw RunError("\(path) holds no image files (.\(Image.fileExtensions.sorted().joined(separator: ", .")))") }
            return names.sorted().map { URL(fileURLWithPath: path).appendingPathComponent($0) }
        }
    }
}
