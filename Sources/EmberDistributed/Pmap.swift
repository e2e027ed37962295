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
/// `psumScatter` and `axisIndex` with `axisName` combine values across the ranks. They run
/// eagerly and are not differentiated through: take gradients per rank and `pmean` them, as
/// a data-parallel step does. Every rank must call the returned function with arguments of
/// the same shapes.
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
        let results = NamedAxes.binding(axisName, to: group) { f(mine) }
        return stopOnError { try results.map { result in try group.allGather(noGrad { result.detached().contiguous() }) } }
    }
}

/// The process groups bound to axis names by the `pmap` calls in progress on this thread.
enum NamedAxes {
    private static let key = "EmberDistributed.NamedAxes"

    static func binding<R>(_ name: String, to group: any ProcessGroup, _ body: () -> R) -> R {
        let saved = Thread.current.threadDictionary[key]
        var axes = (saved as? [String: any ProcessGroup]) ?? [:]
        axes[name] = group
        Thread.current.threadDictionary[key] = axes
        defer { Thread.current.threadDictionary[key] = saved }
        return body()
    }

    static func group(_ name: String, for collective: String) -> any ProcessGroup {
        guard let group = (Thread.current.threadDictionary[key] as? [String: any ProcessGroup])?[name] else {
            preconditionFailure("\(collective): unbound axis name '\(name)'; call it inside pmap(_:axisName:group:) with that axis name")
        }
        return group
    }
}

/// `x` combined by `op` across the ranks of the named axis, on a copy.
private func reduce(_ x: Tensor, _ axisName: String, _ op: CollectiveReduction, _ collective: String) -> Tensor {
    let group = NamedAxes.group(axisName, for: collective)
    let copy = noGrad { x.detached().cloned() }
    return stopOnError { try group.allReduce(copy, op: op) }
}

/// The sum of `x` over the ranks of the named axis (JAX's `lax.psum`).
public func psum(_ x: Tensor, axisName: String) -> Tensor { reduce(x, axisName, .sum, "psum") }
/// The mean of `x` over the ranks of the named axis (`lax.pmean`).
public func pmean(_ x: Tensor, axisName: String) -> Tensor { reduce(x, axisName, .average, "pmean") }
/// The elementwise maximum over the ranks of the named axis (`lax.pmax`).
public func pmax(_ x: Tensor, axisName: String) -> Tensor { reduce(x, axisName, .max, "pmax") }
/// The elementwise minimum over the ranks of the named axis (`lax.pmin`).
public func pmin(_ x: Tensor, axisName: String) -> Tensor { reduce(x, axisName, .min, "pmin") }

/// This rank's index along the named axis, an int32 scalar (`lax.axis_index`).
public func axisIndex(axisName: String) -> Tensor {
    Tensor([Int32(NamedAxes.group(axisName, for: "axisIndex").rank)], shape: [])
}

/// Every rank's `x`, stacked along a new axis `axis` (`lax.all_gather`); with `tiled`,
/// concatenated along the existing axis instead.
public func allGather(_ x: Tensor, axisName: String, axis: Int = 0, tiled: Bool = false) -> Tensor {
    let group = NamedAxes.group(axisName, for: "allGather")
    let stacked = stopOnError { try group.allGather(noGrad { x.detached().contiguous() }) }
    let target = axis < 0 ? axis + x.rank + (tiled ? 0 : 1) : axis
    precondition(target >= 0 && target <= x.rank - (tiled ? 1 : 0), "allGather: axis \(axis) is out of range for shape \(x.shape)")
    let moved = target == 0 ? stacked : stacked.movingAxis(from: 0, to: target)
    guard tiled else { return moved }
    var shape = x.shape
    shape[target] *= group.worldSize
    return moved.contiguous().reshaped(to: shape)
}

/// The sum over the ranks of the named axis, scattered along `scatterDimension`
/// (`lax.psum_scatter`): that axis must have one slice per rank, and rank r keeps slice r
/// without the axis; with `tiled`, a multiple of the world size, and rank r keeps its block.
public func psumScatter(_ x: Tensor, axisName: String, scatterDimension: Int = 0, tiled: Bool = false) -> Tensor {
    let group = NamedAxes.group(axisName, for: "psumScatter")
    let axis = scatterDimension < 0 ? scatterDimension + x.rank : scatterDimension
    precondition(axis >= 0 && axis < x.rank, "psumScatter: scatterDimension \(scatterDimension) is out of range for shape \(x.shape)")
    let size = x.shape[axis]
    precondition(tiled ? size % group.worldSize == 0 : size == group.worldSize,
                 "psumScatter: axis \(axis) has size \(size); it must be \(tiled ? "a multiple of" : "equal to") the axis size \(group.worldSize)")
    let front = noGrad { (axis == 0 ? x.detached() : x.detached().movingAxis(from: axis, to: 0)).contiguous() }
    let scattered = stopOnError { try group.reduceScatter(front, op: .sum) }
    let block = axis == 0 ? scattered : scattered.movingAxis(from: 0, to: axis)
    return tiled ? block : block.squeezed(axis: axis)
}

extension Tensor {
    /// This tensor with axis `from` moved to position `to` (a view).
    fileprivate func movingAxis(from: Int, to: Int) -> Tensor {
        var order = Array(0..<rank)
        order.remove(at: from)
        order.insert(from, at: to)
        return permuted(order)
    }
}
