/// What `fit` returns: one value per epoch for every logged quantity (Keras's History),
/// keyed `loss`, `accuracy`, `val_loss`, `val_accuracy`, `lr`, ...
public struct History: Equatable, Codable {
    public private(set) var epochs: [Int] = []
    public private(set) var values: [String: [Double]] = [:]

    public init() {}

    /// Appends an epoch's logs. A key missing from some epochs holds NaN there, so every
    /// series stays aligned with `epochs`.
    public mutating func record(epoch: Int, logs: [String: Double]) {
        for key in logs.keys where values[key] == nil {
            values[key] = [Double](repeating: .nan, count: epochs.count)
        }
        epochs.append(epoch)
        for key in values.keys {
            values[key]!.append(logs[key] ?? .nan)
        }
    }

    public subscript(key: String) -> [Double]? { values[key] }
}
