import Ember
import EmberData

/// How token sequences become a batch, the same in training and in prediction.
public enum TextBatches {
    /// Sequences padded on the right to the batch's longest with `padding`: int64 [B, T] ids,
    /// int64 [B] labels.
    public static func classification(padding: Int) -> ([(ids: [Int], label: Int)]) -> Batch {
        { examples in
            let length = max(examples.map(\.ids.count).max() ?? 1, 1)
            let ids = examples.flatMap { $0.ids.map(Int64.init) + Array(repeating: Int64(padding), count: length - $0.ids.count) }
            return Batch(inputs: Tensor(ids, shape: [examples.count, length]),
                         targets: Tensor(examples.map { Int64($0.label) }, shape: [examples.count]))
        }
    }

    /// Windows as int64 [B, T] inputs and their next tokens flattened to [B * T] targets,
    /// matching a language model's logits flattened to [B * T, vocabulary].
    public static func nextToken(_ examples: [(ids: [Int], targets: [Int])]) -> Batch {
        let length = examples[0].ids.count
        return Batch(inputs: Tensor(examples.flatMap { $0.ids.map(Int64.init) }, shape: [examples.count, length]),
                     targets: Tensor(examples.flatMap { $0.targets.map(Int64.init) }, shape: [examples.count * length]))
    }
}
