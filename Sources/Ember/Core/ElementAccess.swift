import Foundation

/// Reading values back into Swift, and printing.
extension Tensor {
    /// The elements in row-major order as Swift values of type T (converted from the
    /// tensor's dtype).
    public func scalars<T: TensorScalar>(as _: T.Type = T.self) -> [T] {
        if isAbstract {
            fatalError("cannot read the values of a traced tensor (.item(), .scalars, .doubles inside a function under compile, "
                       + "vmap, jvp or trace): it has a shape but no values yet; keep the computation in tensor operations "
                       + "(Tensor.where instead of an if on a value), or read the values from the function's results")
        }
        // Eagerly even inside a traced function: a concrete tensor's values are known.
        let dense = eagerly { cast(to: T.dtype).contiguous() }
        var result = [T]()
        result.reserveCapacity(count)
        let n = count
        if n == 0 { return [] }
        // Every TensorScalar type has the dtype's exact memory layout.
        result = [T](unsafeUninitializedCapacity: n) { buffer, initialized in
            dense.backend.download(dense, into: UnsafeMutableRawBufferPointer(buffer))
            initialized = n
        }
        return result
    }

    /// All elements as Doubles, in row-major order.
    public var doubles: [Double] { scalars(as: Double.self) }

    /// All elements as Floats, in row-major order.
    public var floats: [Float] { scalars(as: Float.self) }

    /// The single element of a one-element tensor.
    public func item() -> Double {
        precondition(count == 1, "item: the tensor has \(count) elements (shape \(shape)), expected one")
        return doubles[0]
    }

    /// The element at a multi-index (negative entries count from the end).
    public func element(at index: [Int]) -> Double {
        precondition(index.count == rank, "element(at:): \(index.count) indices for a tensor of rank \(rank)")
        return self[index.map { $0 as any TensorIndexConvertible }].item()
    }

    private subscript(indices: [any TensorIndexConvertible]) -> Tensor {
        subscripted(indices.map(\.tensorIndex))
    }
}

extension Tensor: CustomStringConvertible {
    /// Shape, dtype and values; large tensors show the first and last three entries per axis.
    public var description: String {
        let header = "Tensor(\(dtype), shape: \(shape)\(requiresGrad ? ", requiresGrad" : ""))"
        if isAbstract { return header + " <traced>" }
        let values = doubles
        let elide = values.count > 1000
        let strides = ShapeMath.contiguousStrides(shape)
        let isFloat = dtype.isFloatingPoint
        func format(_ v: Double) -> String {
            if dtype == .bool { return v != 0 ? "true" : "false" }
            if !isFloat { return String(Int64(v)) }
            if v.isNaN { return "nan" }
            if v.isInfinite { return v > 0 ? "inf" : "-inf" }
            let magnitude = Swift.abs(v)
            if magnitude != 0 && (magnitude >= 1e5 || magnitude < 1e-4) { return String(format: "%.4e", v) }
            return String(format: "%.4f", v)
        }
        func render(_ axis: Int, _ offset: Int, _ indent: String) -> String {
            if axis == shape.count { return format(values[offset]) }
            let n = shape[axis]
            var positions = Array(0..<n)
            if elide && n > 6 { positions = [0, 1, 2, -1, n - 3, n - 2, n - 1] }
            let parts = positions.map { $0 < 0 ? "..." : render(axis + 1, offset + $0 * strides[axis], indent + " ") }
            let separator = axis == shape.count - 1 ? ", " : ",\n" + indent + " "
            return "[" + parts.joined(separator: separator) + "]"
        }
        return header + "\n" + render(0, 0, "")
    }
}
