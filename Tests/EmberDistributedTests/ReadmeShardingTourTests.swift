import Ember
import EmberDistributed
import EmberModels
import EmberNN
import EmberOptim
import XCTest

/// The README's sharding tour, verbatim, in a world of one process.
final class ReadmeShardingTourTests: XCTestCase {
    func testTour() throws {
        let group = SingleProcessGroup()
        let model = Sequential(Linear(6, 8), ReLU(), Linear(8, 3))
        let (myBatch, myLabels) = (Tensor.randomNormal([4, 6]), Tensor([Int64(0), 1, 2, 1]))
        let blocks: [any Layer] = [Linear(6, 8), ReLU(), Linear(8, 3)]
        let layers: [any Layer] = [Linear(6, 8), ReLU(), Linear(8, 3)]
        let (x, y) = (Tensor.randomNormal([8, 6]), Tensor.randomIntegers([8], high: 3))
        let perRank = Tensor.randomNormal([group.worldSize, 5])
        let gpt = GPT(GPTConfig(vocabSize: 11, blockSize: 4, nLayer: 2, nHead: 2, nEmbd: 8))

        // ZeRO stage 1 (optimizer state) or 2 (and gradients): any EmberOptim optimizer, over this rank's chunks.
        let optimizer = try ShardedOptimizer(model.parameters(), options: Adam.Options(lr: 1e-3), group: group,
                                             stage: .gradients) { AdamW(groups: $0) }
        crossEntropy(logits: model(myBatch), labels: myLabels).backward()   // no DDP wrapper; stage 2 reduce-scatters buckets in backward
        try optimizer.clipGradNorm(maxNorm: 1)      // the norm of the whole gradient, from the shards
        optimizer.step()                            // reduce-scatter, update my chunks, all-gather the parameters
        let state = optimizer.stateDict()           // every rank calls it; the full state, loadable at any world size

        // FSDP (ZeRO stage 3): each unit's parameters live as chunks; all-gathered for its forward and
        // again for its backward (which recomputes the unit), gradients reduce-scattered to their owners;
        // each unit starts its neighbour's all-gather (the next in forward, the previous in backward).
        let sharded = try fullyShard(blocks, group: group, policy: .eachLayer)  // or .parameterCount(minimum:)
        let fsdpOptimizer = Adam(sharded.parameters(), lr: 1e-3)               // the chunks: a plain optimizer
        // Or a whole model cut in place (replaceModule): each block a unit, the root unit holding the
        // rest (embeddings, head); the state keys stay the model's own.
        let root = try fullyShard(gpt, group: group, policy: .moduleTypes([GPTBlock.self]))  // or .parameterCount(minimum:), .wholeModel

        // Pipeline: stage r on rank r, micro-batches, GPipe or 1F1B.
        let stage = pipelineStage(layers, stages: group.worldSize, stage: group.rank)
        let pipeline = Pipeline(stage: stage, group: group, microBatches: 4, schedule: .oneForwardOneBackward)
        let loss = try pipeline.step(input: x, labels: y, loss: { crossEntropy(logits: $0, labels: $1) })  // on the last stage

        // pmap: f once per rank on its slice, with psum, pmean, pmax, pmin, allGather, psumScatter, axisIndex;
        // vmap with an axis name runs the same program over examples in one process.
        let f = { (xs: [Tensor]) in [xs[0] - pmean(xs[0], axisName: "batch")] }
        let centered = pmap(f, axisName: "batch", group: group)([perRank])   // perRank: [worldSize, ...]
        let sameInOneProcess = vmap(f, axisName: "batch")([perRank])

        XCTAssertEqual(state.info.optimizer, "AdamW")
        XCTAssertEqual(state.tensors.count, 2 * model.parameters().count)  // exp_avg and exp_avg_sq
        crossEntropy(logits: sharded(x), labels: y).backward()
        fsdpOptimizer.step()
        XCTAssertEqual(sharded.parameters().count, 4)
        XCTAssertEqual(fullyShardedUnits(in: root, includingNested: true).map(\.name), ["", "transformer.h.0", "transformer.h.1"])
        XCTAssertEqual(root(Tensor.randomIntegers([1, 4], high: 11)).shape, [1, 4, 11])
        XCTAssertEqual(loss!.shape, [])
        XCTAssertEqual(centered[0].abs().max().item(), 0, accuracy: 1e-6)   // one rank: its own mean
        XCTAssertEqual(sameInOneProcess[0].shape, [1, 5])
    }
}
