import COneDNN

/// Batch and layer normalization kernels: oneDNN in float32, loops in float64 (which
/// oneDNN lacks). Both compute the biased variance. Batch normalization views its input
/// as [N, C, S, 1] (S the spatial size), layer normalization as [M, D] (D the normalized size).
enum NormalizationKernels {
    static let src = Int32(DNNL_ARG_SRC), dst = Int32(DNNL_ARG_DST), mean = Int32(DNNL_ARG_MEAN),
               variance = Int32(DNNL_ARG_VARIANCE), scale = Int32(DNNL_ARG_SCALE), shift = Int32(DNNL_ARG_SHIFT),
               diffSrc = Int32(DNNL_ARG_DIFF_SRC), diffDst = Int32(DNNL_ARG_DIFF_DST),
               diffScale = Int32(DNNL_ARG_DIFF_SCALE), diffShift = Int32(DNNL_ARG_DIFF_SHIFT)
    static let flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue

    enum Kind: String {
        case batch, layer
    }

    /// The cached training-mode forward primitive, which computes the statistics; also the
    /// hint oneDNN's backward descriptor needs.
    static func forwardEntry(_ kind: Kind, _ dims: [Int], _ epsilon: Double) -> OneDNN.Entry {
        let dnn = OneDNN.shared
        let key = "\(kind) norm forward \(dims) \(epsilon)"
        return dnn.entry(key, arguments: [src, dst, mean, variance, scale, shift]) {
            var data = OneDNN.denseDesc(dims)
            switch kind {
            case .batch:
                var desc = dnnl_batch_normalization_desc_t()
                OneDNN.check(dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_training, &data, Float(epsilon), flags),
                             "normalization descriptor \(key)")
                return dnn.primitiveDesc(&desc, key)
            case .layer:
                var desc = dnnl_layer_normalization_desc_t()
                OneDNN.check(dnnl_layer_normalization_forward_desc_init(&desc, dnnl_forward_training, &data, nil, Float(epsilon), flags),
                             "normalization descriptor \(key)")
                return dnn.primitiveDesc(&desc, key)
            }
        }
    }

    static func backwardEntry(_ kind: Kind, _ dims: [Int], _ epsilon: Double) -> OneDNN.Entry {
        let dnn = OneDNN.shared
        let hint = forwardEntry(kind, dims, epsilon).primitiveDesc
        let key = "\(kind) norm backward \(dims) \(epsilon)"
        return dnn.entry(key, arguments: [src, mean, variance, diffDst, scale, shift, diffSrc, diffScale, diffShift]) {
            var data = OneDNN.denseDesc(dims), diff = OneDNN.denseDesc(dims)
            switch kind {
            case .batch:
                var desc = dnnl_batch_normalization_desc_t()
                OneDNN.check(dnnl_batch_normalization_backward_desc_init(&desc, dnnl_backward, &diff, &data, Float(epsilon), flags),
                             "normalization descriptor \(key)")
                return dnn.primitiveDesc(&desc, hint: hint, key)
            case .layer:
                var desc = dnnl_layer_normalization_desc_t()
                OneDNN.check(dnnl_layer_normalization_backward_desc_init(&desc, dnnl_backward, &diff, &data, nil, Float(epsilon), flags),
                             "normalization descriptor \(key)")
                return dnn.primitiveDesc(&desc, hint: hint, key)
            }
        }
    }

    /// Inputs (x, weight, bias); outputs (y, mean, variance).
    static func forward(_ kind: Kind, _ dims: [Int], _ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) {
        let (x, w, b) = (backend.contiguous(inputs[0]), backend.contiguous(inputs[1]), backend.contiguous(inputs[2]))
        OneDNN.shared.execute(forwardEntry(kind, dims, epsilon), [
            src: x, scale: w, shift: b,
            dst: outputs[0], mean: outputs[1], variance: outputs[2],
        ])
    }

    /// Inputs (x, gradY, mean, variance, weight); outputs (gradX, gradWeight, gradBias).
    /// oneDNN 2.6 counts the shift among the backward's inputs, though no gradient depends
    /// on it: the weight's memory stands in.
    static func backward(_ kind: Kind, _ dims: [Int], _ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) {
        let dense = inputs.map { backend.contiguous($0) }
        OneDNN.shared.execute(backwardEntry(kind, dims, epsilon), [
            src: dense[0], diffDst: dense[1], mean: dense[2],
            variance: dense[3], scale: dense[4], shift: dense[4],
            diffSrc: outputs[0], diffScale: outputs[1], diffShift: outputs[2],
        ])
    }

    /// [N, C, S, 1]
    static func batchDims(_ x: Tensor) -> [Int] {
        [x.shape[0], x.shape[1], x.count / Swift.max(x.shape[0] * x.shape[1], 1), 1]
    }

    /// [M, D]
    static func layerDims(_ x: Tensor, axes: Int) -> [Int] {
        let normalized = ShapeMath.count(Array(x.shape.suffix(axes)))
        return [x.count / Swift.max(normalized, 1), normalized]
    }

    static func batchNorm(_ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) {
        let dims = batchDims(inputs[0])
        if inputs[0].dtype == .float64 {
            let dense = inputs.map { backend.contiguous($0) }
            referenceBatchForward(dims, epsilon, dense, outputs, Double.self)
            return
        }
        forward(.batch, dims, epsilon, inputs, outputs, backend: backend)
    }

    static func batchNormBackward(_ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) {
        let dims = batchDims(inputs[0])
        if inputs[0].dtype == .float64 {
            let dense = inputs.map { backend.contiguous($0) }
            referenceBatchBackward(dims, epsilon, dense, outputs, Double.self)
            return
        }
        backward(.batch, dims, epsilon, inputs, outputs, backend: backend)
    }

    static func layerNorm(_ axes: Int, _ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) {
        let dims = layerDims(inputs[0], axes: axes)
        if inputs[0].dtype == .float64 {
            let dense = inputs.map { backend.contiguous($0) }
            referenceLayerForward(dims, epsilon, dense, outputs, Double.self)
            return
        }
        forward(.layer, dims, epsilon, inputs, outputs, backend: backend)
    }

    static func layerNormBackward(_ axes: Int, _ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) {
        let dims = layerDims(inputs[0], axes: axes)
        if inputs[0].dtype == .float64 {
            let dense = inputs.map { backend.contiguous($0) }
            referenceLayerBackward(dims, epsilon, dense, outputs, Double.self)
            return
        }
        backward(.layer, dims, epsilon, inputs, outputs, backend: backend)
    }

    // MARK: Reference loops (float64)

    /// The mean and biased variance of `count` elements read by `value(k)` (two passes, for accuracy).
    @inline(__always)
    static func moments<T: KernelFloat>(_ count: Int, _ value: (Int) -> T) -> (mean: T, variance: T) {
        var sum: T = 0
        for k in 0..<count { sum += value(k) }
        let mean = sum / T(count)
        var squares: T = 0
        for k in 0..<count {
            let d = value(k) - mean
            squares += d * d
        }
        return (mean, squares / T(count))
    }

    /// One task per channel; channel c's elements are N blocks of S, C * S apart.
    static func referenceBatchForward<T: KernelFloat>(_ dims: [Int], _ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], _: T.Type) {
        let (n, c, s) = (dims[0], dims[1], dims[2])
        let px = inputs[0].pointer(T.self), pw = inputs[1].pointer(T.self), pb = inputs[2].pointer(T.self)
        let py = outputs[0].pointer(T.self), pm = outputs[1].pointer(T.self), pv = outputs[2].pointer(T.self)
        Parallel.forRange(c, cost: n * s * 4) { range in
            for ch in range {
                let at = { (k: Int) in (k / s * c + ch) * s + k % s }
                let (mean, variance) = moments(n * s) { px[at($0)] }
                let inverseStd = 1 / T.sqrt(variance + T(epsilon))
                for k in 0..<(n * s) { py[at(k)] = (px[at(k)] - mean) * inverseStd * pw[ch] + pb[ch] }
                pm[ch] = mean
                pv[ch] = variance
            }
        }
    }

    static func referenceBatchBackward<T: KernelFloat>(_ dims: [Int], _ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], _: T.Type) {
        let (n, c, s) = (dims[0], dims[1], dims[2])
        let px = inputs[0].pointer(T.self), pgy = inputs[1].pointer(T.self), pm = inputs[2].pointer(T.self)
        let pv = inputs[3].pointer(T.self), pw = inputs[4].pointer(T.self)
        let pgx = outputs[0].pointer(T.self), pgw = outputs[1].pointer(T.self), pgb = outputs[2].pointer(T.self)
        Parallel.forRange(c, cost: n * s * 4) { range in
            for ch in range {
                let at = { (k: Int) in (k / s * c + ch) * s + k % s }
                let count = n * s
                let inverseStd = 1 / T.sqrt(pv[ch] + T(epsilon))
                var gradBias: T = 0, gradWeight: T = 0
                for k in 0..<count {
                    gradBias += pgy[at(k)]
                    gradWeight += pgy[at(k)] * (px[at(k)] - pm[ch]) * inverseStd
                }
                // dx = w / std * (gy - mean(gy) - x̂ mean(gy x̂))
                for k in 0..<count {
                    let normalized = (px[at(k)] - pm[ch]) * inverseStd
                    pgx[at(k)] = pw[ch] * inverseStd * (pgy[at(k)] - gradBias / T(count) - normalized * gradWeight / T(count))
                }
                pgw[ch] = gradWeight
                pgb[ch] = gradBias
            }
        }
    }

    /// One task per row for the input and statistics.
    static func referenceLayerForward<T: KernelFloat>(_ dims: [Int], _ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], _: T.Type) {
        let (m, d) = (dims[0], dims[1])
        let px = inputs[0].pointer(T.self), pw = inputs[1].pointer(T.self), pb = inputs[2].pointer(T.self)
        let py = outputs[0].pointer(T.self), pm = outputs[1].pointer(T.self), pv = outputs[2].pointer(T.self)
        Parallel.forRange(m, cost: d * 4) { range in
            for row in range {
                let x = px + row * d, y = py + row * d
                let (mean, variance) = moments(d) { x[$0] }
                let inverseStd = 1 / T.sqrt(variance + T(epsilon))
                for k in 0..<d { y[k] = (x[k] - mean) * inverseStd * pw[k] + pb[k] }
                pm[row] = mean
                pv[row] = variance
            }
        }
    }

    /// One task per row for the input's gradient, then one per column for the parameters'.
    static func referenceLayerBackward<T: KernelFloat>(_ dims: [Int], _ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], _: T.Type) {
        let (m, d) = (dims[0], dims[1])
        let px = inputs[0].pointer(T.self), pgy = inputs[1].pointer(T.self), pm = inputs[2].pointer(T.self)
        let pv = inputs[3].pointer(T.self), pw = inputs[4].pointer(T.self)
        let pgx = outputs[0].pointer(T.self), pgw = outputs[1].pointer(T.self), pgb = outputs[2].pointer(T.self)
        Parallel.forRange(m, cost: d * 4) { range in
            for row in range {
                let x = px + row * d, gy = pgy + row * d, gx = pgx + row * d
                let inverseStd = 1 / T.sqrt(pv[row] + T(epsilon))
                var sum: T = 0, dot: T = 0
                for k in 0..<d {
                    sum += gy[k] * pw[k]
                    dot += gy[k] * pw[k] * (x[k] - pm[row]) * inverseStd
                }
                // dx = 1 / std * (g - mean(g) - x̂ mean(g x̂)) with g = gy * w
                for k in 0..<d {
                    let normalized = (x[k] - pm[row]) * inverseStd
                    gx[k] = inverseStd * (gy[k] * pw[k] - sum / T(d) - normalized * dot / T(d))
                }
            }
        }
        Parallel.forRange(d, cost: m * 2) { range in
            for k in range {
                var gradWeight: T = 0, gradBias: T = 0
                for row in 0..<m {
                    gradWeight += pgy[row * d + k] * (px[row * d + k] - pm[row]) / T.sqrt(pv[row] + T(epsilon))
                    gradBias += pgy[row * d + k]
                }
                pgw[k] = gradWeight
                pgb[k] = gradBias
            }
        }
    }
}
