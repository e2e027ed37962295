import Ember
import Foundation

/// JAX's `pmap` over the ranks of a process group (SPMD over MPI processes):
/// `pmap(f, axisName: "batch", group: group)(xs)` runs `f` once on each rank, on that
/// rank's slice of every argument along its in-axis (whose size must be the world size; a
/// nil in-axis passes the argument whole, as replicated parameters are), and returns on
/// every rank each result of every rank stacked along a new first axis, as JAX returns a
/// result per device.
///
/// Inside `f`, the named-axis collectives `psum`, `pmean`, `pmax`, `pmin`, `allGather`,
/// `psumScatter` and `axisIndex` with `axisName` combine values across the ranks
/// (differentiable in both modes: a gradient taken inside `f` through `psum` sums the
/// cotangents of every rank, and a `jvp` through it sums the tangents, as in JAX). The same `f` runs in one process under `vmap(_:axisName:)`, its
/// examples standing for the ranks. Every rank must call the returned function with
/// arguments of the same shapes.
public func pmap(_ f: @escaping ([Tensor]) -> [Tensor], axisName: String, group: any ProcessGroup,
                 inAxes: [Int?]? = nil) -> ([Tensor]) -> [Tensor] {
    { xs in
        let axes = inAxes ?? Array(repeating: 0, count: xs.count)
        precondition(axes.count == xs.count, "pmap: \(axes.count) in-axes for \(xs.count) arguments")
        let mine = zip(xs, axes).enumerated().map { i, item -> Tensor in
            let (x, inAxis) = item
            guard let inAxis else { return x }
            precondition(x.rank > 0 && inAxis >= -x.rank && inAxis < x.rank, "pmap: in-axis \(inAxis) is out of range for argument \(i) of shape \(x.shape)")
            let axis = inAxis < 0 ? inAxis + x.rank : inAxis
            precondition(x.shape[axis] == group.worldSize,
                         "pmap: argument \(i) has \(x.shape[axis]) slices along axis \(axis) for \(group.worldSize) ranks; it must have one per rank")
            return x.narrow(axis: axis, start: group.rank, count: 1).squeezed(axis: axis)
        }
        let results = NamedAxes.bind(axisName, to: group) { f(mine) }
        return stopOnError { try results.map { result in try group.allGather(noGrad { result.detached().contiguous() }) } }
    }
}

/// The process groups bound to axis names by the `pmap` calls in progress on this thread.
enum NamedAxes {
    private static let key = "EmberDistributed.NamedAxes"

    static func bind<R>(_ name: String, to group: any ProcessGroup, _ body: () -> R) -> R {
        let saved = Thread.current.threadDictionary[key]
        var axes = (saved as? [String: any ProcessGroup]) ?? [:]
        axes[name] = group
        Thread.current.threadDictionary[key] = axes
        defer { Thread.current.threadDictionary[key] = saved }
        return body()
    }

    /// The pmap group bound to `name`, else the size of the vmap axis of that name.
    static func binding(of name: String, for collective: String) -> (group: (any ProcessGroup)?, vmapSize: Int?) {
        if let group = (Thread.current.threadDictionary[key] as? [String: any ProcessGroup])?[name] { return (group, nil) }
        if let size = VmapAxes.size(of: name) { return (nil, size) }
        preconditionFailure("\(collective): unbound axis name '\(name)'; call it inside pmap(_:axisName:group:) or vmap(_:axisName:) with that axis name")
    }
}

/// The named-axis collectives. Each is a differentiable function with a batching rule: inside
/// `vmap(_:axisName:)` of its axis it combines the examples; inside `pmap` it calls MPI. Its
/// VJP is the transposed collective and its JVP the collective of the tangents, as in JAX.
enum AxisCollective: Hashable {
    case sum, mean, max, min
    case allGather(axis: Int, tiled: Bool)
    case psumScatter(axis: Int, tiled: Bool)

    var name: String {
        switch self {
        case .sum: return "psum"
        case .mean: return "pmean"
        case .max: return "pmax"
        case .min: return "pmin"
        case .allGather: return "allGather"
        case .psumScatter: return "psumScatter"
        }
    }

    /// The same collective on operands with one more axis in front (a batch of a `vmap`
    /// over another axis name).
    var shifted: AxisCollective {
        switch self {
        case .allGather(let axis, let tiled): return .allGather(axis: axis + 1, tiled: tiled)
        case .psumScatter(let axis, let tiled): return .psumScatter(axis: axis + 1, tiled: tiled)
        default: return self
        }
    }

    private static var functions: [String: ([Tensor]) -> [Tensor]] = [:]
    private static let lock = NSLock()

