import Ember

/// A group of this process alone (world size 1): every collective is the identity, so
/// data-parallel code runs unchanged without MPI. Arguments are checked as the MPI group
/// checks them, and a send to itself is kept until received.
public final class SingleProcessGroup: ProcessGroup {
    public let rank = 0
    public let worldSize = 1
    private var sequence = 0
    private var mailbox: [Int: [Tensor]] = [:]

    public init() {}

    private func validate(_ call: CollectiveCall, _ tensor: Tensor?) throws {
        sequence += 1
        try call.validate(tensor, rank: 0, worldSize: 1, position: "\(call.name) #\(sequence)")
    }

    private func copy(_ tensor: Tensor, shape: [Int]? = nil) -> Tensor {
        noGrad { tensor.detached().cloned().reshaped(to: shape ?? tensor.shape) }
    }

    public func startAllReduce(_ tensor: Tensor, op: CollectiveReduction) throws -> CollectiveWork {
        try validate(CollectiveCall(.allReduce, tensor, op: op), tensor)
        return CollectiveWork(completed: tensor)
    }

    public func startBroadcast(_ tensor: Tensor, root: Int) throws -> CollectiveWork {
        try validate(CollectiveCall(.broadcast, tensor, root: root), tensor)
        return CollectiveWork(completed: tensor)
    }

    public func startAllGather(_ tensor: Tensor) throws -> CollectiveWork {
        try validate(CollectiveCall(.allGather, tensor), tensor)
        return CollectiveWork(completed: copy(tensor, shape: [1] + tensor.shape))
    }

    public func startReduceScatter(_ tensor: Tensor, op: CollectiveReduction) throws -> CollectiveWork {
        try validate(CollectiveCall(.reduceScatter, tensor, op: op), tensor)
        return CollectiveWork(completed: copy(tensor))
    }

    public func startAllToAll(_ tensor: Tensor) throws -> CollectiveWork {
        try validate(CollectiveCall(.allToAll, tensor), tensor)
        return CollectiveWork(completed: copy(tensor))
    }

    public func startBarrier() throws -> CollectiveWork {
        try validate(CollectiveCall(.barrier), nil)
        return CollectiveWork(completed: Tensor.zeros([0]))
    }

    public func startSend(_ tensor: Tensor, to destination: Int, tag: Int) throws -> CollectiveWork {
        try validate(CollectiveCall(.send, tensor, root: destination), tensor)
        mailbox[tag, default: []].append(copy(tensor))
        return CollectiveWork(completed: tensor)
    }

    public func startReceive(into tensor: Tensor, from source: Int, tag: Int) throws -> CollectiveWork {
        let call = CollectiveCall(.receive, tensor, root: source)
        try validate(call, tensor)
        let position = "\(call.name) #\(sequence)"
        return CollectiveWork(test: { [unowned self] in mailbox[tag]?.isEmpty == false }) { [unowned self] in
            guard let sent = mailbox[tag]?.first else {
                throw CollectiveError(rank: 0, collective: position, problem: "nothing was sent with tag \(tag); it would wait forever")
            }
            guard sent.dtype == tensor.dtype && sent.shape == tensor.shape else {
                throw CollectiveError(rank: 0, collective: position,
                                      problem: "received \(sent.dtype) \(sent.shape) into a tensor of \(tensor.dtype) \(tensor.shape)")
            }
            mailbox[tag]!.removeFirst()
            noGrad { tensor.assign(sent) }
            return tensor
        }
    }

    public func subgroup(ranks: [Int]) throws -> (any ProcessGroup)? {
        try validate(CollectiveCall(.subgroup, shape: ranks), nil)
        return ranks.contains(0) ? SingleProcessGroup() : nil
    }
}
