import COneDNN

/// Pooling kernels: oneDNN in float32 (forward in bfloat16 too), direct loops in float64 (which oneDNN lacks). Max
/// pooling picks the first maximum of each window in row-major order, NaN counting as the
/// maximum, as PyTorch does. The forward kernels read and write row-major or channels-last
/// images as they are.
enum PoolingKernels {
    /// The sizes of one pooling.
    struct Geometry {
        let input: [Int]
        let output: [Int]
        let config: PoolConfig

        init(_ c: PoolConfig, input: [Int]) {
            self.input = input
            config = c
            output = Array(input[..<2]) + (0..<2).map { (input[2 + $0] + 2 * c.padding[$0] - c.kernel[$0]) / c.stride[$0] + 1 }
        }

        var key: String { "\(input) \(config)" }
        var planes: Int { input[0] * input[1] }
        var inputPlane: Int { input[2] * input[3] }
        var outputPlane: Int { output[2] * output[3] }
        var costPerPlane: Int { outputPlane * config.kernel[0] * config.kernel[1] }

        /// The window of output position (oh, ow), clipped to the input.
        @inline(__always)
        func window(_ oh: Int, _ ow: Int) -> (rows: Range<Int>, columns: Range<Int>) {
            let top = oh * config.stride[0] - config.padding[0], left = ow * config.stride[1] - config.padding[1]
            return (max(top, 0)..<min(top + config.kernel[0], input[2]), max(left, 0)..<min(left + config.kernel[1], input[3]))
        }

        /// What an average divides by: the whole window (it never reaches past the padding in
        /// floor mode), or only the input elements it covers.
        @inline(__always)
        func divisor(_ rows: Range<Int>, _ columns: Range<Int>) -> Int {
            config.countIncludePad ? config.kernel[0] * config.kernel[1] : rows.count * columns.count
        }

        var algorithm: dnnl_alg_kind_t { config.countIncludePad ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding }
    }

    static let src = Int32(DNNL_ARG_SRC), dst = Int32(DNNL_ARG_DST), diffSrc = Int32(DNNL_ARG_DIFF_SRC),
               diffDst = Int32(DNNL_ARG_DIFF_DST), workspace = Int32(DNNL_ARG_WORKSPACE)

    /// The cached forward primitive. In training mode it is also the hint oneDNN's backward
    /// descriptor needs, and max pooling then writes a workspace of where each maximum is.
    /// `dtype`: float32, or bfloat16 in and out (oneDNN averages in float32 and rounds once).
    static func forwardEntry(_ g: Geometry, _ algorithm: dnnl_alg_kind_t, training: Bool, source: ImageLayout = .nchw,
                             destination: ImageLayout = .nchw, dtype: DType = .float32) -> OneDNN.Entry {
        let dnn = OneDNN.shared
        let key = "pool2d forward \(algorithm.rawValue) training: \(training) \(g.key) \(source) -> \(destination) \(dtype)"
        let savesWorkspace = training && algorithm == dnnl_pooling_max
        return dnn.entry(key, arguments: [src, dst] + (savesWorkspace ? [workspace] : [])) {
            var srcDesc = OneDNN.memoryDesc(g.input, source.strides(g.input), dtype)
            var dstDesc = OneDNN.memoryDesc(g.output, destination.strides(g.output), dtype)
            var desc = dnnl_pooling_desc_t()
            OneDNN.check(dnnl_pooling_forward_desc_init(
                &desc, training ? dnnl_forward_training : dnnl_forward_inference, algorithm, &srcDesc, &dstDesc,
                dims(g.config.stride), dims(g.config.kernel), dims(g.config.padding), dims(g.config.padding)),
                "pooling descriptor \(key)")
            return dnn.primitiveDesc(&desc, key)
        }
    }

    static func backwardEntry(_ g: Geometry, _ algorithm: dnnl_alg_kind_t) -> OneDNN.Entry {
        let dnn = OneDNN.shared
        let hint = forwardEntry(g, algorithm, training: true).primitiveDesc
        let key = "pool2d backward \(algorithm.rawValue) \(g.key)"
        return dnn.entry(key, arguments: [diffDst, diffSrc] + (algorithm == dnnl_pooling_max ? [workspace] : [])) {
            var diffSrcDesc = OneDNN.denseDesc(g.input), diffDstDesc = OneDNN.denseDesc(g.output)
            var desc = dnnl_pooling_desc_t()
            OneDNN.check(dnnl_pooling_backward_desc_init(
                &desc, algorithm, &diffSrcDesc, &diffDstDesc,
                dims(g.config.stride), dims(g.config.kernel), dims(g.config.padding), dims(g.config.padding)),
                "pooling descriptor \(key)")
            return dnn.primitiveDesc(&desc, hint: hint, key)
        }
    }

    static func dims(_ values: [Int]) -> [dnnl_dim_t] { values.map { dnnl_dim_t($0) } }

    static func maxForward(_ c: PoolConfig, _ x: Tensor, _ out: Tensor, backend: CPUBackend) {
        let (x, source) = backend.imageOperand(x)
        let g = Geometry(c, input: x.shape)
        if x.dtype == .float64 {
            referenceMaxForward(g, backend.contiguous(x), out, Double.self)
            return
        }
        OneDNN.shared.execute(forwardEntry(g, dnnl_pooling_max, training: false, source: source, destination: layout(out),
                                           dtype: x.dtype), [src: x, dst: out])
    }

    /// The layout of an output: row-major, or channels-last where `compile`'s executor chose it.
    static func layout(_ out: Tensor) -> ImageLayout {
        guard let layout = ImageLayout(out) else {
            preconditionFailure("pool2d: the output must be dense, row-major or channels-last; got strides \(out.strides)")
        }
        return layout
    }

