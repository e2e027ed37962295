import COneDNN

/// Convolution kernels: oneDNN in float32 and bfloat16 (f32 accumulation; bfloat16 only
/// where the CPU has native bf16 instructions, see `CPUBackend.execute`), direct loops in float64, which oneDNN lacks and
/// gradient checks need. oneDNN's fast kernels want channels in blocks of 16, so most
/// primitives are created in the layouts oneDNN picks and reorder the NCHW / OIHW tensors
/// in and out on each call (weights too: they change every step); the few shapes that run
/// faster on the dense tensors themselves keep them. Channels-last images (what compile's
/// executor passes between convolutions) go to oneDNN's NHWC kernels as they are, and
/// fixed weights (a compiled function's constants) are reordered once.
enum ConvolutionKernels {
    /// The sizes of one convolution.
    struct Geometry {
        let input: [Int]
        let weight: [Int]
        let output: [Int]
        let config: ConvConfig
        /// The element type of the operands (float32 or bfloat16 for oneDNN).
        let dtype: DType
        /// The result's: `dtype`, or float32 for a bfloat16 convolution that writes its
        /// result widened (oneDNN rounds nothing then; see `HalfConvolutionOutput`).
        let outputDtype: DType

        init(_ c: ConvConfig, input: [Int], weight: [Int], dtype: DType = .float32, outputDtype: DType? = nil) {
            self.input = input
            self.weight = weight
            self.config = c
            self.dtype = dtype
            self.outputDtype = outputDtype ?? dtype
            output = [input[0], weight[0]] + (0..<2).map {
                Convolution.outputSize(input[2 + $0], kernel: weight[2 + $0], stride: c.stride[$0],
                                       padding: c.padding[$0], dilation: c.dilation[$0])
            }
        }

        var key: String {
            "\(input) \(weight) \(config)" + (dtype == .float32 ? "" : " \(dtype)") + (outputDtype == dtype ? "" : " -> \(outputDtype)")
        }
        /// A bias in the result's type when that is float32 (no rounding of a folded batch
        /// norm's shift), else in the operands'.
        var biasDtype: DType { outputDtype == .float32 ? .float32 : dtype }

        var srcDesc: dnnl_memory_desc_t { OneDNN.denseDesc(input, dtype) }
        var dstDesc: dnnl_memory_desc_t { OneDNN.denseDesc(output, outputDtype) }
        /// OIHW; grouped weights are the same memory read as [groups, O/groups, C/groups, kh, kw].
        var weightDims: [Int] { config.groups == 1 ? weight : [config.groups, weight[0] / config.groups] + weight[1...] }
        var weightsDesc: dnnl_memory_desc_t { OneDNN.denseDesc(weightDims, dtype) }

        /// The descriptors to create a primitive with: the dense ones, or ones that let oneDNN
        /// choose the blocked layouts its fast kernels want (`execute` then reorders).
        func layouts(dense: Bool) -> (src: dnnl_memory_desc_t, weights: dnnl_memory_desc_t, dst: dnnl_memory_desc_t) {
            let desc = { (dims: [Int], type: DType) in dense ? OneDNN.denseDesc(dims, type) : OneDNN.anyDesc(dims, type) }
            return (desc(input, dtype), desc(weightDims, dtype), desc(output, outputDtype))
        }

        /// A pointwise convolution over a plane of 256 or more positions is one large matrix
        /// product per image on NCHW memory, which oneDNN's gemm runs near peak without
        /// reorders: faster than the blocked kernels on ResNet-50's 56x56 and 28x28 layers,
        /// within a few percent either way on its 14x14 ones, slower below 12x12
        /// (oneDNN 2.6, AVX-512). Not in bfloat16: oneDNN's bf16 gemm convolution is three
        /// times slower than its blocked bf16 kernels there.
        var isLargePointwise: Bool {
            dtype != .bfloat16 && weight[2] == 1 && weight[3] == 1 && config.stride == [1, 1] && config.padding == [0, 0]
                && config.groups == 1 && output[2] * output[3] >= 256
        }
        var strides: [dnnl_dim_t] { config.stride.map { dnnl_dim_t($0) } }
        /// oneDNN counts dilation from 0 (dense), PyTorch from 1.
        var dilates: [dnnl_dim_t] { config.dilation.map { dnnl_dim_t($0 - 1) } }
        var padding: [dnnl_dim_t] { config.padding.map { dnnl_dim_t($0) } }

