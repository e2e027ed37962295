import Ember

/// How a reduction combines the ranks' values.
public enum CollectiveReduction: String, Sendable, CaseIterable {
    case sum, average, max, min
}

/// The processes that train together, and the collective operations between them
/// (PyTorch's `ProcessGroup`, over MPI or a single process).
///
/// Every operation is started asynchronously and returns a `CollectiveWork` to wait on; the
/// blocking forms in the extension start and wait. Operations work in place on their tensor
/// where MPI allows it. Every rank of the group must call the same collectives in the same
/// order with tensors of the same dtype and shape (per-rank shapes differ only where stated);
/// a group that checks finds a disagreement before any data moves and throws the same
/// `CollectiveError` on every rank.
public protocol ProcessGroup: AnyObject {
    /// This process's index in the group, from 0.
    var rank: Int { get }
    /// The number of processes in the group.
    var worldSize: Int { get }

    /// Combines `tensor` across ranks; every rank ends with the result in `tensor`.
    func startAllReduce(_ tensor: Tensor, op: CollectiveReduction) throws -> CollectiveWork
    /// Copies `root`'s `tensor` into every rank's `tensor`.
    func startBroadcast(_ tensor: Tensor, root: Int) throws -> CollectiveWork
    /// Every rank's `tensor`, stacked in rank order: the result has shape [worldSize] + shape.
    func startAllGather(_ tensor: Tensor) throws -> CollectiveWork
    /// Reduces `tensor` (its first axis a multiple of worldSize) across ranks and gives rank r
    /// the r-th of worldSize equal slices along the first axis.
    func startReduceScatter(_ tensor: Tensor, op: CollectiveReduction) throws -> CollectiveWork
    /// Splits `tensor` into worldSize equal slices along its first axis and sends slice r to
    /// rank r; the result holds the slices received, in rank order (same shape).
    func startAllToAll(_ tensor: Tensor) throws -> CollectiveWork
    /// Completes when every rank has started it.
    func startBarrier() throws -> CollectiveWork
    /// Sends `tensor` to rank `destination`, matched by a `startReceive` with the same tag.
    func startSend(_ tensor: Tensor, to destination: Int, tag: Int) throws -> CollectiveWork
    /// Receives into `tensor` (dtype and shape must match what was sent) from `source`.
    func startReceive(into tensor: Tensor, from source: Int, tag: Int) throws -> CollectiveWork
    /// The group of the listed ranks of this group, numbered in the order listed; nil on
    /// ranks not listed. Every rank of this group must call it with the same list.
    func subgroup(ranks: [Int]) throws -> (any ProcessGroup)?
}

/// An operation in flight; `wait()` finishes it and returns its result tensor (the
/// operand itself for in-place operations).
public final class CollectiveWork {
    private var test: () throws -> Bool
    private var finish: () throws -> Tensor
    private var result: Tensor?

    /// `test` reports (without blocking) whether the transfer is done and drives it on;
    /// `finish` blocks until it is, then returns the result.
    public init(test: @escaping () throws -> Bool, finish: @escaping () throws -> Tensor) {
        self.test = test
        self.finish = finish
    }

    /// Work that is already done.
    public convenience init(completed result: Tensor) {
        self.init(test: { true }, finish: { result })
    }

    /// Whether the operation has finished; calling it also lets MPI make progress.
    public var isCompleted: Bool {
        get throws {
            if result != nil { return true }
            return try test()
        }
    }

    /// Blocks until the operation has finished and returns its result.
    @discardableResult
    public func wait() throws -> Tensor {
        if let result { return result }
        let value = try finish()
        result = value
        test = { true }
        finish = { value }
        return value
    }
}

extension ProcessGroup {
    @discardableResult
    public func allReduce(_ tensor: Tensor, op: CollectiveReduction = .sum) throws -> Tensor {
        try startAllReduce(tensor, op: op).wait()
    }

    @discardableResult
    public func broadcast(_ tensor: Tensor, root: Int = 0) throws -> Tensor {
        try startBroadcast(tensor, root: root).wait()
    }

    public func allGather(_ tensor: Tensor) throws -> Tensor {
        try startAllGather(tensor).wait()
    }

    public func reduceScatter(_ tensor: Tensor, op: CollectiveReduction = .sum) throws -> Tensor {
        try startReduceScatter(tensor, op: op).wait()
    }

    public func allToAll(_ tensor: Tensor) throws -> Tensor {
        try startAllToAll(tensor).wait()
    }

    public func barrier() throws {
        try startBarrier().wait()
    }

    public func send(_ tensor: Tensor, to destination: Int, tag: Int = 0) throws {
        try startSend(tensor, to: destination, tag: tag).wait()
    }

    @discardableResult
    public func receive(into tensor: Tensor, from source: Int, tag: Int = 0) throws -> Tensor {
        try startReceive(into: tensor, from: source, tag: tag).wait()
    }

    /// Whether this is the rank that writes logs and checkpoints.
    public var isMain: Bool { rank == 0 }
}

/// The group of the processes started together: the MPI world when this process was
/// started by `mpirun` (or another MPI launcher), else a group of this process alone. The
/// same program thus runs data-parallel under `mpirun -n N` and alone without a change.
public func defaultProcessGroup() throws -> any ProcessGroup {
    if MPIProcessGroup.isLaunchedByMPI { return try MPIProcessGroup.world() }
    return SingleProcessGroup()
}