    /// oneDNN's max-pooling backward reads the forward's workspace, so the forward runs again here.
    static func maxBackward(_ c: PoolConfig, _ x: Tensor, _ gradY: Tensor, _ out: Tensor, backend: CPUBackend) {
        let x = backend.contiguous(x), gy = backend.contiguous(gradY)
        let g = Geometry(c, input: x.shape)
        if x.dtype == .float64 {
            referenceMaxBackward(g, x, gy, out, Double.self)
            return
        }
        let dnn = OneDNN.shared
        let forward = forwardEntry(g, dnnl_pooling_max, training: true)
        let pooled = Tensor(uninitializedShape: g.output, dtype: .float32, on: backend)
        let workspaceStorage = backend.allocate(byteCount: dnn.byteCount(forward, arg: workspace))
        dnn.execute(forward, [src: x, dst: pooled, workspace: workspaceStorage])
        dnn.execute(backwardEntry(g, dnnl_pooling_max),
                    [diffDst: gy, diffSrc: out, workspace: workspaceStorage])
    }

    static func avgForward(_ c: PoolConfig, _ x: Tensor, _ out: Tensor, backend: CPUBackend) {
        let (x, source) = backend.imageOperand(x)
        let g = Geometry(c, input: x.shape)
        if x.dtype == .float64 {
            referenceAvgForward(g, backend.contiguous(x), out, Double.self)
            return
        }
        OneDNN.shared.execute(forwardEntry(g, g.algorithm, training: true, source: source, destination: layout(out),
                                           dtype: x.dtype), [src: x, dst: out])
    }

    static func avgBackward(_ c: PoolConfig, _ gradY: Tensor, _ out: Tensor, backend: CPUBackend) {
        let gy = backend.contiguous(gradY)
        let g = Geometry(c, input: out.shape)
        if gy.dtype == .float64 {
            referenceAvgBackward(g, gy, out, Double.self)
            return
        }
        OneDNN.shared.execute(backwardEntry(g, g.algorithm), [diffDst: gy, diffSrc: out])
    }

    // MARK: Reference loops (float64), one task per (sample, channel) plane

    /// The plane offset of the maximum in a window.
    @inline(__always)
    static func argmax<T: KernelFloat>(_ plane: UnsafeMutablePointer<T>, _ rows: Range<Int>, _ columns: Range<Int>, width: Int) -> Int {
        var best = -T.infinity
        var index = rows.lowerBound * width + columns.lowerBound
        for h in rows {
            for w in columns {
                let value = plane[h * width + w]
                if value > best || value.isNaN {
                    best = value
                    index = h * width + w
                }
            }
        }
        return index
    }

    /// Calls `body(plane, output, rows, columns)` for every output position with its
    /// clipped window, planes split across threads; `startPlane` runs before a plane's windows.
    @inline(__always)
    static func forEachWindow(_ g: Geometry, startPlane: (Int) -> Void = { _ in },
                              _ body: (_ plane: Int, _ output: Int, _ rows: Range<Int>, _ columns: Range<Int>) -> Void) {
        Parallel.forRange(g.planes, cost: g.costPerPlane) { range in
            for p in range {
                startPlane(p)
                for oh in 0..<g.output[2] {
                    for ow in 0..<g.output[3] {
                        let (rows, columns) = g.window(oh, ow)
                        body(p, (p * g.output[2] + oh) * g.output[3] + ow, rows, columns)
                    }
                }
            }
        }
    }

    static func referenceMaxForward<T: KernelFloat>(_ g: Geometry, _ x: Tensor, _ out: Tensor, _: T.Type) {
        let px = x.pointer(T.self), py = out.pointer(T.self)
        forEachWindow(g) { p, o, rows, columns in
            let plane = px + p * g.inputPlane
            py[o] = plane[argmax(plane, rows, columns, width: g.input[3])]
        }
    }

    static func referenceMaxBackward<T: KernelFloat>(_ g: Geometry, _ x: Tensor, _ gy: Tensor, _ out: Tensor, _: T.Type) {
        let px = x.pointer(T.self), pgy = gy.pointer(T.self), pgx = out.pointer(T.self)
        forEachWindow(g, startPlane: { p in (pgx + p * g.inputPlane).initialize(repeating: 0, count: g.inputPlane) }) { p, o, rows, columns in
            pgx[p * g.inputPlane + argmax(px + p * g.inputPlane, rows, columns, width: g.input[3])] += pgy[o]
        }
    }

    static func referenceAvgForward<T: KernelFloat>(_ g: Geometry, _ x: Tensor, _ out: Tensor, _: T.Type) {
        let px = x.pointer(T.self), py = out.pointer(T.self)
        forEachWindow(g) { p, o, rows, columns in
            let plane = px + p * g.inputPlane
            var sum: T = 0
            for h in rows {
                for w in columns { sum += plane[h * g.input[3] + w] }
            }
            py[o] = sum / T(g.divisor(rows, columns))
        }
    }

    static func referenceAvgBackward<T: KernelFloat>(_ g: Geometry, _ gy: Tensor, _ out: Tensor, _: T.Type) {
        let pgy = gy.pointer(T.self), pgx = out.pointer(T.self)
        forEachWindow(g, startPlane: { p in (pgx + p * g.inputPlane).initialize(repeating: 0, count: g.inputPlane) }) { p, o, rows, columns in
            let gradPlane = pgx + p * g.inputPlane
            let share = pgy[o] / T(g.divisor(rows, columns))
            for h in rows {
                for w in columns { gradPlane[h * g.input[3] + w] += share }
            }
        }
    }
}