        /// Calls `body(x, w, y)` with the dense offsets of every input element, weight element
        /// and output element that meet in the sum for sample `n` and output channel `o`.
        @inline(__always)
        func taps(n: Int, o: Int, _ body: (Int, Int, Int) -> Void) {
            let (channels, height, width) = (input[1], input[2], input[3])
            let (inPerGroup, kh, kw) = (weight[1], weight[2], weight[3])
            let (outHeight, outWidth) = (output[2], output[3])
            let firstChannel = o / (weight[0] / config.groups) * inPerGroup
            for oh in 0..<outHeight {
                for ow in 0..<outWidth {
                    let y = ((n * output[1] + o) * outHeight + oh) * outWidth + ow
                    for ci in 0..<inPerGroup {
                        let xPlane = (n * channels + firstChannel + ci) * height
                        let wPlane = (o * inPerGroup + ci) * kh
                        for i in 0..<kh {
                            let h = oh * config.stride[0] - config.padding[0] + i * config.dilation[0]
                            if h < 0 || h >= height { continue }
                            for j in 0..<kw {
                                let w = ow * config.stride[1] - config.padding[1] + j * config.dilation[1]
                                if w < 0 || w >= width { continue }
                                body((xPlane + h) * width + w, (wPlane + i) * kw + j, y)
                            }
                        }
                    }
                }
            }
        }

        /// Multiply-adds per (sample, output channel) pair, to size parallel work.
        var costPerPair: Int { weight[1] * weight[2] * weight[3] * output[2] * output[3] }
    }

    static let src = Int32(DNNL_ARG_SRC), weights = Int32(DNNL_ARG_WEIGHTS), bias = Int32(DNNL_ARG_BIAS),
               dst = Int32(DNNL_ARG_DST), diffSrc = Int32(DNNL_ARG_DIFF_SRC),
               diffWeights = Int32(DNNL_ARG_DIFF_WEIGHTS), diffDst = Int32(DNNL_ARG_DIFF_DST)

    /// The cached forward primitive; also the hint that oneDNN's backward descriptors need.
    /// Channels-last source and destination are given to oneDNN as they are: its NHWC
    /// kernels run as fast as the blocked ones, with no reorder on the way in or out. With
    /// only one of them channels-last, oneDNN picks both layouts (fixing one would leave it
    /// only its reference kernel for some shapes, an RGB stem's), and `execute` reorders.
    /// `postOps` run on the result before it is written.
    static func forwardEntry(_ g: Geometry, hasBias: Bool, source: ImageLayout = .nchw, destination: ImageLayout = .nchw,
                             postOps: [OneDNN.PostOp] = []) -> OneDNN.Entry {
        let dnn = OneDNN.shared
        let key = "conv2d forward \(g.key) bias: \(hasBias) \(source) -> \(destination) post-ops: \(postOps.map(\.key))"
        let srcDense = OneDNN.memoryDesc(g.input, source.strides(g.input), g.dtype)
        let dstDense = OneDNN.memoryDesc(g.output, destination.strides(g.output), g.outputDtype)
        return dnn.entry(key, arguments: [src, weights, dst] + (hasBias ? [bias] : []),
                         dense: [src: srcDense, weights: g.weightsDesc, dst: dstDense]) {
            if g.config.winograd, let pd = winogradPrimitiveDesc(g, hasBias: hasBias, postOps: postOps, key) { return pd }
            let gemm = g.isLargePointwise && source == .nchw && destination == .nchw
            var (srcDesc, weightsDesc, dstDesc) = g.layouts(dense: gemm)
            if source == .nhwc && destination == .nhwc { (srcDesc, dstDesc) = (srcDense, dstDense) }
            // A zero descriptor disables the bias term.
            var biasDesc = hasBias ? OneDNN.denseDesc([g.weight[0]], g.biasDtype) : dnnl_memory_desc_t()
            var desc = dnnl_convolution_desc_t()
            OneDNN.check(dnnl_dilated_convolution_forward_desc_init(
                &desc, dnnl_forward_training, dnnl_convolution_direct, &srcDesc, &weightsDesc, &biasDesc, &dstDesc,
                g.strides, g.dilates, g.padding, g.padding), "convolution descriptor \(key)")
            return dnn.primitiveDesc(&desc, postOps: postOps, key)
        }
    }

