/// LSTM and GRU recurrences over whole sequences (Ops/Recurrence.swift).
///
/// Each step is one matmul of the previous states by W_hh (oneDNN for float32, through
/// `MatmulKernel`) and one pass over each sequence's gate row: the sum with the step's input
/// projection and b_hh, the sigmoids and tanhs (vectorized for float32) and the state update,
/// while the row is in cache. Backward walks the steps in the other order with the same row
/// pass and one matmul per step for the gradient that flows to the previous state. The shapes
/// were validated by the primitive's shape rules, so the row loops use unsafe pointers.
enum RecurrenceKernels {
    static func forward(_ c: RecurrenceConfig, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) {
        switch inputs[0].dtype {
        case .float32: forward(c, inputs, outputs, backend: backend, Float.self)
        case .float64: forward(c, inputs, outputs, backend: backend, Double.self)
        default: preconditionFailure("recurrence: no kernel for \(inputs[0].dtype)")
        }
    }

    static func backward(_ c: RecurrenceConfig, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend) {
        switch inputs[0].dtype {
        case .float32: backward(c, inputs, outputs, backend: backend, Float.self)
        case .float64: backward(c, inputs, outputs, backend: backend, Double.self)
        default: preconditionFailure("recurrence_backward: no kernel for \(inputs[0].dtype)")
        }
    }

    /// Rows [batch, width] of step `t` of a dense [time, batch, width] tensor, as a tensor view.
    static func rows(_ x: Tensor, step t: Int, batch: Int, width: Int) -> Tensor {
        x.sameLayout(shape: [batch, width], strides: [width, 1], offset: x.offset + t * batch * width)
    }

    static func forward<T: GateFloat>(_ c: RecurrenceConfig, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend, _: T.Type) {
        let projected = backend.contiguous(inputs[0]), weight = inputs[1], bias = backend.contiguous(inputs[2])
        let h0 = backend.contiguous(inputs[3])
        let c0 = c.cell == .lstm ? backend.contiguous(inputs[4]) : nil
        let mask = c.masked ? backend.contiguous(inputs[inputs.count - 1]) : nil
        let (time, batch, hidden) = (projected.shape[0], projected.shape[1], weight.shape[1])
        let width = c.cell.gates * hidden
        let hs = outputs[0], cs = c.cell == .lstm ? outputs[1] : nil, gates = outputs[outputs.count - 1]
        precondition(outputs.allSatisfy(\.isContiguous), "recurrence: expected dense outputs")
        let recurrent = Tensor(uninitializedShape: [batch, width], dtype: projected.dtype, on: backend)
        let transposedWeight = weight.sameLayout(shape: [hidden, width], strides: [weight.strides[1], weight.strides[0]])
        let (pp, pb, pr) = (projected.pointer(T.self), bias.pointer(T.self), recurrent.pointer(T.self))
        let (ph, pg, pm) = (hs.pointer(T.self), gates.pointer(T.self), mask?.pointer(Bool.self))
        let pc = cs?.pointer(T.self)
        for t in c.steps(time) {
            let previous = c.previous(t, time: time)
            let previousH = previous.map { rows(hs, step: $0, batch: batch, width: hidden) } ?? h0
            MatmulKernel.matmul(previousH, transposedWeight, recurrent, backend: backend)
            let ph0 = previousH.pointer(T.self)
            let pc0 = pc.map { pc in previous.map { pc + $0 * batch * hidden } ?? c0!.pointer(T.self) }
            Parallel.forRange(batch, cost: 8 * width) { range in
                for b in range {
                    let row = t * batch + b
                    let h = ph + row * hidden, gate = pg + row * 4 * hidden, hPrev = ph0 + b * hidden
                    let x = pp + row * width, r = pr + b * width
                    if let pm, !pm[row] {
                        h.update(from: hPrev, count: hidden)
                        if let pc { (pc + row * hidden).update(from: pc0! + b * hidden, count: hidden) }
                        gate.update(repeating: 0, count: 4 * hidden)
                        continue
                    }
                    switch c.cell {
                    case .lstm:
                        let cell = pc! + row * hidden, cPrev = pc0! + b * hidden
                        for j in 0..<width { gate[j] = x[j] + r[j] + pb[j] }
                        T.sigmoid(gate, 2 * hidden)
                        T.tanh(gate + 2 * hidden, hidden)
                        T.sigmoid(gate + 3 * hidden, hidden)
                        for j in 0..<hidden {
                            let next = gate[hidden + j] * cPrev[j] + gate[j] * gate[2 * hidden + j]
                            cell[j] = next
                            h[j] = next
                        }
                        T.tanh(h, hidden)
                        for j in 0..<hidden { h[j] *= gate[3 * hidden + j] }
                    case .gru:
                        // Gate row: r, z, n, W_hn h + b_hn.
                        for j in 0..<(2 * hidden) { gate[j] = x[j] + r[j] + pb[j] }
                        T.sigmoid(gate, 2 * hidden)
                        for j in 0..<hidden {
                            let hn = r[2 * hidden + j] + pb[2 * hidden + j]
                            gate[3 * hidden + j] = hn
                            gate[2 * hidden + j] = x[2 * hidden + j] + gate[j] * hn
                        }
                        T.tanh(gate + 2 * hidden, hidden)
                        for j in 0..<hidden {
                            let n = gate[2 * hidden + j]
                            h[j] = n + gate[hidden + j] * (hPrev[j] - n)
                        }
                    }
                }
            }
        }
    }

