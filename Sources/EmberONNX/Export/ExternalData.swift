import EmberIO
import Foundation

extension ONNXExporter {
    /// Above this many bytes of weights a model keeps them in a separate file: protobuf cannot
    /// encode a message of 2 GiB, and the graph itself needs room too.
    public static let externalDataThreshold = ONNXModelFile.maximumProtobufBytes - (64 << 20)

    /// Writes `model` to `url`, atomically. When its initializers hold more than `threshold`
    /// bytes, every initializer of 1 KiB or more goes to `<file name>.data` beside it (ONNX's
    /// external data, 64-byte aligned offsets, as onnx's `save_model` writes it), and the model
    /// refers to it by file name. Returns the data file's URL when one was written.
    @discardableResult
    public static func write(_ model: Onnx_ModelProto, to url: URL, externalDataAbove threshold: Int = externalDataThreshold) throws -> URL? {
        let total = model.graph.initializer.reduce(0) { $0 + $1.rawData.count }
        guard total > threshold else {
            try ONNXModelFile.write(model, to: url)
            return nil
        }
        var model = model
        let dataURL = url.deletingLastPathComponent().appendingPathComponent(url.lastPathComponent + ".data")
        var moved = [Int]()
        var offsets = [Int]()
        var offset = 0
        for (index, tensor) in model.graph.initializer.enumerated() where tensor.rawData.count >= 1024 {
            offset = (offset + 63) / 64 * 64
            moved.append(index)
            offsets.append(offset)
            offset += tensor.rawData.count
        }
        try AtomicFile.replace(dataURL, format: .onnx) { append in
            var written = 0
            for (index, start) in zip(moved, offsets) {
                let padding = [UInt8](repeating: 0, count: start - written)
                try padding.withUnsafeBytes { try append($0) }
                let bytes = model.graph.initializer[index].rawData
                try bytes.withUnsafeBytes { try append($0) }
                written = start + bytes.count
            }
        }
        for (index, start) in zip(moved, offsets) {
            let length = model.graph.initializer[index].rawData.count
            model.graph.initializer[index].rawData = Data()
            model.graph.initializer[index].dataLocation = .external
            model.graph.initializer[index].externalData = [("location", dataURL.lastPathComponent), ("offset", "\(start)"),
                                                           ("length", "\(length)")].map { key, value in
                var entry = Onnx_StringStringEntryProto()
                entry.key = key
                entry.value = value
                return entry
            }
        }
        try ONNXModelFile.write(model, to: url)
        return dataURL
    }
}
