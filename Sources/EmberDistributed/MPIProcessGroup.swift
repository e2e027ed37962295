import CEmberMPI
import CMPI
import Ember
import Foundation

/// A process group over an MPI communicator (Open MPI): the world of the processes that
/// `mpirun` started, or a subgroup of it.
///
/// Collectives are MPI's non-blocking ones (MPI_Iallreduce, ...) on the tensor's own memory
/// where it is dense; a `CollectiveWork` drives and finishes them. Before data moves, the
/// ranks exchange a description of the call (operation, dtype, shape, root, sequence
/// number) when `verifiesCollectives` is on: ranks that disagree all throw the same
/// `CollectiveError` instead of hanging or corrupting memory, at the cost of one small
/// allgather per collective. With a `timeout`, a rank that waits longer than that for the
/// others to reach a collective throws an error naming it (the group is unusable after).
public final class MPIProcessGroup: ProcessGroup {
    public let rank: Int
    public let worldSize: Int
    /// Exchange and compare every collective's description before it runs.
    public var verifiesCollectives = true
    /// How long a rank waits for the others to reach a collective (checked collectives only).
    public var timeout: Duration?
    let communicator: MPI_Comm
    /// Collectives started, which every rank counts alike.
    private var sequence = 0
    /// Sends and receives started, numbered apart: their number differs between ranks (the
    /// middle stages of a pipeline both send and receive).
    private var pointToPointSequence = 0

    /// MPI is called by one thread at a time (MPI_THREAD_SERIALIZED).
    static let lock = NSLock()

    private init(communicator: MPI_Comm) throws {
        self.communicator = communicator
        var rank: Int32 = 0, size: Int32 = 0
        try Self.check(MPI_Comm_rank(communicator, &rank), rank: -1, "MPI_Comm_rank")
        try Self.check(MPI_Comm_size(communicator, &size), rank: Int(rank), "MPI_Comm_size")
        self.rank = Int(rank)
        worldSize = Int(size)
    }

