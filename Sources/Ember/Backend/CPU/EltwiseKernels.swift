import COneDNN

/// oneDNN's eltwise primitives for the activations it implements in JIT-compiled vector
/// code: exact (erf) GELU on dense float32 runs in one pass at memory speed.
enum OneDNNEltwise {
    static let src = Int32(DNNL_ARG_SRC), dst = Int32(DNNL_ARG_DST)

    static func geluForward(_ x: Tensor, _ out: Tensor) {
        let dnn = OneDNN.shared
        let count = x.count
        let key = "gelu forward \(count)"
        let entry = dnn.entry(key, arguments: [src, dst]) {
            var data = OneDNN.denseDesc([count])
            var desc = dnnl_eltwise_desc_t()
            OneDNN.check(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, dnnl_eltwise_gelu_erf, &data, 0, 0),
                         "eltwise descriptor \(key)")
            return dnn.primitiveDesc(&desc, key)
        }
        dnn.execute(entry, [src: x, dst: out])
    }
}