    /// oneDNN's Winograd convolution in the layouts it picks, or nil where it has none (it
    /// runs float32 3×3 stride-1 convolutions on AVX-512 machines).
    static func winogradPrimitiveDesc(_ g: Geometry, hasBias: Bool, postOps: [OneDNN.PostOp], _ key: String) -> dnnl_primitive_desc_t? {
        guard g.weight[2] == 3 && g.weight[3] == 3 && g.config.stride == [1, 1] && g.config.dilation == [1, 1] else { return nil }
        var (srcDesc, weightsDesc, dstDesc) = g.layouts(dense: false)
        var biasDesc = hasBias ? OneDNN.denseDesc([g.weight[0]]) : dnnl_memory_desc_t()
        var desc = dnnl_convolution_desc_t()
        guard dnnl_dilated_convolution_forward_desc_init(
            &desc, dnnl_forward_training, dnnl_convolution_winograd, &srcDesc, &weightsDesc, &biasDesc, &dstDesc,
            g.strides, g.dilates, g.padding, g.padding) == dnnl_success else { return nil }
        return OneDNN.shared.primitiveDescIfImplemented(&desc, postOps: postOps, key + " winograd")
    }

    /// `out` = conv2d(x, weight[, bias]) with `postOps` applied (float32 only; a bfloat16
    /// convolution may write a float32 `out`, post-ops included). The input and
    /// output may be row-major or channels-last, each kept as it is. A `fixedWeight` is
    /// converted to oneDNN's layout once, not on every call. Returns false, computing
    /// nothing, when a `.sum` post-op is asked for an output that oneDNN would write
    /// through a reorder (the sum would add to the scratch buffer, not to `out`).
    @discardableResult
    static func forward(_ c: ConvConfig, _ inputs: [Tensor], _ out: Tensor, postOps: [OneDNN.PostOp] = [],
                        fixedWeight: Bool = false, backend: CPUBackend) -> Bool {
        let (x, source) = backend.imageOperand(inputs[0])
        let w = backend.contiguous(inputs[1])
        let g = Geometry(c, input: x.shape, weight: w.shape, dtype: x.dtype, outputDtype: out.dtype)
        let b = inputs.count == 3 ? backend.converted(backend.contiguous(inputs[2]), to: g.biasDtype) : nil
        if x.dtype == .float64 {
            precondition(postOps.isEmpty, "conv2d: post-ops run in float32 only")
            referenceForward(g, backend.contiguous(x), w, b, out, Double.self)
            return true
        }
        guard let destination = ImageLayout(out) else {
            preconditionFailure("conv2d: the output must be dense, row-major or channels-last; got strides \(out.strides)")
        }
        let entry = forwardEntry(g, hasBias: b != nil, source: source, destination: destination, postOps: postOps)
        if postOps.contains(.sum) && entry.conversions[dst] != nil { return false }
        var data = [src: x, weights: w, dst: out]
        if let b { data[bias] = b }
        OneDNN.shared.execute(entry, data, fixed: fixedWeight ? [weights] : [])
        return true
    }

    /// The gradient of the input (`out`) from the output's (`gradY`).
    static func backwardInput(_ c: ConvConfig, _ gradY: Tensor, _ w: Tensor, _ out: Tensor, backend: CPUBackend) {
        // Gradients are computed directly; Winograd is for the forward pass.
        var c = c
        c.winograd = false
        let gy = backend.contiguous(gradY), w = backend.contiguous(w)
        let g = Geometry(c, input: out.shape, weight: w.shape, dtype: gy.dtype)
        if gy.dtype == .float64 {
            referenceBackwardInput(g, gy, w, out, Double.self)
            return
        }
        let dnn = OneDNN.shared
        let hint = forwardEntry(g, hasBias: false).primitiveDesc
        let key = "conv2d backward input \(g.key)"
        // Blocked layouts pad channels to 16: with fewer input channels (an RGB stem's),
        // most of a blocked input gradient would be padding.
        let dense = g.isLargePointwise || g.weight[1] < 16
        let entry = dnn.entry(key, arguments: [diffDst, weights, diffSrc],
                              dense: [diffDst: g.dstDesc, weights: g.weightsDesc, diffSrc: g.srcDesc]) {
            var (diffSrcDesc, weightsDesc, diffDstDesc) = g.layouts(dense: dense)
            var desc = dnnl_convolution_desc_t()
            OneDNN.check(dnnl_dilated_convolution_backward_data_desc_init(
                &desc, dnnl_convolution_direct, &diffSrcDesc, &weightsDesc, &diffDstDesc,
                g.strides, g.dilates, g.padding, g.padding), "convolution descriptor \(key)")
            return dnn.primitiveDesc(&desc, hint: hint, key)
        }
        dnn.execute(entry, [diffDst: gy, weights: w, diffSrc: out])
    }

