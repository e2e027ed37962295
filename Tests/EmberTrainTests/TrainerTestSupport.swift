import Ember
import EmberData
import EmberNN
@testable import EmberTrain

/// Batches from in-memory tensors, shuffled per epoch from a seed: the smallest
/// `BatchProvider`, so that trainer tests do not depend on the loaders.
struct InMemoryBatches: BatchProvider {
    let inputs: Tensor
    let targets: Tensor
    let batchSize: Int
    var seed: UInt64? = nil

    var batchesPerEpoch: Int? { (inputs.shape[0] + batchSize - 1) / batchSize }

    func batches(epoch: Int, skipping skip: Int) -> AnyIterator<Batch> {
        let n = inputs.shape[0]
        var order = Array(0..<n)
        if let seed {
            let keys = Tensor.randomUniform([n], dtype: .float64, source: .key(Key(seed).fold(in: epoch))).doubles
            order.sort { keys[$0] < keys[$1] }
        }
        var start = skip * batchSize
        return AnyIterator {
            guard start < n else { return nil }
            let indices = Tensor(order[start..<min(start + batchSize, n)].map(Int64.init), shape: [min(batchSize, n - start)])
            start += batchSize
            return Batch(inputs: inputs.indexSelect(axis: 0, index: indices), targets: targets.indexSelect(axis: 0, index: indices))
        }
    }
}

/// Two Gaussian blobs per class in 2-D, four classes.
func blobs(count: Int, seed: UInt64) -> (x: Tensor, y: Tensor) {
    let labels = (0..<count).map { Int64($0 % 4) }
    let centers: [[Float]] = [[2, 2], [-2, 2], [-2, -2], [2, -2]]
    let noise = Tensor.randomNormal([count, 2], std: 0.8, source: .key(Key(seed))).scalars(as: Float.self)
    var points: [Float] = []
    for i in 0..<count {
        points += [centers[Int(labels[i])][0] + noise[2 * i], centers[Int(labels[i])][1] + noise[2 * i + 1]]
    }
    return (Tensor(points, shape: [count, 2]), Tensor(labels, shape: [count]))
}

/// A small classifier with dropout, so that resuming must also restore the generator.
func blobClassifier(seed: UInt64) -> Sequential {
    manualSeed(seed)
    return Sequential(Linear(2, 16), ReLU(), Dropout(probability: 0.2), Linear(16, 4))
}
