import Foundation
import Ember

/// How a language model picks the next token from its logits: greedily (the most likely one),
/// or by sampling from the softmax after Hugging Face's warpers in Hugging Face's order —
/// temperature (logits / temperature), then top-k (keep the tokens whose logit is at least
/// the k-th largest), then top-p (nucleus: keep the smallest set of most likely tokens whose
/// probabilities add up to p or more, and always the most likely one). Filtered tokens get
/// logit -inf, so they are never drawn.
public struct Sampling: Sendable, Equatable {
    /// Whether to take the most likely token; the other settings are then unused.
    public let isGreedy: Bool
    public let temperature: Double
    public let topK: Int?
    public let topP: Double?

    /// The most likely token (the first one on ties).
    public static let greedy = Sampling(isGreedy: true, temperature: 1, topK: nil, topP: nil)

    private init(isGreedy: Bool, temperature: Double, topK: Int?, topP: Double?) {
        self.isGreedy = isGreedy
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
    }

    /// Sampling with a `temperature` > 0, `topK` ≥ 1 and `topP` in [0, 1] (nil turns a filter off).
    public init(temperature: Double = 1, topK: Int? = nil, topP: Double? = nil) throws {
        guard temperature > 0 && temperature.isFinite else {
            throw GPTError.invalidSampling("temperature must be a positive number, found \(temperature) (use Sampling.greedy for the most likely token)")
        }
        if let topK, topK < 1 { throw GPTError.invalidSampling("topK must be at least 1, found \(topK)") }
        if let topP, !(0...1).contains(topP) { throw GPTError.invalidSampling("topP must be in [0, 1], found \(topP)") }
        self.init(isGreedy: false, temperature: temperature, topK: topK, topP: topP)
    }

    /// The logits after temperature, top-k and top-p, with -inf for the tokens filtered out
    /// (as Hugging Face's `TemperatureLogitsWarper`, `TopKLogitsWarper` and `TopPLogitsWarper`
    /// one after another). Greedy sampling returns them unchanged.
    public func processedLogits(_ logits: [Double]) -> [Double] {
        guard !isGreedy else { return logits }
        var scores = temperature == 1 ? logits : logits.map { $0 / temperature }
        if let topK, topK < scores.count {
            let threshold = scores.sorted(by: >)[topK - 1]
            scores = scores.map { $0 < threshold ? -.infinity : $0 }
        }
        if let topP {
            // Hugging Face's rule: from the least likely up, drop tokens while the probability
            // mass so far is at most 1 - p; the most likely token always stays. Among equal
            // logits the lower token id goes first.
            let order = scores.indices.sorted { (scores[$0], $0) < (scores[$1], $1) }
            let probabilities = Self.softmax(order.map { scores[$0] })
            var mass = 0.0
            for (rank, token) in order.enumerated().dropLast() {
                mass += probabilities[rank]
                guard mass <= 1 - topP else { break }
                scores[token] = -.infinity
            }
        }
        return scores
    }

    /// The probability of each token: softmax of the processed logits (one-hot for greedy).
    public func probabilities(_ logits: [Double]) -> [Double] {
        guard !isGreedy else { return logits.indices.map { $0 == Self.argmax(logits) ? 1 : 0 } }
        return Self.softmax(processedLogits(logits))
    }

    /// The next token for `logits` (one per token id): the most likely one when greedy, else a
    /// draw from `probabilities(logits)` with one uniform number from `generator`.
    public func nextToken(_ logits: [Double], generator: Generator) -> Int {
        precondition(!logits.isEmpty, "Sampling: no logits to choose from")
        guard !isGreedy else { return Self.argmax(logits) }
        let probabilities = probabilities(logits)
        let u = Tensor.randomUniform([], dtype: .float64, source: .generator(generator)).item()
        // Inverse CDF in token order; a token of probability 0 is never the first to pass u.
        var cumulative = 0.0, last = 0
        for (token, p) in probabilities.enumerated() where p > 0 {
            cumulative += p
            last = token
            if cumulative > u { return token }
        }
        // Rounding left the total just under u.
        return last
    }

    static func argmax(_ values: [Double]) -> Int {
        values.indices.reduce(0) { values[$1] > values[$0] ? $1 : $0 }
    }

    /// Softmax with the maximum subtracted; -inf entries get probability 0.
    static func softmax(_ scores: [Double]) -> [Double] {
        let top = scores.max() ?? 0
        let exps = scores.map { exp($0 - top) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }
}
