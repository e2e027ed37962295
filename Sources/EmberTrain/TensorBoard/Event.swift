import EmberIO
/// TensorBoard's protobuf messages (tensorflow/core/util/event.proto and
/// framework/summary.proto), encoded by hand: field numbers are given where written.
struct Event {
    enum Payload {
        case fileVersion(String)
        case summary([SummaryValue])
        /// `SessionLog` with status START: TensorBoard hides the events of earlier files at
        /// this step and later (a restarted run's superseded steps).
        case sessionStart
    }

    var wallTime: Double
    var step: Int64
    var payload: Payload

    var encoded: [UInt8] {
        var writer = ProtobufWriter()
        writer.double(1, wallTime)
        writer.int64(2, step)
        switch payload {
        case .fileVersion(let version):
            writer.string(3, version)
        case .summary(let values):
            writer.message(5) { summary in
                for value in values {
                    summary.message(1) { value.encode(into: &$0) }
                }
            }
        case .sessionStart:
            writer.message(7) { $0.int64(1, 1) }
        }
        return writer.bytes
    }
}

/// One `Summary.Value`: a tag and what was recorded under it.
struct SummaryValue {
    enum Content {
        case scalar(Float)
        case histogram(Histogram)
        /// A string tensor under the text plugin's metadata, as TensorBoard's text dashboard reads it.
        case text(String)
    }

    var tag: String
    var content: Content

    func encode(into writer: inout ProtobufWriter) {
        writer.string(1, tag)
        switch content {
        case .scalar(let value):
            writer.float(2, value)
        case .histogram(let histogram):
            writer.message(5) { histogram.encode(into: &$0) }
        case .text(let text):
            writer.message(8) { tensor in
                // TensorProto: dtype DT_STRING (7), shape [1], string_val.
                tensor.int64(1, 7)
                tensor.message(2) { shape in shape.message(2) { $0.int64(1, 1) } }
                tensor.bytes(8, Array(text.utf8), always: true)
            }
            writer.message(9) { metadata in
                metadata.message(1) { $0.string(1, "text") }
            }
        }
    }
}