    /// Applies the collective over the axis `axisName` (one function per collective, name and
    /// axis size, made once: the size decides the result's shape).
    func apply(_ x: Tensor, axisName: String) -> Tensor {
        let (group, vmapSize) = NamedAxes.binding(of: axisName, for: name)
        let key = "\(self) \(axisName) \(group?.worldSize ?? vmapSize!)"
        let function = Self.lock.withLock { () -> ([Tensor]) -> [Tensor] in
            if let found = Self.functions[key] { return found }
            let made = customVJP({ inputs in [forward(inputs[0], axisName)] },
                                 backward: { inputs, outputs, cotangents in [backward(inputs[0], outputs[0], cotangents[0], axisName)] },
                                 batchRule: { values, _ in [batch(values[0], axisName)] },
                                 jvpRule: { inputs, outputs, tangents in [tangents[0].map { jvp(inputs[0], outputs[0], $0, axisName) }] },
                                 name: "\(name)(\(axisName))")
            Self.functions[key] = made
            return made
        }
        return function([x])[0]
    }

    /// The result for one rank (or one example), from the ranks of a pmap.
    private func forward(_ x: Tensor, _ axisName: String) -> Tensor {
        let (bound, vmapSize) = NamedAxes.binding(of: axisName, for: name)
        // Traced for the result's shape only (customVJP's shape rule), or an operand that
        // does not vary along a vmap axis: the examples all hold x.
        guard let group = bound, !x.isAbstract else { return unvaried(x, size: bound?.worldSize ?? vmapSize!) }
        return stopOnError {
            switch self {
            case .sum, .mean, .max, .min:
                let reduction: CollectiveReduction = self == .sum ? .sum : self == .mean ? .average : self == .max ? .max : .min
                return try group.allReduce(noGrad { x.detached().cloned() }, op: reduction)
            case .allGather(let axis, let tiled):
                let stacked = try group.allGather(noGrad { x.detached().contiguous() })
                return Self.fromFront(stacked, axis: axis, tiled: tiled)
            case .psumScatter(let axis, let tiled):
                let front = noGrad { Self.toFront(x.detached(), axis: axis, parts: group.worldSize, tiled: tiled).contiguous() }
                return try group.reduceScatter(front, op: .sum).squeezed(axis: 0)
            }
        }
    }

    /// The result when every one of `size` participants holds `x`.
    private func unvaried(_ x: Tensor, size: Int) -> Tensor {
        switch self {
        case .sum: return x * Double(size)
        case .mean, .max, .min: return x * 1
        case .allGather(let axis, let tiled):
            return Self.fromFront(x.unsqueezed(axis: 0).expanded(to: [size] + x.shape), axis: axis, tiled: tiled)
        case .psumScatter(let axis, let tiled):
            // Only the shape matters here: the parts differ between participants, which an
            // operand shared by every example of a vmap cannot give.
            precondition(x.isAbstract, "psumScatter: inside vmap its operand must vary along the axis (be batched)")
            return (Self.toFront(x, axis: axis, parts: size, tiled: tiled) * Double(size)).narrow(axis: 0, start: 0, count: 1).squeezed(axis: 0)
        }
    }

    /// Under `vmap`, with the batch axis of `x` in front.
    private func batch(_ x: Tensor, _ axisName: String) -> Tensor {
        guard VmapAxes.innermostName == axisName else {
            // Another axis (an enclosing vmap's or a pmap's): the batch passes through.
            return shifted.apply(x, axisName: axisName)
        }
        let size = x.shape[0]
        switch self {
        case .sum: return x.sum(axes: [0], keepDims: true).expanded(to: x.shape)
        case .mean: return x.mean(axes: [0], keepDims: true).expanded(to: x.shape)
        case .max: return x.max(axes: [0], keepDims: true).expanded(to: x.shape)
        case .min: return x.min(axes: [0], keepDims: true).expanded(to: x.shape)
        case .allGather(let axis, let tiled):
            let gathered = Self.fromFront(x, axis: axis, tiled: tiled)
            return gathered.unsqueezed(axis: 0).expanded(to: [size] + gathered.shape)
        case .psumScatter(let axis, let tiled):
            // Example b's operand has the examples' parts along `axis`; it keeps part b of the sum.
            let total = x.sum(axes: [0])
            return Self.toFront(total, axis: axis, parts: size, tiled: tiled)
        }
    }

    /// The cotangent of the operand: the transposed collective of the result's cotangent.
    private func backward(_ x: Tensor, _ y: Tensor, _ cotangent: Tensor, _ axisName: String) -> Tensor {
        switch self {
        case .sum: return psum(cotangent, axisName: axisName)
        case .mean: return pmean(cotangent, axisName: axisName)
        case .max, .min: return psum(cotangent, axisName: axisName) * (x .== y).cast(to: cotangent.dtype)
        case .allGather(let axis, let tiled): return EmberDistributed.psumScatter(cotangent, axisName: axisName, scatterDimension: axis, tiled: tiled)
        case .psumScatter(let axis, let tiled): return EmberDistributed.allGather(cotangent, axisName: axisName, axis: axis, tiled: tiled)
        }
    }