    /// The gradient of the weight (`out`) from the input and the output's gradient.
    static func backwardWeight(_ c: ConvConfig, _ x: Tensor, _ gradY: Tensor, _ out: Tensor, backend: CPUBackend) {
        // Gradients are computed directly; Winograd is for the forward pass.
        var c = c
        c.winograd = false
        let x = backend.contiguous(x), gy = backend.contiguous(gradY)
        let g = Geometry(c, input: x.shape, weight: out.shape, dtype: x.dtype)
        if x.dtype == .float64 {
            referenceBackwardWeight(g, x, gy, out, Double.self)
            return
        }
        let dnn = OneDNN.shared
        let hint = forwardEntry(g, hasBias: false).primitiveDesc
        let key = "conv2d backward weight \(g.key)"
        let entry = dnn.entry(key, arguments: [src, diffDst, diffWeights],
                              dense: [src: g.srcDesc, diffDst: g.dstDesc, diffWeights: g.weightsDesc]) {
            var (srcDesc, diffWeightsDesc, diffDstDesc) = g.layouts(dense: g.isLargePointwise)
            var desc = dnnl_convolution_desc_t()
            OneDNN.check(dnnl_dilated_convolution_backward_weights_desc_init(
                &desc, dnnl_convolution_direct, &srcDesc, &diffWeightsDesc, nil, &diffDstDesc,
                g.strides, g.dilates, g.padding, g.padding), "convolution descriptor \(key)")
            return dnn.primitiveDesc(&desc, hint: hint, key)
        }
        dnn.execute(entry, [src: x, diffDst: gy, diffWeights: out])
    }

    // MARK: Reference loops (float64)

    /// One task per (sample, output channel): each writes its own output plane.
    static func referenceForward<T: KernelFloat>(_ g: Geometry, _ x: Tensor, _ w: Tensor, _ b: Tensor?, _ out: Tensor, _: T.Type) {
        let px = x.pointer(T.self), pw = w.pointer(T.self), py = out.pointer(T.self)
        let pb = b?.pointer(T.self)
        let outChannels = g.output[1], planeSize = g.output[2] * g.output[3]
        Parallel.forRange(g.output[0] * outChannels, cost: g.costPerPair) { range in
            for pair in range {
                let o = pair % outChannels
                for k in 0..<planeSize { py[pair * planeSize + k] = pb?[o] ?? 0 }
                g.taps(n: pair / outChannels, o: o) { xi, wi, yi in py[yi] += px[xi] * pw[wi] }
            }
        }
    }

    /// One task per (sample, group): the output channels of a group write the same input channels.
    static func referenceBackwardInput<T: KernelFloat>(_ g: Geometry, _ gy: Tensor, _ w: Tensor, _ out: Tensor, _: T.Type) {
        let pgy = gy.pointer(T.self), pw = w.pointer(T.self), pgx = out.pointer(T.self)
        let groups = g.config.groups, outPerGroup = g.output[1] / groups
        let groupSize = g.weight[1] * g.input[2] * g.input[3]
        Parallel.forRange(g.input[0] * groups, cost: g.costPerPair * outPerGroup) { range in
            for item in range {
                let n = item / groups, group = item % groups
                for k in 0..<groupSize { pgx[item * groupSize + k] = 0 }
                for o in group * outPerGroup..<(group + 1) * outPerGroup {
                    g.taps(n: n, o: o) { xi, wi, yi in pgx[xi] += pgy[yi] * pw[wi] }
                }
            }
        }
    }

    /// One task per output channel: each writes its own filter.
    static func referenceBackwardWeight<T: KernelFloat>(_ g: Geometry, _ x: Tensor, _ gy: Tensor, _ out: Tensor, _: T.Type) {
        let px = x.pointer(T.self), pgy = gy.pointer(T.self), pgw = out.pointer(T.self)
        let filterSize = g.weight[1] * g.weight[2] * g.weight[3]
        Parallel.forRange(g.output[1], cost: g.costPerPair * g.input[0]) { range in
            for o in range {
                for k in 0..<filterSize { pgw[o * filterSize + k] = 0 }
                for n in 0..<g.input[0] {
                    g.taps(n: n, o: o) { xi, wi, yi in pgw[wi] += px[xi] * pgy[yi] }
                }
            }
        }
    }
}
