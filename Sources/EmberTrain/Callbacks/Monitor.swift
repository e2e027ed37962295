/// A logged quantity that a callback watches for improvement (`val_loss`, `val_accuracy`).
public struct Monitor: Sendable, Equatable {
    public enum Mode: String, Sendable, Codable {
        case min, max
    }

    public let key: String
    public let mode: Mode
    /// How much better a value must be to count as an improvement.
    public let minDelta: Double

    /// `mode` nil guesses as Keras does: accuracies and other scores are maximized,
    /// losses and errors minimized.
    public init(_ key: String, mode: Mode? = nil, minDelta: Double = 0) {
        precondition(minDelta >= 0, "Monitor: minDelta must not be negative, got \(minDelta)")
        self.key = key
        self.mode = mode ?? (["acc", "auc", "precision", "recall", "f1"].contains { key.contains($0) } ? .max : .min)
        self.minDelta = minDelta
    }

    /// Whether `value` improves on `best` (any value improves on none; NaN never does).
    public func isImprovement(_ value: Double, over best: Double?) -> Bool {
        guard !value.isNaN else { return false }
        guard let best else { return true }
        switch mode {
        case .min: return value < best - minDelta
        case .max: return value > best + minDelta
        }
    }

    /// The watched value from an epoch's logs; a missing key is a configuration mistake.
    func value(in logs: [String: Double], for callback: String) throws -> Double {
        guard let value = logs[key] else {
            throw CallbackError("\(callback) watches '\(key)', which is not logged (logged: \(logs.keys.sorted().joined(separator: ", "))); pass validation data for val_* keys")
        }
        return value
    }
}

/// A callback that cannot do its job (a watched value that is never logged, a file it
/// cannot write).
public struct CallbackError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
