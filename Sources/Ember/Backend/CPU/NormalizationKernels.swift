import CEmberVectorMath
import COneDNN

/// Batch and layer normalization kernels; both compute the biased variance.
///
/// Batch normalization views its input as [N, C, S] (S the spatial size) and runs loops of
/// its own: one task per channel, whose N planes of S stay in cache between the passes over
/// them; float32 in the dispatched C loops (Sources/CEmberVectorMath), float64 in Swift, the
/// same arithmetic. oneDNN 2.6 runs NCHW batch normalization with a
/// slow generic kernel (ncsp_bnorm: 3-4x these loops on ResNet shapes) and its fast one
/// only on blocked layouts, whose reorders cost more than the loops.
///
/// Layer normalization views its input as [M, D] (D the normalized size): oneDNN in float32,
/// loops in float64 (which oneDNN lacks).
enum NormalizationKernels {
    static let src = Int32(DNNL_ARG_SRC), dst = Int32(DNNL_ARG_DST), mean = Int32(DNNL_ARG_MEAN),
               variance = Int32(DNNL_ARG_VARIANCE), scale = Int32(DNNL_ARG_SCALE), shift = Int32(DNNL_ARG_SHIFT),
               diffSrc = Int32(DNNL_ARG_DIFF_SRC), diffDst = Int32(DNNL_ARG_DIFF_DST),
               diffScale = Int32(DNNL_ARG_DIFF_SCALE), diffShift = Int32(DNNL_ARG_DIFF_SHIFT)
    static let flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue

    // MARK: Batch normalization

    /// [N, C, S]
    static func batchDims(_ x: Tensor) -> (n: Int, c: Int, s: Int) {
        (x.shape[0], x.shape[1], x.count / Swift.max(x.shape[0] * x.shape[1], 1))
    }

    /// Inputs (x, weight, bias); outputs (y, mean, variance).
    static func batchNorm(_ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) {
        let dense = inputs.map { backend.contiguous($0) }
        if dense[0].dtype == .float64 {
            batchForward(epsilon, dense, outputs, Double.self)
        } else {
            batchForward(epsilon, dense, outputs, Float.self)
        }
    }

    /// Inputs (x, gradY, mean, variance, weight); outputs (gradX, gradWeight, gradBias).
    static func batchNormBackward(_ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) {
        let dense = inputs.map { backend.contiguous($0) }
        if dense[0].dtype == .float64 {
            batchBackward(epsilon, dense, outputs, Double.self)
        } else {
            batchBackward(epsilon, dense, outputs, Float.self)
        }
    }

    /// The sums of `first(k)` and `second(k)` over 0..<count, with independent accumulators
    /// the compiler vectorizes.
    @inline(__always)
    static func sums<T: KernelFloat>(_ count: Int, _ first: (Int) -> T, _ second: (Int) -> T) -> (T, T) {
        var a = (T(0), T(0), T(0), T(0), T(0), T(0), T(0), T(0)), b = a
        var k = 0
        while k + 8 <= count {
            a.0 += first(k); a.1 += first(k + 1); a.2 += first(k + 2); a.3 += first(k + 3)
            a.4 += first(k + 4); a.5 += first(k + 5); a.6 += first(k + 6); a.7 += first(k + 7)
            b.0 += second(k); b.1 += second(k + 1); b.2 += second(k + 2); b.3 += second(k + 3)
            b.4 += second(k + 4); b.5 += second(k + 5); b.6 += second(k + 6); b.7 += second(k + 7)
            k += 8
        }
        while k < count {
            a.0 += first(k)
            b.0 += second(k)
            k += 1
        }
        return (((a.0 + a.1) + (a.2 + a.3)) + ((a.4 + a.5) + (a.6 + a.7)), ((b.0 + b.1) + (b.2 + b.3)) + ((b.4 + b.5) + (b.6 + b.7)))
    }

    /// One sum: the unused second one is dropped as dead code once inlined.
    @inline(__always)
    static func sum<T: KernelFloat>(_ count: Int, _ term: (Int) -> T) -> T {
        sums(count, term, { _ in 0 }).0
    }