    /// Whether an MPI launcher (mpirun, srun with PMIx) started this process.
    public static var isLaunchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"].contains { environment[$0] != nil }
    }

    private nonisolated(unsafe) static var worldGroup: MPIProcessGroup?
    /// Set when a collective timed out: its request can never finish, so MPI_Finalize (which
    /// waits for every rank) would hang; the process exits without it, and mpirun, seeing a
    /// rank end without finalizing, stops the job.
    private nonisolated(unsafe) static var abandonedCollective = false

    /// Every process of the MPI job. Initializes MPI on first use (and finalizes it when the
    /// process exits); without a launcher, MPI starts this process as a world of one.
    public static func world() throws -> MPIProcessGroup {
        try lock.withLock {
            if let worldGroup { return worldGroup }
            var initialized: Int32 = 0
            MPI_Initialized(&initialized)
            if initialized == 0 {
                var provided: Int32 = 0
                try check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_SERIALIZED), &provided), rank: -1, "MPI_Init_thread")
                if provided < Int32(MPI_THREAD_SERIALIZED) {
                    throw CollectiveError(rank: -1, collective: "MPI_Init_thread",
                                          problem: "this MPI library offers thread level \(provided), Ember needs MPI_THREAD_SERIALIZED")
                }
                atexit {
                    var finalized: Int32 = 0
                    MPI_Finalized(&finalized)
                    if finalized == 0 && !MPIProcessGroup.abandonedCollective { MPI_Finalize() }
                }
            }
            try check(ember_mpi_create_half_ops(), rank: -1, "MPI_Op_create")
            let world = ember_mpi_comm_world()
            // Errors come back as codes, thrown as CollectiveError, instead of aborting.
            MPI_Comm_set_errhandler(world, ember_mpi_errors_return())
            let group = try MPIProcessGroup(communicator: world)
            worldGroup = group
            return group
        }
    }

    /// Ends every process of the job at once (MPI_Abort): for a rank that fails on its own
    /// while the others may be waiting for it in a collective, where exiting normally would
    /// wait for them in MPI_Finalize. mpirun prints which rank aborted.
    public static func abortJob(exitCode: Int32) -> Never {
        MPI_Abort(ember_mpi_comm_world(), exitCode)
        exit(exitCode)
    }

    static func check(_ code: Int32, rank: Int, _ collective: String) throws(CollectiveError) {
        guard code != MPI_SUCCESS else { return }
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        throw CollectiveError(rank: rank, collective: collective, problem: "MPI error: " + String(cString: buffer))
    }

    // MARK: Starting a collective

    /// Validates the call, compares it across ranks when verifying, and returns its name
    /// with its position in the sequence ("allreduce #3").
    private func begin(_ call: CollectiveCall, _ tensor: Tensor?) throws -> String {
        let pointToPoint = call.kind == .send || call.kind == .receive
        if pointToPoint { pointToPointSequence += 1 } else { sequence += 1 }
        let position = "\(call.name) #\(pointToPoint ? pointToPointSequence : sequence)"
        try call.validate(tensor, rank: rank, worldSize: worldSize, position: position)
        if verifiesCollectives && !pointToPoint {
            try verify(call, position: position)
        }
        return position
    }

    private func verify(_ call: CollectiveCall, position: String) throws {
        let mine = call.encoded(sequence: sequence)
        var all = [Int64](repeating: 0, count: mine.count * worldSize)
        var request: MPI_Request?
        try Self.lock.withLock {
            try Self.check(MPI_Iallgather(mine, Int32(mine.count), ember_mpi_int64(), &all, Int32(mine.count), ember_mpi_int64(),
                                          communicator, &request), rank: rank, position)
        }
        try wait(&request, position: position, deadline: timeout.map { ContinuousClock.now + $0 })
        if let problem = CollectiveCall.disagreement(all, worldSize: worldSize) {
            throw CollectiveError(rank: rank, collective: position, problem: problem)
        }
    }

    /// Waits for `request`, polling until `deadline` when there is one.
    private func wait(_ request: inout MPI_Request?, position: String, deadline: ContinuousClock.Instant? = nil) throws {
        guard let deadline else {
            try Self.lock.withLock { try Self.check(MPI_Wait(&request, nil), rank: rank, position) }
            return
        }
        while true {
            var done: Int32 = 0
            try Self.lock.withLock { try Self.check(MPI_Test(&request, &done, nil), rank: rank, position) }
            if done != 0 { return }
            if ContinuousClock.now > deadline {
                Self.abandonedCollective = true
                throw CollectiveError(rank: rank, collective: position,
                                      problem: "timed out after \(timeout!) waiting for the other ranks to reach it; the group cannot be used any more")
            }
            sched_yield()
        }
    }

    /// The MPI datatype a tensor of `dtype` travels as.
    private func datatype(_ dtype: DType) -> MPI_Datatype {
        switch dtype {
        case .bool: return ember_mpi_int8()
        case .int32: return ember_mpi_int32()
        case .int64: return ember_mpi_int64()
        case .float16, .bfloat16: return ember_mpi_uint16()
        case .float32: return ember_mpi_float()
        case .float64: return ember_mpi_double()
        }
    }

    /// The MPI operation reducing `dtype` by `op` (a sum, for an average).
    private func operation(_ op: CollectiveReduction, _ dtype: DType) -> MPI_Op {
        if dtype.isHalf {
            let kind = dtype == .bfloat16 ? EMBER_HALF_BF16 : EMBER_HALF_FP16
            switch op {
            case .sum, .average: return ember_mpi_half_op(kind, EMBER_HALF_SUM)
            case .max: return ember_mpi_half_op(kind, EMBER_HALF_MAX)
            case .min: return ember_mpi_half_op(kind, EMBER_HALF_MIN)
            }
        }
        switch op {
        case .sum, .average: return ember_mpi_sum()
        case .max: return ember_mpi_max()
        case .min: return ember_mpi_min()
        }
    }

    /// A request in flight with the tensors it reads and writes, kept alive until it is done.
    private final class Pending {
        var request: MPI_Request?
        let buffers: [Tensor]
        init(_ buffers: [Tensor]) { self.buffers = buffers }
    }

    /// Starts the MPI call `start` (given the request to fill) and wraps it in a work whose
    /// result comes from `complete` once the request has finished.
    private func launch(_ position: String, keeping buffers: [Tensor], _ start: (inout MPI_Request?) -> Int32,
                        complete: @escaping () throws -> Tensor) throws -> CollectiveWork {
        let pending = Pending(buffers)
        let rank = rank
        try Self.lock.withLock { try Self.check(start(&pending.request), rank: rank, position) }
        return CollectiveWork(test: {
            var done: Int32 = 0
            try Self.lock.withLock { try Self.check(MPI_Test(&pending.request, &done, nil), rank: rank, position) }
            return done != 0
        }, finish: {
            try Self.lock.withLock { try Self.check(MPI_Wait(&pending.request, nil), rank: rank, position) }
            return try complete()
        })
    }

    /// A dense tensor holding `tensor`'s values: the tensor itself when it already is one.
    private func dense(_ tensor: Tensor) -> Tensor {
        tensor.isContiguous ? tensor : noGrad { tensor.detached().cloned() }
    }

    // MARK: Collectives

    public func startAllReduce(_ tensor: Tensor, op: CollectiveReduction) throws -> CollectiveWork {
        let position = try begin(CollectiveCall(.allReduce, tensor, op: op), tensor)
        let buffer = dense(tensor)
        let worldSize = worldSize
        return try launch(position, keeping: [buffer], { request in
            MPI_Iallreduce(ember_mpi_in_place(), buffer.baseAddress, Int32(buffer.count), datatype(buffer.dtype),
                           operation(op, buffer.dtype), communicator, &request)
        }, complete: {
            noGrad {
                if op == .average { buffer.assign(buffer / Double(worldSize)) }
                if buffer !== tensor { tensor.assign(buffer) }
            }
            return tensor
        })
    }

    public func startBroadcast(_ tensor: Tensor, root: Int) throws -> CollectiveWork {
        let position = try begin(CollectiveCall(.broadcast, tensor, root: root), tensor)
        let buffer = dense(tensor)
        return try launch(position, keeping: [buffer], { request in
            MPI_Ibcast(buffer.baseAddress, Int32(buffer.count), datatype(buffer.dtype), Int32(root), communicator, &request)
        }, complete: {
            if buffer !== tensor { noGrad { tensor.assign(buffer) } }
            return tensor
        })
    }

    public func startAllGather(_ tensor: Tensor) throws -> CollectiveWork {
        let position = try begin(CollectiveCall(.allGather, tensor), tensor)
        let input = dense(tensor)
        let output = Tensor(uninitializedShape: [worldSize] + tensor.shape, dtype: tensor.dtype)
        let type = datatype(tensor.dtype)
        return try launch(position, keeping: [input, output], { request in
            MPI_Iallgather(input.baseAddress, Int32(input.count), type, output.baseAddress, Int32(input.count), type,
                           communicator, &request)
        }, complete: { output })
    }

    public func startReduceScatter(_ tensor: Tensor, op: CollectiveReduction) throws -> CollectiveWork {
        let position = try begin(CollectiveCall(.reduceScatter, tensor, op: op), tensor)
        let input = dense(tensor)
        var shape = tensor.shape
        shape[0] /= worldSize
        let output = Tensor(uninitializedShape: shape, dtype: tensor.dtype)
        let worldSize = worldSize
        return try launch(position, keeping: [input, output], { request in
            MPI_Ireduce_scatter_block(input.baseAddress, output.baseAddress, Int32(output.count), datatype(tensor.dtype),
                                      operation(op, tensor.dtype), communicator, &request)
        }, complete: {
            if op == .average { noGrad { output.assign(output / Double(worldSize)) } }
            return output
        })
    }

    public func startAllToAll(_ tensor: Tensor) throws -> CollectiveWork {
        let position = try begin(CollectiveCall(.allToAll, tensor), tensor)
        let input = dense(tensor)
        let output = Tensor(uninitializedShape: tensor.shape, dtype: tensor.dtype)
        let type = datatype(tensor.dtype)
        let chunk = Int32(tensor.count / worldSize)
        return try launch(position, keeping: [input, output], { request in
            MPI_Ialltoall(input.baseAddress, chunk, type, output.baseAddress, chunk, type, communicator, &request)
        }, complete: { output })
    }

    public func startBarrier() throws -> CollectiveWork {
        let position = try begin(CollectiveCall(.barrier), nil)
        return try launch(position, keeping: [], { request in MPI_Ibarrier(communicator, &request) },
                          complete: { Tensor.zeros([0]) })
    }

    public func startSend(_ tensor: Tensor, to destination: Int, tag: Int) throws -> CollectiveWork {
        let position = try begin(CollectiveCall(.send, tensor, root: destination), tensor)
        let buffer = dense(tensor)
        return try launch(position, keeping: [buffer], { request in
            MPI_Isend(buffer.baseAddress, Int32(buffer.count), datatype(buffer.dtype), Int32(destination), Int32(tag),
                      communicator, &request)
        }, complete: { tensor })
    }

    public func startReceive(into tensor: Tensor, from source: Int, tag: Int) throws -> CollectiveWork {
        let position = try begin(CollectiveCall(.receive, tensor, root: source), tensor)
        let buffer = dense(tensor)
        let pending = Pending([buffer])
        let rank = rank
        let type = datatype(buffer.dtype)
        try Self.lock.withLock {
            try Self.check(MPI_Irecv(buffer.baseAddress, Int32(buffer.count), type, Int32(source), Int32(tag), communicator,
                                     &pending.request), rank: rank, position)
        }
        var status = MPI_Status()
        return CollectiveWork(test: {
            var done: Int32 = 0
            try Self.lock.withLock { try Self.check(MPI_Test(&pending.request, &done, &status), rank: rank, position) }
            return done != 0
        }, finish: {
            let code = Self.lock.withLock { MPI_Wait(&pending.request, &status) }
            if code != MPI_SUCCESS {
                try Self.check(code, rank: rank, position + " (the message sent is larger than the \(tensor.dtype) \(tensor.shape) receiving it?)")
            }
            var received: Int32 = 0
            Self.lock.withLock { _ = MPI_Get_count(&status, type, &received) }
            if Int(received) != buffer.count {
                throw CollectiveError(rank: rank, collective: position,
                                      problem: "received \(received) elements from rank \(source) into a tensor of \(buffer.count) (\(tensor.dtype) \(tensor.shape))")
            }
            if buffer !== tensor { noGrad { tensor.assign(buffer) } }
            return tensor
        })
    }

    public func subgroup(ranks: [Int]) throws -> (any ProcessGroup)? {
        let position = try begin(CollectiveCall(.subgroup, shape: ranks), nil)
        let index = ranks.firstIndex(of: rank)
        var newCommunicator: MPI_Comm?
        try Self.lock.withLock {
            try Self.check(MPI_Comm_split(communicator, index == nil ? ember_mpi_undefined() : 0, Int32(index ?? 0),
                                          &newCommunicator), rank: rank, position)
        }
        guard index != nil, let newCommunicator else { return nil }
        MPI_Comm_set_errhandler(newCommunicator, ember_mpi_errors_return())
        let group = try MPIProcessGroup(communicator: newCommunicator)
        group.verifiesCollectives = verifiesCollectives
        group.timeout = timeout
        return group
    }
}
