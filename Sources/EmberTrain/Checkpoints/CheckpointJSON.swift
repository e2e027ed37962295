import Foundation

/// JSON for what a checkpoint keeps (its progress record, the callbacks' states): NaN and the
/// infinities as strings, since JSON numbers cannot hold them and a run can (a history entry
/// not logged, a best value not yet set, a loss that diverged).
enum CheckpointJSON {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }()
}