    static func backward<T: GateFloat>(_ c: RecurrenceConfig, _ inputs: [Tensor], _ outputs: [Tensor], backend: CPUBackend, _: T.Type) {
        let dense = inputs.map { backend.contiguous($0) }
        let weight = inputs[0], initial = dense[1], sequence = dense[2], gates = dense[3], gradHs = dense[4]
        let gradCs = c.cell == .lstm ? dense[5] : nil
        let mask = c.masked ? dense[dense.count - 1] : nil
        let (time, batch, hidden) = (sequence.shape[0], sequence.shape[1], sequence.shape[2])
        let width = c.cell.gates * hidden
        precondition(outputs.allSatisfy(\.isContiguous), "recurrence_backward: expected dense outputs")
        let gradProjected = outputs[0], gradRecurrent = c.cell == .lstm ? outputs[0] : outputs[1]
        // The gradients reaching the current step's states from later steps, ending as the initial states'.
        let carryH = outputs[c.cell == .lstm ? 1 : 2], carryC = c.cell == .lstm ? outputs[2] : nil
        carryH.pointer(T.self).update(repeating: 0, count: batch * hidden)
        carryC?.pointer(T.self).update(repeating: 0, count: batch * hidden)
        // What flows to the previous state around W_hh: dh z (GRU), or all of dh where masked.
        let direct = Tensor(uninitializedShape: [batch, hidden], dtype: sequence.dtype, on: backend)
        let (ps, pg, pgh) = (sequence.pointer(T.self), gates.pointer(T.self), gradHs.pointer(T.self))
        let (pgc, pm, pch, pcc) = (gradCs?.pointer(T.self), mask?.pointer(Bool.self), carryH.pointer(T.self), carryC?.pointer(T.self))
        let (px, prec, pd, pi) = (gradProjected.pointer(T.self), gradRecurrent.pointer(T.self), direct.pointer(T.self), initial.pointer(T.self))
        for t in c.steps(time).reversed() {
            let previous = c.previous(t, time: time).map { ps + $0 * batch * hidden } ?? pi
            Parallel.forRange(batch, cost: 12 * width) { range in
                for b in range {
                    let row = t * batch + b
                    let gate = pg + row * 4 * hidden, gx = px + row * width, gr = prec + row * width
                    let dhIn = pgh + row * hidden, carry = pch + b * hidden, d = pd + b * hidden
                    let active = pm.map { $0[row] } ?? true
                    if !active {
                        for j in 0..<hidden { d[j] = dhIn[j] + carry[j] }
                        gx.update(repeating: 0, count: width)
                        if c.cell == .gru { gr.update(repeating: 0, count: width) }
                        if let pcc, let pgc { for j in 0..<hidden { pcc[b * hidden + j] += pgc[row * hidden + j] } }
                        continue
                    }
                    switch c.cell {
                    case .lstm:
                        let cell = ps + row * hidden, cPrev = previous + b * hidden
                        let dcIn = pgc! + row * hidden, carryCell = pcc! + b * hidden
                        // tanh(c_t) into the direct row (zero again below).
                        d.update(from: cell, count: hidden)
                        T.tanh(d, hidden)
                        for j in 0..<hidden {
                            let (i, f, g, o) = (gate[j], gate[hidden + j], gate[2 * hidden + j], gate[3 * hidden + j])
                            let th = d[j], dh = dhIn[j] + carry[j]
                            let dc = dcIn[j] + carryCell[j] + dh * o * (1 - th * th)
                            gx[j] = dc * g * i * (1 - i)
                            gx[hidden + j] = dc * cPrev[j] * f * (1 - f)
                            gx[2 * hidden + j] = dc * i * (1 - g * g)
                            gx[3 * hidden + j] = dh * th * o * (1 - o)
                            carryCell[j] = dc * f
                            d[j] = 0
                        }
                    case .gru:
                        let hPrev = previous + b * hidden
                        for j in 0..<hidden {
                            let (r, z, n, hn) = (gate[j], gate[hidden + j], gate[2 * hidden + j], gate[3 * hidden + j])
                            let dh = dhIn[j] + carry[j]
                            let dn = dh * (1 - z) * (1 - n * n)
                            let dr = dn * hn * r * (1 - r), dz = dh * (hPrev[j] - n) * z * (1 - z)
                            gx[j] = dr
                            gx[hidden + j] = dz
                            gx[2 * hidden + j] = dn
                            gr[j] = dr
                            gr[hidden + j] = dz
                            gr[2 * hidden + j] = dn * r
                            d[j] = dh * z
                        }
                    }
                }
            }
            MatmulKernel.matmul(rows(gradRecurrent, step: t, batch: batch, width: width), weight, carryH, backend: backend)
            for k in 0..<(batch * hidden) { pch[k] += pd[k] }
        }
    }
}

