import EmberIO
import Foundation
import SwiftProtobuf

/// Reading and writing `.onnx` files as `Onnx_ModelProto` (the types generated from the `onnx`
/// package's onnx.proto in Proto/). Reading only checks that the bytes are a ModelProto; what
/// the graph means is checked by the importer. Writing is atomic.
public enum ONNXModelFile {
    /// protobuf cannot encode a message of 2 GiB or more: larger weights go to external data.
    public static let maximumProtobufBytes = Int(Int32.max)

    public static func read(_ url: URL) throws -> Onnx_ModelProto {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw FileError(.onnx, path: url.path, problem: "cannot be read: \((error as NSError).localizedDescription)")
        }
        return try decode(data, path: url.path)
    }

    /// Decodes a ModelProto from bytes in memory; `path` names them in errors.
    public static func decode(_ data: Data, path: String) throws -> Onnx_ModelProto {
        guard !data.isEmpty else { throw FileError(.onnx, path: path, problem: "the file is empty") }
        guard data.count < maximumProtobufBytes else {
            throw FileError(.onnx, path: path, problem: "\(data.count) bytes is more than protobuf allows (2 GiB); large weights belong in external data")
        }
        do {
            return try Onnx_ModelProto(serializedBytes: data)
        } catch {
            throw FileError(.onnx, path: path, problem: "not an ONNX ModelProto (\(error))")
        }
    }

    /// Replaces `url` with `model`, atomically.
    public static func write(_ model: Onnx_ModelProto, to url: URL) throws {
        let data: Data
        do {
            data = try model.serializedData()
        } catch {
            throw FileError(.onnx, path: url.path, problem: "cannot be encoded: \(error)")
        }
        guard data.count < maximumProtobufBytes else {
            throw FileError(.onnx, path: url.path, problem: "the model is \(data.count) bytes, more than protobuf allows (2 GiB): save its weights as external data")
        }
        try AtomicFile.write(data, to: url, format: .onnx)
    }
}
