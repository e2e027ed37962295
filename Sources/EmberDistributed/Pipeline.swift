import Ember
import EmberNN
import Foundation

/// Pipeline parallelism: a model cut into consecutive stages, stage r on rank r of a
/// group (GPipe, Huang et al. 2019; PipeDream's 1F1B schedule, Narayanan et al. 2019).
///
/// `step` splits the batch into micro-batches along its first axis. Each stage receives a
/// micro-batch's activations from the previous rank, runs its layers and sends the output on;
/// the last stage computes the loss. Gradients travel back the same way, and each stage's
/// parameter gradients accumulate over the micro-batches, so that after `step` an optimizer
/// step on each rank (over its stage's parameters) equals one process training the whole
/// model on the whole batch. The loss of each micro-batch is divided by their number: the
/// mean of per-micro-batch mean losses is the batch's mean loss when they are of equal size.
///
/// With `.gpipe`, every forward pass runs before any backward pass (all micro-batches'
/// activations are held at once); with `.oneForwardOneBackward`, after a warm-up each stage
/// alternates one forward and one backward pass, so that a stage holds at most (stages −
/// rank) micro-batches' activations. Both leave the same bubble: (stages − 1) /
/// (micro-batches + stages − 1) of each stage's time idle.
public final class Pipeline {
    public enum Schedule: String, Sendable, CaseIterable {
        case gpipe
        case oneForwardOneBackward = "1f1b"
    }

    /// This rank's stage.
    public let stage: any Layer
    public let group: any ProcessGroup
    public let microBatches: Int
    public let schedule: Schedule
    /// Seconds spent computing (forward and backward of this stage) in the last `step`, and
    /// the step's whole duration: 1 − busy / total is this stage's bubble.
    public private(set) var lastTiming: (busy: Double, total: Double) = (0, 0)

    public init(stage: any Layer, group: any ProcessGroup, microBatches: Int, schedule: Schedule = .gpipe) {
        precondition(microBatches > 0, "Pipeline: microBatches must be positive, got \(microBatches)")
        self.stage = stage
        self.group = group
        self.microBatches = microBatches
        self.schedule = schedule
    }

    private var isFirst: Bool { group.rank == 0 }
    private var isLast: Bool { group.rank == group.worldSize - 1 }

    /// One forward and backward pass over a batch. The first stage passes the `input`, the
    /// last the `labels` and `loss` (others may pass nil). Returns the batch's loss on the
    /// last stage, nil elsewhere; the gradients are in the stage's parameters' `grad`.
    @discardableResult
    public func step(input: Tensor?, labels: Tensor?, loss: ((_ output: Tensor, _ labels: Tensor) -> Tensor)?) throws -> Tensor? {
        precondition(!isFirst || input != nil, "Pipeline.step: the first stage needs the input")
        precondition(!isLast || (labels != nil && loss != nil), "Pipeline.step: the last stage needs the labels and the loss")
        let inputs = isFirst ? try split(input!, "input") : []
        let targets = isLast ? try split(labels!, "labels") : []
        let started = Date()
        var busy = 0.0
        var sends = [CollectiveWork]()
        var saved = [(input: Tensor, output: Tensor)]()
        var total: Tensor?

        func forward(_ m: Int) throws {
            let received = isFirst ? inputs[m] : try receiveTensor(from: group.rank - 1, tag: 4 * m)
            let clock = Date()
            let x = received.dtype.isFloatingPoint && !isFirst ? received.requiringGrad() : received
            var y = stage(x)
            if isLast {
                y = loss!(y, targets[m]) / Double(microBatches)
                total = total.map { $0 + y.detached() } ?? y.detached()
            }
            busy += Date().timeIntervalSince(clock)
            if !isLast { sends += try sendTensor(y.detached().contiguous(), to: group.rank + 1, tag: 4 * m) }
            saved.append((x, y))
        }
        func backward(_ m: Int) throws {
            let (x, y) = saved[m]
            let gradient = isLast ? nil : try receive(like: y, from: group.rank + 1, tag: 4 * m + 2)
            let clock = Date()
            if y.requiresGrad { y.backward(gradient) }
            saved[m] = (x, y.detached())  // the micro-batch's graph can go
            busy += Date().timeIntervalSince(clock)
            if !isFirst {
                let g = x.requiresGrad ? (x.grad ?? Tensor.zeros(like: x)) : Tensor.zeros(x.shape, dtype: x.dtype)
                sends.append(try group.startSend(g.contiguous(), to: group.rank - 1, tag: 4 * m + 2))
            }
        }

        switch schedule {
        case .gpipe:
            for m in 0..<microBatches { try forward(m) }
            for m in 0..<microBatches { try backward(m) }
        case .oneForwardOneBackward:
            let warmup = min(group.worldSize - group.rank - 1, microBatches)
            for m in 0..<warmup { try forward(m) }
            for m in warmup..<microBatches {
                try forward(m)
                try backward(m - warmup)
            }
            for m in (microBatches - warmup)..<microBatches { try backward(m) }
        }
        for work in sends { try work.wait() }
        lastTiming = (busy, Date().timeIntervalSince(started))
        return total
    }