    /// Calls `body` with the offset of each of channel `ch`'s N planes.
    @inline(__always)
    static func planes(_ n: Int, _ c: Int, _ s: Int, channel ch: Int, _ body: (Int) -> Void) {
        for i in 0..<n { body((i * c + ch) * s) }
    }

    /// Mean first, then squared deviations (two passes, for accuracy); each plane's sum in
    /// T, the channel's in Double.
    static func batchForward<T: KernelFloat>(_ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], _: T.Type) {
        let (n, c, s) = batchDims(inputs[0])
        if T.self == Float.self {
            let x = inputs.map { UnsafePointer($0.pointer(Float.self)) }, y = outputs.map { $0.pointer(Float.self) }
            return Parallel.forRange(c, cost: n * s * 4) { range in
                ember_batch_norm_forward(x[0], x[1], x[2], y[0], y[1], y[2], n, c, s, range.lowerBound, range.upperBound, epsilon)
            }
        }
        let px = inputs[0].pointer(T.self), pw = inputs[1].pointer(T.self), pb = inputs[2].pointer(T.self)
        let py = outputs[0].pointer(T.self), pm = outputs[1].pointer(T.self), pv = outputs[2].pointer(T.self)
        let count = Double(n * s)
        Parallel.forRange(c, cost: n * s * 4) { range in
            for ch in range {
                var total = 0.0
                planes(n, c, s, channel: ch) { at in total += sum(s) { px[at + $0] }.kernelDouble }
                let mean = T(kernelDouble: total / count)
                var squares = 0.0
                planes(n, c, s, channel: ch) { at in squares += sum(s) { (px[at + $0] - mean) * (px[at + $0] - mean) }.kernelDouble }
                let variance = squares / count
                let scale = T(kernelDouble: pw[ch].kernelDouble / (variance + epsilon).squareRoot()), bias = pb[ch]
                planes(n, c, s, channel: ch) { at in
                    for k in at..<(at + s) { py[k] = (px[k] - mean) * scale + bias }
                }
                pm[ch] = mean
                pv[ch] = T(kernelDouble: variance)
            }
        }
    }

    /// One pass for the parameters' gradients, one for the input's.
    static func batchBackward<T: KernelFloat>(_ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], _: T.Type) {
        let (n, c, s) = batchDims(inputs[0])
        if T.self == Float.self {
            let x = inputs.map { UnsafePointer($0.pointer(Float.self)) }, y = outputs.map { $0.pointer(Float.self) }
            return Parallel.forRange(c, cost: n * s * 4) { range in
                ember_batch_norm_backward(x[0], x[1], x[2], x[3], x[4], y[0], y[1], y[2], n, c, s, range.lowerBound,
                                          range.upperBound, epsilon)
            }
        }
        let px = inputs[0].pointer(T.self), pgy = inputs[1].pointer(T.self), pm = inputs[2].pointer(T.self)
        let pv = inputs[3].pointer(T.self), pw = inputs[4].pointer(T.self)
        let pgx = outputs[0].pointer(T.self), pgw = outputs[1].pointer(T.self), pgb = outputs[2].pointer(T.self)
        let count = Double(n * s)
        Parallel.forRange(c, cost: n * s * 4) { range in
            for ch in range {
                let mean = pm[ch]
                var gradBias = 0.0, gradCentered = 0.0
                planes(n, c, s, channel: ch) { at in
                    let (bias, centered) = sums(s, { pgy[at + $0] }, { pgy[at + $0] * (px[at + $0] - mean) })
                    gradBias += bias.kernelDouble
                    gradCentered += centered.kernelDouble
                }
                let inverseStd = 1 / (pv[ch].kernelDouble + epsilon).squareRoot()
                let gradWeight = gradCentered * inverseStd
                // dx = w / std * (gy - mean(gy) - x̂ mean(gy x̂)) = a gy + b (x - mean) + d
                let a = pw[ch].kernelDouble * inverseStd
                let (ta, tb, td) = (T(kernelDouble: a), T(kernelDouble: -a * inverseStd * gradWeight / count),
                                    T(kernelDouble: -a * gradBias / count))
                planes(n, c, s, channel: ch) { at in
                    for k in at..<(at + s) { pgx[k] = ta * pgy[k] + tb * (px[k] - mean) + td }
                }
                pgw[ch] = T(kernelDouble: gradWeight)
                pgb[ch] = T(kernelDouble: gradBias)
            }
        }
    }

    // MARK: Layer normalization

    /// The cached training-mode forward primitive, which computes the statistics; also the
    /// hint oneDNN's backward descriptor needs.
    static func forwardEntry(_ dims: [Int], _ epsilon: Double) -> OneDNN.Entry {
        let dnn = OneDNN.shared
        let key = "layer norm forward \(dims) \(epsilon)"
        return dnn.entry(key, arguments: [src, dst, mean, variance, scale, shift]) {
            var data = OneDNN.denseDesc(dims)
            var desc = dnnl_layer_normalization_desc_t()
            OneDNN.check(dnnl_layer_normalization_forward_desc_init(&desc, dnnl_forward_training, &data, nil, Float(epsilon), flags),
                         "normalization descriptor \(key)")
            return dnn.primitiveDesc(&desc, key)
        }
    }

    static func backwardEntry(_ dims: [Int], _ epsilon: Double) -> OneDNN.Entry {
        let dnn = OneDNN.shared
        let hint = forwardEntry(dims, epsilon).primitiveDesc
        let key = "layer norm backward \(dims) \(epsilon)"
        return dnn.entry(key, arguments: [src, mean, variance, diffDst, scale, shift, diffSrc, diffScale, diffShift]) {
            var data = OneDNN.denseDesc(dims), diff = OneDNN.denseDesc(dims)
            var desc = dnnl_layer_normalization_desc_t()
            OneDNN.check(dnnl_layer_normalization_backward_desc_init(&desc, dnnl_backward, &diff, &data, nil, Float(epsilon), flags),
                         "normalization descriptor \(key)")
            return dnn.primitiveDesc(&desc, hint: hint, key)
        }
    }

    /// [M, D]
    static func layerDims(_ x: Tensor, axes: Int) -> [Int] {
        let normalized = ShapeMath.count(Array(x.shape.suffix(axes)))
        return [x.count / Swift.max(normalized, 1), normalized]
    }

    /// Inputs (x, weight, bias); outputs (y, mean, variance).
    static func layerNorm(_ axes: Int, _ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) {
        let dims = layerDims(inputs[0], axes: axes)
        let dense = inputs.map { backend.contiguous($0) }
        if inputs[0].dtype == .float64 {
            referenceLayerForward(dims, epsilon, dense, outputs, Double.self)
            return
        }
        OneDNN.shared.execute(forwardEntry(dims, epsilon), [
            src: dense[0], scale: dense[1], shift: dense[2],
            dst: outputs[0], mean: outputs[1], variance: outputs[2],
        ])
    }

    /// Inputs (x, gradY, mean, variance, weight); outputs (gradX, gradWeight, gradBias).
    /// oneDNN 2.6 counts the shift among the backward's inputs, though no gradient depends
    /// on it: the weight's memory stands in.
    static func layerNormBackward(_ axes: Int, _ epsilon: Double, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) {
        let dims = layerDims(inputs[0], axes: axes)
        let dense = inputs.map { backend.contiguous($0) }
        if inputs[0].dtype == .float64 {
            referenceLayerBackward(dims, epsilon, dense, outputs, Double.self)
            return
        }
        OneDNN.shared.execute(backwardEntry(dims, epsilon), [
            src: dense[0], diffDst: dense[1], mean: dense[2],
            variance: dense[3], scale: dense[4], shift: dense[4],
            diffSrc: outputs[0], diffScale: outputs[1], diffShift: outputs[2],
        ])
    }

    // MARK: Layer normalization loops (float64)

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
