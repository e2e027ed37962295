/// Creating tensors from Swift values and by formula.
extension Tensor {
    /// A tensor holding `values` in row-major order, shaped `shape` (1-D when nil).
    public convenience init<T: TensorScalar>(_ values: [T], shape: [Int]? = nil, on backend: any Backend = defaultBackend) {
        let shape = shape ?? [values.count]
        precondition(ShapeMath.count(shape) == values.count,
                     "Tensor: \(values.count) values cannot fill shape \(shape) (\(ShapeMath.count(shape)) elements)")
        self.init(uninitializedShape: shape, dtype: T.dtype, on: backend)
        values.withUnsafeBytes { backend.upload($0, to: storage, at: 0) }
    }

    /// A matrix from its rows.
    public convenience init<T: TensorScalar>(_ rows: [[T]], on backend: any Backend = defaultBackend) {
        let columns = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == columns }, "Tensor: rows have different lengths \(rows.map(\.count))")
        self.init(rows.flatMap { $0 }, shape: [rows.count, columns], on: backend)
    }

    /// A rank-0 tensor.
    public convenience init<T: TensorScalar>(_ value: T, on backend: any Backend = defaultBackend) {
        self.init([value], shape: [], on: backend)
    }

    /// Values given as Doubles, stored in any dtype.
    public convenience init(doubles values: [Double], shape: [Int]? = nil, dtype: DType, on backend: any Backend = defaultBackend) {
        let shape = shape ?? [values.count]
        precondition(ShapeMath.count(shape) == values.count,
                     "Tensor: \(values.count) values cannot fill shape \(shape) (\(ShapeMath.count(shape)) elements)")
        let wide = Tensor(values, shape: shape, on: backend)
        if dtype == .float64 {
            self.init(storage: wide.storage, shape: shape, strides: wide.strides, offset: 0, dtype: .float64)
        } else {
            // Cast now even inside a traced function: a value made from Swift numbers is a constant.
            let narrow = eagerly { wide.cast(to: dtype) }
            self.init(storage: narrow.storage, shape: shape, strides: narrow.strides, offset: 0, dtype: dtype)
        }
    }

    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32, on backend: any Backend = defaultBackend) -> Tensor {
        let t = Tensor(uninitializedShape: shape, dtype: dtype, on: backend)
        backend.fill(t, with: value)
        return t
    }

    public static func scalar(_ value: Double, dtype: DType = .float32, on backend: any Backend = defaultBackend) -> Tensor {
        full([], value, dtype: dtype, on: backend)
    }

    public static func zeros(_ shape: [Int], dtype: DType = .float32, on backend: any Backend = defaultBackend) -> Tensor {
        full(shape, 0, dtype: dtype, on: backend)
    }

    public static func ones(_ shape: [Int], dtype: DType = .float32, on backend: any Backend = defaultBackend) -> Tensor {
        full(shape, 1, dtype: dtype, on: backend)
    }

    public static func zeros(like x: Tensor) -> Tensor { zeros(x.shape, dtype: x.dtype, on: x.backend) }
    public static func ones(like x: Tensor) -> Tensor { ones(x.shape, dtype: x.dtype, on: x.backend) }

    /// start, start + step, ... below end.
    public static func arange(from start: Double = 0, to end: Double, step: Double = 1, dtype: DType = .float32,
                              on backend: any Backend = defaultBackend) -> Tensor {
        precondition(step != 0, "arange: the step cannot be zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor(doubles: (0..<n).map { start + Double($0) * step }, dtype: dtype, on: backend)
    }

    /// 0, 1, ..., end - 1 (int64 by default, as torch.arange with integers).
    public static func arange(_ end: Int, dtype: DType = .int64, on backend: any Backend = defaultBackend) -> Tensor {
        arange(from: 0, to: Double(end), dtype: dtype, on: backend)
    }

    /// `count` evenly spaced values from start through end.
    public static func linspace(from start: Double, through end: Double, count: Int, dtype: DType = .float32,
                                on backend: any Backend = defaultBackend) -> Tensor {
        precondition(count >= 0, "linspace: count must be non-negative, got \(count)")
        let step = count > 1 ? (end - start) / Double(count - 1) : 0
        // The last of two or more values is exactly `end`, as in torch.linspace; one value is `start`.
        return Tensor(doubles: (0..<count).map { $0 == count - 1 && count > 1 ? end : start + Double($0) * step }, dtype: dtype, on: backend)
    }

    /// The identity matrix (rows x columns, square by default).
    public static func eye(_ rows: Int, _ columns: Int? = nil, dtype: DType = .float32, on backend: any Backend = defaultBackend) -> Tensor {
        let columns = columns ?? rows
        var values = [Double](repeating: 0, count: rows * columns)
        for i in 0..<Swift.min(rows, columns) { values[i * columns + i] = 1 }
        return Tensor(doubles: values, shape: [rows, columns], dtype: dtype, on: backend)
    }
}
