import Ember
import EmberData
import Foundation

/// Token id sequences with a class each, for text classifiers.
struct LabelledSequences: Dataset {
    let sequences: [[Int]]
    let labels: [Int]
    var count: Int { sequences.count }
    subscript(index: Int) -> (ids: [Int], label: Int) { (sequences[index], labels[index]) }
}

/// Windows of a token stream with the stream shifted by one as targets, for language models.
struct NextTokenWindows: Dataset {
    let stream: [Int]
    let length: Int
    /// Windows start every `length` tokens; the last one still has its next token.
    var count: Int { max(0, (stream.count - 1) / length) }
    subscript(index: Int) -> (ids: [Int], targets: [Int]) {
        let start = index * length
        return (Array(stream[start..<(start + length)]), Array(stream[(start + 1)..<(start + length + 1)]))
    }
}

enum TextBatches {
    /// Sequences padded on the right to the batch's longest with `padding`: int64 [B, T] ids,
    /// int64 [B] labels.
    static func classification(padding: Int) -> ([(ids: [Int], label: Int)]) -> Batch {
        { examples in
            let length = max(examples.map(\.ids.count).max() ?? 1, 1)
            let ids = examples.flatMap { $0.ids.map(Int64.init) + Array(repeating: Int64(padding), count: length - $0.ids.count) }
            return Batch(inputs: Tensor(ids, shape: [examples.count, length]),
                         targets: Tensor(examples.map { Int64($0.label) }, shape: [examples.count]))
        }
    }

    /// Windows as int64 [B, T] inputs and their next tokens flattened to [B * T] targets,
    /// matching a language model's logits flattened to [B * T, vocabulary].
    static func nextToken(_ examples: [(ids: [Int], targets: [Int])]) -> Batch {
        let length = examples[0].ids.count
        return Batch(inputs: Tensor(examples.flatMap { $0.ids.map(Int64.init) }, shape: [examples.count, length]),
                     targets: Tensor(examples.flatMap { $0.targets.map(Int64.init) }, shape: [examples.count * length]))
    }
}