    /// The result's tangent: the linear collectives applied to the tangent; for the maximum
    /// and minimum, the sum of the tangents where the operand reached the result (the
    /// transpose of `backward`'s rule).
    private func jvp(_ x: Tensor, _ y: Tensor, _ tangent: Tensor, _ axisName: String) -> Tensor {
        switch self {
        case .sum, .mean, .allGather, .psumScatter: return apply(tangent, axisName: axisName)
        case .max, .min:
            let reached = (x .== y).cast(to: tangent.dtype)
            return psum(tangent * reached, axisName: axisName)
        }
    }

    /// `stacked` [n, ...] as one result: the parts along a new axis `axis`, or along the
    /// existing one (`tiled`).
    static func fromFront(_ stacked: Tensor, axis: Int, tiled: Bool) -> Tensor {
        let moved = stacked.movingAxis(from: 0, to: axis)
        guard tiled else { return moved }
        var shape = Array(stacked.shape.dropFirst())
        shape[axis] *= stacked.shape[0]
        return moved.reshaped(to: shape)
    }

    /// `x`'s `parts` along `axis` stacked in front: [parts, ...] without the axis, or with
    /// it shrunk to its part (`tiled`).
    static func toFront(_ x: Tensor, axis: Int, parts: Int, tiled: Bool) -> Tensor {
        guard tiled else { return x.movingAxis(from: axis, to: 0) }
        var shape = x.shape
        shape[axis] /= parts
        shape.insert(parts, at: axis)
        return x.reshaped(to: shape).movingAxis(from: axis, to: 0)
    }
}

/// The sum of `x` over the named axis (JAX's `lax.psum`): the ranks of a `pmap`, or the
/// examples of a `vmap(_:axisName:)`.
public func psum(_ x: Tensor, axisName: String) -> Tensor { AxisCollective.sum.apply(x, axisName: axisName) }
/// The mean of `x` over the named axis (`lax.pmean`).
public func pmean(_ x: Tensor, axisName: String) -> Tensor { AxisCollective.mean.apply(x, axisName: axisName) }
/// The elementwise maximum over the named axis (`lax.pmax`).
public func pmax(_ x: Tensor, axisName: String) -> Tensor { AxisCollective.max.apply(x, axisName: axisName) }
/// The elementwise minimum over the named axis (`lax.pmin`).
public func pmin(_ x: Tensor, axisName: String) -> Tensor { AxisCollective.min.apply(x, axisName: axisName) }

/// This rank's index along a pmap's named axis, an int32 scalar (`lax.axis_index`). Not
/// available inside `vmap`, whose examples share one traced function.
public func axisIndex(axisName: String) -> Tensor {
    guard let group = NamedAxes.binding(of: axisName, for: "axisIndex").group else {
        preconditionFailure("axisIndex: '\(axisName)' is a vmap axis; axisIndex is available over pmap's axes only (pass the index as an argument)")
    }
    return Tensor([Int32(group.rank)], shape: [])
}

/// Every participant's `x`, stacked along a new axis `axis` (`lax.all_gather`); with `tiled`,
/// concatenated along the existing axis instead.
public func allGather(_ x: Tensor, axisName: String, axis: Int = 0, tiled: Bool = false) -> Tensor {
    let target = axis < 0 ? axis + x.rank + (tiled ? 0 : 1) : axis
    precondition(target >= 0 && target <= x.rank - (tiled ? 1 : 0), "allGather: axis \(axis) is out of range for shape \(x.shape)")
    return AxisCollective.allGather(axis: target, tiled: tiled).apply(x, axisName: axisName)
}

/// The sum over the named axis, scattered along `scatterDimension` (`lax.psum_scatter`):
/// that axis must have one part per participant, and participant i keeps part i without
/// the axis; with `tiled`, a multiple of their number, and participant i keeps block i.
public func psumScatter(_ x: Tensor, axisName: String, scatterDimension: Int = 0, tiled: Bool = false) -> Tensor {
    let axis = scatterDimension < 0 ? scatterDimension + x.rank : scatterDimension
    precondition(axis >= 0 && axis < x.rank, "psumScatter: scatterDimension \(scatterDimension) is out of range for shape \(x.shape)")
    let (group, vmapSize) = NamedAxes.binding(of: axisName, for: "psumScatter")
    let count = group?.worldSize ?? vmapSize!
    precondition(tiled ? x.shape[axis] % count == 0 : x.shape[axis] == count,
                 "psumScatter: axis \(axis) has size \(x.shape[axis]); it must be \(tiled ? "a multiple of" : "equal to") the axis size \(count)")
    return AxisCollective.psumScatter(axis: axis, tiled: tiled).apply(x, axisName: axisName)
}

extension Tensor {
    /// This tensor with axis `from` moved to position `to` (a view).
    func movingAxis(from: Int, to: Int) -> Tensor {
        var order = Array(0..<rank)
        order.remove(at: from)
        order.insert(from, at: to)
        return permuted(order)
    }
}
