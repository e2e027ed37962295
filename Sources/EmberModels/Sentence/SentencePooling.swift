import Ember

/// How token embeddings [batch, length, dim] become sentence embeddings, as sentence-transformers'
/// `Pooling` module computes them: one or more modes, their results concatenated in order
/// ([batch, modes.count · dim]). Only tokens whose attention mask is 1 take part.
public struct SentencePooling: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        /// The first attended token (`[CLS]` with right padding).
        case cls
        /// The elementwise maximum over attended tokens.
        case max
        /// The mean over attended tokens.
        case mean
        /// The sum over attended tokens divided by the square root of their number.
        case meanSqrtLength = "mean_sqrt_len_tokens"
        /// The mean weighted by position, 1, 2, ... from the first attended token.
        case weightedMean = "weightedmean"
        /// The last attended token (for causal models).
        case lastToken = "lasttoken"
    }

    public var modes: [Mode]

    public init(_ modes: [Mode]) {
        precondition(!modes.isEmpty, "SentencePooling: at least one mode is needed")
        self.modes = modes
    }

    public init(_ mode: Mode) { self.init([mode]) }

    /// `tokens` [batch, length, dim] and `attentionMask` [batch, length] (1 or true for tokens,
    /// 0 for padding) → [batch, modes.count · dim].
    public func callAsFunction(_ tokens: Tensor, attentionMask: Tensor) -> Tensor {
        precondition(tokens.rank == 3 && attentionMask.shape == Array(tokens.shape.prefix(2)),
                     "SentencePooling: expected token embeddings [batch, length, dim] and a mask [batch, length], found \(tokens.shape) and \(attentionMask.shape)")
        let batch = tokens.shape[0], length = tokens.shape[1]
        let mask = attentionMask.cast(to: tokens.dtype)
        let weights = mask.unsqueezed(axis: -1)
        // The first attended position of each row (0 when none is); argmax keeps the first of ties.
        let first = mask.argmax(axis: 1)
        // Index tensors are made in float64 and cast: Tensor(doubles:) of another dtype cannot be
        // traced (compile), because the tensor it returns is not the traced cast's result.
        func arange(from start: Double, count: Int) -> Tensor {
            Tensor.arange(from: start, to: start + Double(count), dtype: .float64)
        }
        /// The token at `positions` [batch] of each row of `values`.
        func token(of values: Tensor, at positions: Tensor) -> Tensor {
            let rows = (arange(from: 0, count: batch) * Double(length) + positions.cast(to: .float64)).cast(to: .int64)
            return values.reshaped(to: [batch * length, -1]).indexSelect(axis: 0, index: rows)
        }
        func average(_ weights: Tensor, _ denominator: (Tensor) -> Tensor) -> Tensor {
            (tokens * weights).sum(axis: 1) / denominator(weights.sum(axis: 1).clamp(min: 1e-9))
        }
        let pooled = modes.map { mode -> Tensor in
            switch mode {
            case .cls:
                return token(of: tokens, at: first)
            case .max:
                return Tensor.where(weights .== 0, Tensor.scalar(-Double.infinity, dtype: tokens.dtype), tokens).max(axis: 1)
            case .mean:
                return average(weights) { $0 }
            case .meanSqrtLength:
                return average(weights) { $0.sqrt() }
            case .weightedMean:
                // Positions count from the first attended token, so left padding does not shift them.
                let position = arange(from: 1, count: length).cast(to: tokens.dtype).reshaped(to: [1, length, 1])
                return average(weights * (position - first.cast(to: tokens.dtype).reshaped(to: [batch, 1, 1]))) { $0 }
            case .lastToken:
                let reversed = mask.flipped(axes: [1])
                let fromEnd = Tensor.where(reversed.max(axis: 1) .== 0, Tensor.full([batch], Double(length - 1), dtype: .int64),
                                           reversed.argmax(axis: 1))
                return token(of: tokens * weights, at: (Double(length - 1) - fromEnd))
            }
        }
        return pooled.count == 1 ? pooled[0] : Tensor.concatenate(pooled, axis: 1)
    }
}

extension SentencePooling: Decodable {
    /// sentence-transformers' `1_Pooling/config.json`: `pooling_mode` (a mode or a list of
    /// them), or the older booleans `pooling_mode_cls_token`, `pooling_mode_max_tokens`,
    /// `pooling_mode_mean_tokens`, ... (mean when none is set).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func mode(_ name: String) throws -> Mode {
            guard let mode = Mode(rawValue: name) else {
                throw DecodingError.dataCorruptedError(forKey: .poolingMode, in: c, debugDescription: "unknown pooling mode \"\(name)\" (supported: \(Mode.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return mode
        }
        if c.contains(.poolingMode) {
            let names = try (try? c.decode([String].self, forKey: .poolingMode)) ?? [c.decode(String.self, forKey: .poolingMode)]
            guard !names.isEmpty else {
                throw DecodingError.dataCorruptedError(forKey: .poolingMode, in: c, debugDescription: "lists no pooling mode")
            }
            self.init(try names.map(mode))
        } else {
            let legacy: [(CodingKeys, Mode)] = [(.cls, .cls), (.max, .max), (.mean, .mean), (.meanSqrtLength, .meanSqrtLength),
                                                (.weightedMean, .weightedMean), (.lastToken, .lastToken)]
            let modes = try legacy.filter { try c.decodeIfPresent(Bool.self, forKey: $0.0) == true }.map(\.1)
            self.init(modes.isEmpty ? [.mean] : modes)
        }
    }

    enum CodingKeys: String, CodingKey {
        case poolingMode = "pooling_mode"
        case cls = "pooling_mode_cls_token", max = "pooling_mode_max_tokens", mean = "pooling_mode_mean_tokens"
        case meanSqrtLength = "pooling_mode_mean_sqrt_len_tokens", weightedMean = "pooling_mode_weightedmean_tokens"
        case lastToken = "pooling_mode_lasttoken"
    }
}