    /// The micro-batches of a batch (its first axis a multiple of their number).
    private func split(_ batch: Tensor, _ what: String) throws -> [Tensor] {
        guard batch.rank > 0, batch.shape[0] % microBatches == 0 else {
            throw CollectiveError(rank: group.rank, collective: "pipeline",
                                  problem: "the \(what) of shape \(batch.shape) does not split into \(microBatches) equal micro-batches along its first axis")
        }
        let size = batch.shape[0] / microBatches
        return (0..<microBatches).map { batch.narrow(axis: 0, start: $0 * size, count: size) }
    }

    /// Sends a tensor's dtype and shape (tag), then its values (tag + 1).
    private func sendTensor(_ tensor: Tensor, to destination: Int, tag: Int) throws -> [CollectiveWork] {
        precondition(tensor.rank <= 8, "Pipeline: activations of rank \(tensor.rank) (at most 8)")
        let header = Tensor([Int64(DType.allCases.firstIndex(of: tensor.dtype)!), Int64(tensor.rank)] + tensor.shape.map(Int64.init)
                            + Array(repeating: 0, count: 8 - tensor.rank), shape: [10])
        return [try group.startSend(header, to: destination, tag: tag), try group.startSend(tensor, to: destination, tag: tag + 1)]
    }

    private func receiveTensor(from source: Int, tag: Int) throws -> Tensor {
        let header = Tensor.zeros([10], dtype: .int64)
        try group.receive(into: header, from: source, tag: tag)
        let values = header.scalars(as: Int64.self).map { Int($0) }
        let tensor = Tensor.zeros(Array(values[2..<2 + values[1]]), dtype: DType.allCases[values[0]])
        try group.receive(into: tensor, from: source, tag: tag + 1)
        return tensor
    }

    private func receive(like tensor: Tensor, from source: Int, tag: Int) throws -> Tensor {
        let received = Tensor.zeros(tensor.shape, dtype: tensor.dtype)
        try group.receive(into: received, from: source, tag: tag)
        return received
    }
}

/// Cuts `layers` into `stages` consecutive groups of nearly equal parameter counts and
/// returns the one for `stage` (the seeds' ModelParallel: each process builds the whole
/// model description and keeps its part).
public func pipelineStage(_ layers: [any Layer], stages: Int, stage: Int) -> Sequential {
    precondition(stages > 0 && layers.count >= stages && (0..<stages).contains(stage),
                 "pipelineStage: \(layers.count) layers cannot make \(stages) stages (stage \(stage) asked)")
    let counts = layers.map { max($0.parameterCount, 1) }
    let total = counts.reduce(0, +)
    // A stage ends where the running count first reaches its share of the total, or where
    // the layers left are just enough for one per stage left.
    var bounds = [0]
    var running = 0
    for i in layers.indices {
        running += counts[i]
        let stagesLeft = stages - bounds.count, layersLeft = layers.count - (i + 1)
        guard stagesLeft > 0 else { break }
        if layersLeft == stagesLeft || (running * stages >= total * bounds.count && layersLeft >= stagesLeft) {
            bounds.append(i + 1)
        }
    }
    bounds.append(layers.count)
    return Sequential(Array(layers[bounds[stage]..<bounds[stage + 1]]))
}
