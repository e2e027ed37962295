import Ember

/// Gather and Scatter families, OneHot and NonZero. ONNX indices may be negative (counted
/// from the end); they are wrapped once, and indices known before the graph runs are
/// checked against their bound so that a bad one is an error rather than a trap.
enum ONNXIndexingOperators {
    static let all: [ONNXOperator] = [
        ONNXOperator("Gather") { context in
            let data = try context.input(0), indices = try context.input(1)
            let axis = try context.axis(context.int("axis", 0), rank: data.rank)
            let index = try wrapped(indices, bound: data.shape[axis], context)
            let picked = data.indexSelect(axis: axis, index: index.reshaped(to: [-1]))
            let shape = Array(data.shape[..<axis]) + indices.shape + Array(data.shape[(axis + 1)...])
            return [picked.reshaped(to: shape)]
        },
        ONNXOperator("GatherElements", since: 11) { context in
            let data = try context.input(0), indices = try context.input(1)
            let axis = try context.axis(context.int("axis", 0), rank: data.rank)
            guard indices.rank == data.rank else { throw context.fail("indices \(indices.shape) must have the rank of data \(data.shape)") }
            return [data.gather(axis: axis, index: try wrapped(indices, bound: data.shape[axis], context))]
        },
        ONNXOperator("GatherND", since: 11) { context in
            let data = try context.input(0), indices = try context.input(1)
            let batch = context.int("batch_dims", 0)
            let (flat, linear, k) = try ndIndex(data, indices, batchDims: batch, context)
            let rest = Array(data.shape[(batch + k)...])
            let picked = flat.indexSelect(axis: 0, index: linear.reshaped(to: [-1]))
            return [picked.reshaped(to: Array(indices.shape.dropLast()) + rest)]
        },
        ONNXOperator("ScatterElements", since: 11) { context in try scatterElements(context) },
        // Scatter is ScatterElements' name in opsets 9 and 10.
        ONNXOperator("Scatter", since: 9) { context in try scatterElements(context) },
        ONNXOperator("Compress", since: 9) { context in
            let x = try context.input(0), condition = try context.input(1)
            guard !condition.isAbstract else { throw context.fail("the output's size depends on the condition's values: it runs only eagerly") }
            let flags = condition.doubles
            let axis = try context.has("axis") ? context.axis(context.int("axis", 0), rank: x.rank) : nil
            let source = axis == nil ? x.reshaped(to: [-1]) : x
            let length = source.shape[axis ?? 0]
            guard condition.rank == 1, flags.count <= length else { throw context.fail("condition \(condition.shape) is longer than axis of length \(length)") }
            let kept = flags.indices.filter { flags[$0] != 0 }.map { Int64($0) }
            return [source.indexSelect(axis: axis ?? 0, index: Tensor(kept, shape: [kept.count]))]
        },
        ONNXOperator("ScatterND", since: 11) { context in
            let data = try context.input(0), indices = try context.input(1), updates = try context.input(2)
            let (flat, linear, k) = try ndIndex(data, indices, batchDims: 0, context)
            let rest = Array(data.shape[k...])
            guard updates.shape == Array(indices.shape.dropLast()) + rest else {
                throw context.fail("updates \(updates.shape) must have shape \(Array(indices.shape.dropLast()) + rest)")
            }
            let index = linear.reshaped(to: [-1]), source = updates.reshaped(to: [-1] + rest)
            let add = { (base: Tensor, values: Tensor) in base.indexAdding(axis: 0, index: index, source: values) }
            let result = try scatter(flat, source, context, add: add)
            return [result.reshaped(to: data.shape)]
        },
        ONNXOperator("OneHot", since: 9) { context in
            let indices = try context.input(0), values = try context.input(2)
            guard let depth = try context.doubles(1)?.first.map({ Int($0) }), depth > 0, values.count == 2 else {
                throw context.fail("depth must be a positive scalar and values hold [off, on]")
            }
            let rank = indices.rank + 1
            let axis = try context.axis(context.int("axis", -1), rank: rank)
            let index = indices.cast(to: .int64)
            let positive = Tensor.where(index .< 0, index + Double(depth), index)
            var classes = Array(repeating: 1, count: rank)
            classes[axis] = depth
            let hot = positive.unsqueezed(axis: axis) .== Tensor.arange(depth).reshaped(to: classes)
            let flat = values.reshaped(to: [2])
            return [Tensor.where(hot, flat[1], flat[0])]
        },
        ONNXOperator("NonZero", since: 9) { context in
            let x = try context.input(0)
            guard !x.isAbstract else { throw context.fail("the output's size depends on the input's values: it runs only eagerly, not under compile or vmap") }
            let values = x.doubles
            let strides = x.shape.indices.map { x.shape[($0 + 1)...].reduce(1, *) }
            let hits = values.indices.filter { values[$0] != 0 }
            var coordinates = [Int64]()
            coordinates.reserveCapacity(hits.count * x.rank)
            for axis in 0..<x.rank {
                for flat in hits { coordinates.append(Int64(flat / strides[axis] % x.shape[axis])) }
            }
            return [Tensor(coordinates, shape: [x.rank, hits.count])]
        },
    ]