/// In-place sigmoid and tanh over a contiguous run: float32 through the vector kernels,
/// float64 (gradient checks) through libm.
protocol GateFloat: KernelFloat {
    static func sigmoid(_ x: UnsafeMutablePointer<Self>, _ n: Int)
    static func tanh(_ x: UnsafeMutablePointer<Self>, _ n: Int)
}

extension Float: GateFloat {
    static func sigmoid(_ x: UnsafeMutablePointer<Float>, _ n: Int) { VectorMath.apply(VectorMath.function(.sigmoid)!, x, x, n) }
    static func tanh(_ x: UnsafeMutablePointer<Float>, _ n: Int) { VectorMath.apply(VectorMath.function(.tanh)!, x, x, n) }
}

extension Double: GateFloat {
    static func sigmoid(_ x: UnsafeMutablePointer<Double>, _ n: Int) {
        // As the elementwise kernel: no overflow of exp for large |x|.
        for j in 0..<n { x[j] = x[j] >= 0 ? 1 / (1 + Double.exp(-x[j])) : Double.exp(x[j]) / (1 + Double.exp(x[j])) }
    }
    static func tanh(_ x: UnsafeMutablePointer<Double>, _ n: Int) {
        for j in 0..<n { x[j] = Double.tanh(x[j]) }
    }
}
