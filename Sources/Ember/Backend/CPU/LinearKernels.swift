import COneDNN

/// The fused matmul head (`LinearEpilogue`): float32 runs as one oneDNN matmul whose bias
/// argument, eltwise post-op and binary-add post-op (the residual) apply the epilogue while
/// the product is in registers. float64 (oneDNN has none), a weight with batch axes and
/// products too small to repay oneDNN's call take the plain product, then one pass over it.
enum LinearKernels {
    /// oneDNN's post-op for each activation (exact forms: erf GELU, logistic sigmoid, and
    /// swish with alpha 1 for SiLU).
    static func postOp(_ activation: LinearEpilogue.Activation) -> OneDNN.PostOp {
        switch activation {
        case .relu: return .eltwise(dnnl_eltwise_relu)
        case .tanh: return .eltwise(dnnl_eltwise_tanh)
        case .sigmoid: return .eltwise(dnnl_eltwise_logistic)
        case .gelu: return .eltwise(dnnl_eltwise_gelu_erf)
        case .geluTanh: return .eltwise(dnnl_eltwise_gelu_tanh)
        case .silu: return .eltwiseWithAlpha(dnnl_eltwise_swish, alpha: 1)
        }
    }

    /// `fixedWeight`: the weight does not change while its storage lives (a compiled
    /// function's constant): oneDNN may keep it once in the layout it reads fastest.
    static func run(_ epilogue: LinearEpilogue, _ inputs: [Tensor], _ out: Tensor, fixedWeight: Bool, backend: CPUBackend) {
        let x = inputs[0], weight = inputs[1]
        let bias = epilogue.hasBias ? backend.contiguous(inputs[2]) : nil
        let residual = epilogue.hasResidual ? backend.contiguous(inputs[inputs.count - 1]) : nil
        let k = x.shape[x.rank - 1], n = weight.shape[weight.rank - 1]
        let rows = ShapeMath.count(Array(out.shape.dropLast()))
        guard out.dtype == .float32, weight.rank == 2, rows * k * n > MatmulKernel.smallProductLimit else {
            MatmulKernel.matmul(x, weight, out, backend: backend)
            switch out.dtype {
            case .float32: applyEpilogue(epilogue, bias: bias, residual: residual, out, Float.self)
            case .float64: applyEpilogue(epilogue, bias: bias, residual: residual, out, Double.self)
            default: preconditionFailure("fused matmul: no epilogue kernel for \(out.dtype)")
            }
            return
        }
        // [batch..., m, k] @ [k, n] as one [rows, k] @ [k, n] product.
        let left = MatmulKernel.foldRows(x, m: x.shape[x.rank - 2], k: k)
            ?? MatmulKernel.foldRows(backend.contiguous(x), m: x.shape[x.rank - 2], k: k)!
        let right = MatmulKernel.matrixOperand(weight, batchShape: [], backend: backend)
        let outDims = [1, rows, n]
        var postOps = epilogue.activation.map { [postOp($0)] } ?? []
        if residual != nil { postOps.append(.binaryAdd(dims: outDims)) }

        let src = Int32(DNNL_ARG_SRC), weights = Int32(DNNL_ARG_WEIGHTS), dst = Int32(DNNL_ARG_DST)
        let biasArg = Int32(DNNL_ARG_BIAS), residualArg = OneDNN.PostOp.binaryArgument(postOps.count - 1)
        var arguments = [src, weights, dst]
        if bias != nil { arguments.append(biasArg) }
        if residual != nil { arguments.append(residualArg) }
        let key = "linear \(left.dims) \(left.strides) \(right.dims) \(right.strides) fixed: \(fixedWeight) bias: \(bias != nil) "
            + "post-ops: \(postOps.map(\.key))"
        let dnn = OneDNN.shared
        let strided = OneDNN.memoryDesc(right.dims, right.strides)
        let entry = dnn.entry(key, arguments: arguments, dense: fixedWeight ? [weights: strided] : [:]) {
            var srcDesc = OneDNN.memoryDesc(left.dims, left.strides)
            var weightsDesc = fixedWeight ? OneDNN.anyDesc(right.dims) : strided
            var biasDesc = OneDNN.denseDesc([1, 1, n])
            var dstDesc = OneDNN.denseDesc(outDims)
            var desc = dnnl_matmul_desc_t()
            if bias != nil {
                OneDNN.check(dnnl_matmul_desc_init(&desc, &srcDesc, &weightsDesc, &biasDesc, &dstDesc), "matmul descriptor \(key)")
            } else {
                OneDNN.check(dnnl_matmul_desc_init(&desc, &srcDesc, &weightsDesc, nil, &dstDesc), "matmul descriptor \(key)")
            }
            return dnn.primitiveDesc(&desc, postOps: postOps, key)
        }
        var data: [Int32: any OneDNNBuffer] = [src: left.tensor, weights: right.tensor, dst: out]
        if let bias { data[biasArg] = bias }
        if let residual { data[residualArg] = residual }
        dnn.execute(entry, data, fixed: fixedWeight ? [weights] : [])
    }

    /// The epilogue as one pass over the product in `out` (dense), in place.
    static func applyEpilogue<T: KernelFloat>(_ epilogue: LinearEpilogue, bias: Tensor?, residual: Tensor?, _ out: Tensor,
                                              _: T.Type) {
        guard epilogue.hasBias || epilogue.activation != nil || epilogue.hasResidual else { return }
        let n = out.shape[out.rank - 1], count = ShapeMath.count(out.shape)
        let po = out.pointer(T.self), pb = bias?.pointer(T.self), pr = residual?.pointer(T.self)
        let activation = epilogue.activation
        Parallel.forRange(count, cost: activation == nil ? 1 : 16) { range in
            for i in range {
                var v = po[i]
                if let pb { v += pb[i % n] }
                if let activation { v = T(activation.value(Double(v))) }
                if let pr { v += pr[i] }
                po[i] = v
            }
        }
    }
}