    static func scatterElements(_ context: ONNXNodeContext) throws -> [Tensor] {
        let data = try context.input(0), indices = try context.input(1), updates = try context.input(2)
        let axis = try context.axis(context.int("axis", 0), rank: data.rank)
        guard indices.shape == updates.shape, indices.rank == data.rank else {
            throw context.fail("indices \(indices.shape) and updates \(updates.shape) must match and have the rank of data \(data.shape)")
        }
        let index = try wrapped(indices, bound: data.shape[axis], context)
        let add = { (base: Tensor, source: Tensor) in base.scatterAdding(axis: axis, index: index, source: source) }
        return [try scatter(data, updates, context, add: add)]
    }

    /// Indices with negative ones wrapped, as int64, checked when their values are known.
    static func wrapped(_ indices: Tensor, bound: Int, _ context: ONNXNodeContext) throws -> Tensor {
        guard !indices.dtype.isFloatingPoint && indices.dtype != .bool else { throw context.fail("indices must be integers, got \(indices.dtype)") }
        if !indices.isAbstract, let bad = indices.scalars(as: Int64.self).first(where: { $0 < -Int64(bound) || $0 >= Int64(bound) }) {
            throw context.fail("index \(bad) is out of range for an axis of size \(bound)")
        }
        let index = indices.cast(to: .int64)
        return Tensor.where(index .< 0, index + Double(bound), index)
    }

    /// GatherND's and ScatterND's view: data with its batch and indexed axes merged into
    /// one, and each index tuple as a position along it.
    static func ndIndex(_ data: Tensor, _ indices: Tensor, batchDims batch: Int, _ context: ONNXNodeContext) throws -> (Tensor, Tensor, Int) {
        guard indices.rank >= 1, let k = indices.shape.last, batch >= 0, batch < min(data.rank, indices.rank),
              batch + k <= data.rank, data.shape[..<batch] == indices.shape[..<batch] else {
            throw context.fail("indices \(indices.shape) cannot index data \(data.shape) with batch_dims \(batch)")
        }
        let indexed = Array(data.shape[batch..<(batch + k)])
        var linear = Tensor.zeros(Array(indices.shape.dropLast()), dtype: .int64)
        for (j, size) in indexed.enumerated() {
            let component = try wrapped(indices.narrow(axis: -1, start: j, count: 1).squeezed(axis: -1), bound: size, context)
            linear = linear * Double(size) + component
        }
        let block = indexed.reduce(1, *)
        if batch > 0 {
            // Each batch entry owns a block of `block` positions.
            let batches = data.shape[..<batch].reduce(1, *)
            let offsets = Tensor.arange(batches).reshaped(to: Array(data.shape[..<batch]) + Array(repeating: 1, count: indices.rank - 1 - batch))
            linear = linear + offsets * Double(block)
        }
        let flat = data.reshaped(to: [data.shape[..<batch].reduce(1, *) * block] + Array(data.shape[(batch + k)...]))
        return (flat, linear, k)
    }

    /// Scatter with ONNX's reductions, from an adding scatter: "none" replaces the targets
    /// (ONNX leaves repeated targets undefined), "add" adds, "mul", "max" and "min" are not supported.
    static func scatter(_ data: Tensor, _ updates: Tensor, _ context: ONNXNodeContext, add: (Tensor, Tensor) -> Tensor) throws -> Tensor {
        switch context.string("reduction", "none") {
        case "add":
            return add(data, updates)
        case "none":
            let hit = add(Tensor.zeros(data.shape, dtype: .float32), Tensor.ones(updates.shape, dtype: .float32)) .> 0
            return Tensor.where(hit, add(Tensor.zeros(like: data), updates), data)
        case let reduction:
            throw context.fail("reduction '\(reduction)' is not supported (none and add are)")
        }
    }
}
