/// The recurrence of an LSTM or GRU layer over a whole sequence as one primitive (cuDNN's
/// fused RNN): the input projection of every step is computed beforehand as one matmul, and
/// the primitive runs the steps, each one matmul h W_hhᵀ and one pass over the gates (the
/// sigmoids, tanhs and the cell update together), instead of a dozen recorded elementwise
/// operations per step. The forward primitive returns the activated gates beside the states;
/// the backward primitive walks the steps back from them, and W_hh's gradient is one matmul
/// over the whole sequence.
public struct RecurrenceConfig: Hashable, Sendable {
    public enum Cell: Hashable, Sendable {
        /// PyTorch's `nn.LSTM`: gates input, forget, cell, output.
        case lstm
        /// PyTorch's `nn.GRU`: gates reset, update, new; the reset gate scales W_hn h + b_hn.
        case gru

        /// Gate blocks of the input projection and of W_hh.
        public var gates: Int { self == .lstm ? 4 : 3 }
    }
    public var cell: Cell
    /// The steps run from the last to the first (a bidirectional layer's backward direction).
    public var reverse: Bool
    /// A bool mask [time, batch] is the last input: where it is false, the step leaves that
    /// sequence's state as it was (a PyTorch `PackedSequence` of shorter sequences).
    public var masked: Bool
    public init(cell: Cell, reverse: Bool = false, masked: Bool = false) {
        self.cell = cell
        self.reverse = reverse
        self.masked = masked
    }

    public var description: String { "\(cell)\(reverse ? ", reverse" : "")\(masked ? ", masked" : "")" }

    /// The inputs before the mask: (projected, W_hh, b_hh, h0[, c0]).
    var stateInputs: Int { cell == .lstm ? 5 : 4 }

    /// The steps in the order they run.
    func steps(_ time: Int) -> [Int] { reverse ? Array((0..<time).reversed()) : Array(0..<time) }

    /// The step whose state step `t` starts from, or nil for the initial state.
    func previous(_ t: Int, time: Int) -> Int? {
        reverse ? (t + 1 < time ? t + 1 : nil) : (t > 0 ? t - 1 : nil)
    }
}

/// An LSTM's states at every step from the input projection `projected` [time, batch,
/// 4·hidden] (x W_ihᵀ + b_ih for every step, one matmul), `weightHH` [4·hidden, hidden],
/// `biasHH` [4·hidden] (none: zeros) and the initial states [batch, hidden]. `mask` [time,
/// batch] (bool) keeps a sequence's state unchanged at the steps where it is false; `reverse`
/// runs from the last step to the first. `hs[t]` and `cs[t]` are the states after step t.
public func lstmRecurrence(_ projected: Tensor, weightHH: Tensor, biasHH: Tensor?, h0: Tensor, c0: Tensor,
                           mask: Tensor? = nil, reverse: Bool = false) -> (hs: Tensor, cs: Tensor) {
    let config = RecurrenceConfig(cell: .lstm, reverse: reverse, masked: mask != nil)
    let outputs = Dispatch.run(.recurrence(config), Recurrence.inputs(projected, weightHH, biasHH, [h0, c0], mask))
    return (outputs[0], outputs[1])
}

/// A GRU's hidden state at every step, as `lstmRecurrence` (projection [time, batch, 3·hidden]).
public func gruRecurrence(_ projected: Tensor, weightHH: Tensor, biasHH: Tensor?, h0: Tensor, mask: Tensor? = nil,
                          reverse: Bool = false) -> Tensor {
    let config = RecurrenceConfig(cell: .gru, reverse: reverse, masked: mask != nil)
    return Dispatch.run(.recurrence(config), Recurrence.inputs(projected, weightHH, biasHH, [h0], mask))[0]
}

enum Recurrence {
    /// The primitive's inputs, in the projection's dtype (a bfloat16 one under autocast).
    static func inputs(_ projected: Tensor, _ weightHH: Tensor, _ biasHH: Tensor?, _ states: [Tensor], _ mask: Tensor?) -> [Tensor] {
        let dtype = projected.dtype
        let bias = biasHH ?? Tensor.zeros([weightHH.shape.first ?? 0], dtype: dtype)
        return [projected, weightHH, bias].map { $0.cast(to: dtype) } + states.map { $0.cast(to: dtype) } + (mask.map { [$0] } ?? [])
    }

    // MARK: Shape rules

    /// (time, batch, hidden) of the forward primitive's inputs, checked.
    static func geometry(_ op: String, _ c: RecurrenceConfig, projected p: TensorSpec, weight w: TensorSpec,
                         states: [TensorSpec], mask: TensorSpec?) throws(ShapeError) -> (time: Int, batch: Int, hidden: Int) {
        guard p.dtype.isFloatingPoint, p.shape.count == 3 else {
            throw ShapeError(op, "expected a floating-point projection [time, batch, gates·hidden], got \(p)")
        }
        guard w.shape.count == 2, w.shape[0] == c.cell.gates * w.shape[1], w.dtype == p.dtype else {
            throw ShapeError(op, "expected W_hh \(p.dtype)[\(c.cell.gates)·hidden, hidden], got \(w)")
        }
        let (time, batch, hidden) = (p.shape[0], p.shape[1], w.shape[1])
        guard p.shape[2] == c.cell.gates * hidden else {
            throw ShapeError(op, "expected a projection [time, batch, \(c.cell.gates * hidden)] for W_hh \(w.shape), got \(p.shape)")
        }
        for state in states where state != TensorSpec([batch, hidden], p.dtype) {
            throw ShapeError(op, "expected states \(TensorSpec([batch, hidden], p.dtype)), got \(state)")
        }
        if let mask, mask != TensorSpec([time, batch], .bool) {
            throw ShapeError(op, "expected a mask \(TensorSpec([time, batch], .bool)), got \(mask)")
        }
        return (time, batch, hidden)
    }

    /// LSTM (projected, W_hh, b_hh, h0, c0[, mask]) -> (hs, cs, gates); GRU (projected, W_hh,
    /// b_hh, h0[, mask]) -> (hs, gates). The gates [time, batch, 4·hidden] are i, f, g, o
    /// (LSTM) or r, z, n and W_hn h + b_hn (GRU) after activation; zeros where masked.
    static func specs(_ c: RecurrenceConfig, _ inputs: [TensorSpec]) throws(ShapeError) -> [TensorSpec] {
        let op = "recurrence", count = c.stateInputs + (c.masked ? 1 : 0)
        guard inputs.count == count else { throw ShapeError(op, "expected \(count) inputs for \(c.description), got \(inputs.count)") }
        let g = try geometry(op, c, projected: inputs[0], weight: inputs[1], states: Array(inputs[3..<c.stateInputs]),
                             mask: c.masked ? inputs[count - 1] : nil)
        guard inputs[2] == TensorSpec([c.cell.gates * g.hidden], inputs[0].dtype) else {
            throw ShapeError(op, "expected b_hh \(TensorSpec([c.cell.gates * g.hidden], inputs[0].dtype)), got \(inputs[2])")
        }
        let states = TensorSpec([g.time, g.batch, g.hidden], inputs[0].dtype)
        let gates = TensorSpec([g.time, g.batch, 4 * g.hidden], inputs[0].dtype)
        return c.cell == .lstm ? [states, states, gates] : [states, gates]
    }

    /// LSTM (W_hh, c0, cs, gates, gradHs, gradCs[, mask]) -> (gradient of the gates before
    /// activation, gradH0, gradC0); GRU (W_hh, h0, hs, gates, gradHs[, mask]) -> (gradient of
    /// the projection, gradient of W_hh h + b_hh, gradH0).
    static func backwardSpecs(_ c: RecurrenceConfig, _ inputs: [TensorSpec]) throws(ShapeError) -> [TensorSpec] {
        let op = "recurrence_backward", count = (c.cell == .lstm ? 6 : 5) + (c.masked ? 1 : 0)
        guard inputs.count == count else { throw ShapeError(op, "expected \(count) inputs for \(c.description), got \(inputs.count)") }
        let sequence = inputs[2]
        guard sequence.shape.count == 3 else { throw ShapeError(op, "expected states [time, batch, hidden], got \(sequence)") }
        let (time, batch, hidden) = (sequence.shape[0], sequence.shape[1], sequence.shape[2])
        let dtype = sequence.dtype
        let projection = TensorSpec([time, batch, c.cell.gates * hidden], dtype)
        _ = try geometry(op, c, projected: projection, weight: inputs[0], states: [inputs[1]], mask: c.masked ? inputs[count - 1] : nil)
        let expected = [TensorSpec([time, batch, 4 * hidden], dtype)] + Array(repeating: sequence, count: c.cell == .lstm ? 2 : 1)
        guard Array(inputs[3..<(c.cell == .lstm ? 6 : 5)]) == expected else {
            throw ShapeError(op, "expected gates and gradients \(expected), got \(Array(inputs[3..<(c.cell == .lstm ? 6 : 5)]))")
        }
        let state = TensorSpec([batch, hidden], dtype)
        return c.cell == .lstm ? [projection, state, state] : [projection, projection, state]
    }

    // MARK: The formula as tensor operations

    /// Gate block k (n blocks wide) of rows [batch, blocks·hidden].
    static func block(_ x: Tensor, _ k: Int, _ hidden: Int, count n: Int = 1) -> Tensor {
        x.narrow(axis: 1, start: k * hidden, count: n * hidden)
    }

    /// The forward primitive's outputs one step at a time (PyTorch's formulas): the reference
    /// the kernel must match, and what the forward-mode and higher-order rules differentiate.
    static func unfused(_ c: RecurrenceConfig, _ x: [Tensor]) -> [Tensor] {
        let (projected, weight, bias) = (x[0], x[1], x[2])
        let mask = c.masked ? x[x.count - 1] : nil
        let (time, hidden) = (projected.shape[0], weight.shape[1])
        var h = x[3], cell: Tensor? = c.cell == .lstm ? x[4] : nil
        let zero = Tensor.scalar(0, dtype: projected.dtype)
        var hs = [Tensor](repeating: h, count: time), cs = hs, gates = hs
        for t in c.steps(time) {
            let input = projected[t], recurrent = h.matmul(weight.transposed()) + bias
            var nextH: Tensor, nextC: Tensor?, activated: Tensor
            switch c.cell {
            case .lstm:
                let all = input + recurrent
                let inputForget = block(all, 0, hidden, count: 2).sigmoid(), g = block(all, 2, hidden).tanh()
                let o = block(all, 3, hidden).sigmoid()
                nextC = block(inputForget, 1, hidden) * cell! + block(inputForget, 0, hidden) * g
                nextH = o * nextC!.tanh()
                activated = Tensor.concatenate([inputForget, g, o], axis: 1)
            case .gru:
                let resetUpdate = (block(input, 0, hidden, count: 2) + block(recurrent, 0, hidden, count: 2)).sigmoid()
                let hn = block(recurrent, 2, hidden)
                let n = (block(input, 2, hidden) + block(resetUpdate, 0, hidden) * hn).tanh()
                // (1 - z) n + z h
                nextH = n + block(resetUpdate, 1, hidden) * (h - n)
                nextC = nil
                activated = Tensor.concatenate([resetUpdate, n, hn], axis: 1)
            }
            if let mask {
                let active = mask[t].unsqueezed(axis: 1)
                h = Tensor.where(active, nextH, h)
                cell = nextC.map { Tensor.where(active, $0, cell!) }
                activated = Tensor.where(active, activated, zero)
            } else {
                h = nextH
                cell = nextC
            }
            hs[t] = h
            if let cell { cs[t] = cell }
            gates[t] = activated
        }
        let stacked = { (steps: [Tensor], width: Int) -> Tensor in
            time == 0 ? Tensor.zeros([0, h.shape[0], width], dtype: h.dtype) : Tensor.stack(steps, axis: 0)
        }
        let outputs = [stacked(hs, hidden)] + (c.cell == .lstm ? [stacked(cs, hidden)] : []) + [stacked(gates, 4 * hidden)]
        return outputs
    }

    /// The backward primitive's outputs one step at a time (for its forward-mode rule, and the
    /// reference of its kernel).
    static func unfusedBackward(_ c: RecurrenceConfig, _ x: [Tensor]) -> [Tensor] {
        let weight = x[0], initial = x[1], sequence = x[2], gates = x[3], gradHs = x[4]
        let gradCs = c.cell == .lstm ? x[5] : nil
        let mask = c.masked ? x[x.count - 1] : nil
        let (time, batch, hidden) = (sequence.shape[0], sequence.shape[1], sequence.shape[2])
        let zero = Tensor.scalar(0, dtype: sequence.dtype), one = Tensor.scalar(1, dtype: sequence.dtype)
        var carryH = Tensor.zeros([batch, hidden], dtype: sequence.dtype), carryC = carryH
        var gradProjected = [Tensor](repeating: zero, count: time), gradRecurrent = gradProjected
        for t in c.steps(time).reversed() {
            let previous = c.previous(t, time: time).map { sequence[$0] } ?? initial
            let dh = gradHs[t] + carryH, row = gates[t]
            var direct: Tensor, gx: Tensor, gr: Tensor
            var dc: Tensor? = nil, nextC: Tensor? = nil
            switch c.cell {
            case .lstm:
                let (i, f, g, o) = (block(row, 0, hidden), block(row, 1, hidden), block(row, 2, hidden), block(row, 3, hidden))
                let th = sequence[t].tanh()
                let total = gradCs![t] + carryC + dh * o * (one - th * th)
                gx = Tensor.concatenate([total * g * i * (one - i), total * previous * f * (one - f), total * i * (one - g * g),
                                         dh * th * o * (one - o)], axis: 1)
                gr = gx
                direct = Tensor.zeros([batch, hidden], dtype: sequence.dtype)
                dc = gradCs![t] + carryC
                nextC = total * f
            case .gru:
                let (r, z, n, hn) = (block(row, 0, hidden), block(row, 1, hidden), block(row, 2, hidden), block(row, 3, hidden))
                let dn = dh * (one - z) * (one - n * n)
                let dr = dn * hn * r * (one - r), dz = dh * (previous - n) * z * (one - z)
                gx = Tensor.concatenate([dr, dz, dn], axis: 1)
                gr = Tensor.concatenate([dr, dz, dn * r], axis: 1)
                direct = dh * z
            }
            if let mask {
                let active = mask[t].unsqueezed(axis: 1)
                gx = Tensor.where(active, gx, zero)
                gr = Tensor.where(active, gr, zero)
                direct = Tensor.where(active, direct, dh)
                if let dc { nextC = Tensor.where(active, nextC!, dc) }
            }
            carryH = gr.matmul(weight) + direct
            if let nextC { carryC = nextC }
            gradProjected[t] = gx
            gradRecurrent[t] = gr
        }
        let gateWidth = c.cell.gates * hidden
        let stacked = { (steps: [Tensor]) -> Tensor in
            time == 0 ? Tensor.zeros([0, batch, gateWidth], dtype: sequence.dtype) : Tensor.stack(steps, axis: 0)
        }
        return c.cell == .lstm ? [stacked(gradProjected), carryH, carryC] : [stacked(gradProjected), stacked(gradRecurrent), carryH]
    }

    // MARK: Derivative rules

    /// A first-order pass runs the backward primitive, then W_hh's and b_hh's gradients as one
    /// matmul and one sum over every step; while recording (higher derivatives), or when the
    /// gates output has a cotangent, the formula's. Outputs without a cotangent come as nil
    /// (`takesMissingCotangents`).
    static func vjp(_ c: RecurrenceConfig, _ inputs: [Tensor], _ saved: [Tensor], _ g: [Tensor?], _ needed: [Bool]) -> [Tensor?] {
        if isGradEnabled || g[g.count - 1] != nil {
            return FunctionalAD.formulaVJP({ unfused(c, $0) }, inputs, g, needed)
        }
        let hs = saved[0], gates = saved[saved.count - 1]
        let (time, batch, hidden) = (hs.shape[0], hs.shape[1], hs.shape[2])
        let mask = c.masked ? [inputs[inputs.count - 1]] : []
        let gradHs = g[0] ?? Tensor.zeros(like: hs)
        let gradProjected: Tensor, gradRecurrent: Tensor
        var result = [Tensor?](repeating: nil, count: inputs.count)
        switch c.cell {
        case .lstm:
            let cs = saved[1]
            let grads = Dispatch.run(.recurrenceBackward(c), [inputs[1], inputs[4], cs, gates, gradHs, g[1] ?? Tensor.zeros(like: cs)] + mask)
            (gradProjected, gradRecurrent) = (grads[0], grads[0])
            (result[3], result[4]) = (grads[1], grads[2])
        case .gru:
            let grads = Dispatch.run(.recurrenceBackward(c), [inputs[1], inputs[3], hs, gates, gradHs] + mask)
            (gradProjected, gradRecurrent) = (grads[0], grads[1])
            result[3] = grads[2]
        }
        result[0] = gradProjected
        if needed[1] {
            // Σ_t gradRecurrent_tᵀ h_{t-1}, with the states each step started from.
            let previous = time == 0 ? hs : c.reverse
                ? Tensor.concatenate([hs.narrow(axis: 0, start: 1, count: time - 1), inputs[3].unsqueezed(axis: 0)], axis: 0)
                : Tensor.concatenate([inputs[3].unsqueezed(axis: 0), hs.narrow(axis: 0, start: 0, count: time - 1)], axis: 0)
            let gateWidth = c.cell.gates * hidden
            result[1] = gradRecurrent.reshaped(to: [time * batch, gateWidth]).transposed()
                .matmul(previous.reshaped(to: [time * batch, hidden]))
        }
        if needed[2] { result[2] = gradRecurrent.sum(axes: [0, 1]) }
        return result
    }

    /// The backward primitive runs only in first-order passes (see `vjp`), so it is never
    /// recorded for differentiation.
    static func backwardOfBackward() -> [Tensor?] {
        fatalError("recurrence_backward is not differentiable; differentiate with createGraph so that the recurrence formula is recorded instead")
    }

    // MARK: Forward mode and batching

    static func jvp(_ c: RecurrenceConfig, _ x: [Tensor], _ t: [Tensor?]) -> [Tensor?] {
        Ember.jvp({ unfused(c, $0) }, primals: x, tangents: Tangents.zeroFilled(x, t)).tangents
    }

    static func backwardJVP(_ c: RecurrenceConfig, _ x: [Tensor], _ t: [Tensor?]) -> [Tensor?] {
        Ember.jvp({ unfusedBackward(c, $0) }, primals: x, tangents: Tangents.zeroFilled(x, t)).tangents
    }

    /// Where each operand keeps its sequences: axis 1 of [time, batch, ...], axis 0 of the states
    /// [batch, hidden]; nil for the weights.
    static func batchAxes(_ primitive: Primitive) -> (inputs: [Int?], outputs: [Int]) {
        switch primitive {
        case .recurrence(let c):
            let inputs: [Int?] = [1, nil, nil, 0] + (c.cell == .lstm ? [0] : []) + (c.masked ? [1] : [])
            return (inputs, c.cell == .lstm ? [1, 1, 1] : [1, 1])
        case .recurrenceBackward(let c):
            let inputs: [Int?] = [nil, 0, 1, 1, 1] + (c.cell == .lstm ? [1] : []) + (c.masked ? [1] : [])
            return (inputs, c.cell == .lstm ? [1, 0, 0] : [1, 1, 0])
        default: preconditionFailure("Recurrence.batchAxes: \(primitive.name) is not a recurrence")
        }
    }

    /// The examples' sequences side by side as one larger batch when the weights are shared;
    /// per-example weights run one example at a time.
    static func batch(_ primitive: Primitive, _ x: BatchedOperands) -> [Tensor] {
        let axes = batchAxes(primitive)
        let n = x.size
        guard x.values.indices.allSatisfy({ axes.inputs[$0] != nil || !x.batched[$0] }) else {
            let examples = (0..<n).map { e in Dispatch.run(primitive, x.values.indices.map { x.batched[$0] ? x.values[$0][e] : x.values[$0] }) }
            return examples[0].indices.map { k in Tensor.stack(examples.map { $0[k] }, axis: 0) }
        }
        let operands = x.values.indices.map { i -> Tensor in
            guard let axis = axes.inputs[i] else { return x.values[i] }
            // [n, ..., b, ...] -> [..., n·b, ...]
            let m = x.materialized(i)
            let moved = m.permuted(Array(1..<(axis + 1)) + [0] + Array((axis + 1)..<m.rank))
            var shape = Array(moved.shape)
            shape.replaceSubrange(axis...(axis + 1), with: [n * moved.shape[axis + 1]])
            return moved.reshaped(to: shape)
        }
        return zip(Dispatch.run(primitive, operands), axes.outputs).map { y, axis in
            var shape = y.shape
            shape.replaceSubrange(axis...axis, with: [n, y.shape[axis] / n])
            let split = y.reshaped(to: shape)
            return split.permuted([axis] + Array(0..<axis) + Array((axis + 1)..<split.rank))
        }
    }

    // MARK: Cost

    /// The step products h W_hhᵀ (forward) and gradient · W_hh (backward), as PyTorch counts
    /// an RNN's matmuls; the gate arithmetic is not counted.
    static func flops(_ primitive: Primitive, inputs: [[Int]], outputs: [[Int]]) -> Int {
        let count = outputs[0].reduce(1, *)
        switch primitive {
        // hs [time, batch, hidden] from W_hh [gates·hidden, hidden]
        case .recurrence: return 2 * count * inputs[1][0]
        // gradient [time, batch, gates·hidden] times W_hh [gates·hidden, hidden]
        case .recurrenceBackward: return 2 * count * inputs[0][1]
        default: return 0
        }
    }

    // MARK: ONNX

    /// The steps unrolled into MatMul, Sigmoid, Tanh and Where (the primitive's formula), so the
    /// sequence length is fixed; the states and gates are concatenated along time.
    static func onnx(_ c: RecurrenceConfig, _ b: ONNXBuilder, _ x: ONNXOperands) throws(ONNXMappingError) -> [String] {
        if case .dynamic(_, let exponents) = b.inputDimension(0, axis: 0) {
            throw ONNXMappingError("recurrence(\(c.description)): the number of steps changes with the size of dynamic axis "
                                   + "\(exponents.keys.sorted().joined(separator: ", ")), but the steps are unrolled in ONNX: "
                                   + "export with a fixed sequence length")
        }
        let dtype = x.inputs[0].dtype
        let (time, hidden) = (x.inputs[0].shape[0], x.inputs[1].shape[1])
        func one(_ op: String, _ inputs: [String], _ attributes: [ONNXAttribute] = []) -> String {
            b.node(op, inputs, attributes, outputs: 1)[0]
        }
        func part(_ value: String, _ k: Int, count n: Int = 1) -> String {
            one("Slice", [value, b.int64s([k * hidden]), b.int64s([(k + n) * hidden]), b.int64s([1])])
        }
        func step(_ value: String, _ t: Int) -> String {
            one("Gather", [value, b.scalar(Double(t), .int64)], [ONNXAttribute("axis", .int(0))])
        }
        let transposedWeight = one("Transpose", [x.names[1]])
        let zero = b.scalar(0, dtype)
        var h = x.names[3], cell: String? = c.cell == .lstm ? x.names[4] : nil
        var hs = [String](repeating: "", count: time), cs = hs, gates = hs
        for t in c.steps(time) {
            let input = step(x.names[0], t)
            let recurrent = one("Add", [one("MatMul", [h, transposedWeight]), x.names[2]])
            var nextH: String, nextC: String?, activated: String
            switch c.cell {
            case .lstm:
                let all = one("Add", [input, recurrent])
                let inputForget = one("Sigmoid", [part(all, 0, count: 2)]), g = one("Tanh", [part(all, 2)])
                let o = one("Sigmoid", [part(all, 3)])
                let next = one("Add", [one("Mul", [part(inputForget, 1), cell!]), one("Mul", [part(inputForget, 0), g])])
                nextC = next
                nextH = one("Mul", [o, one("Tanh", [next])])
                activated = one("Concat", [inputForget, g, o], [ONNXAttribute("axis", .int(1))])
            case .gru:
                let resetUpdate = one("Sigmoid", [one("Add", [part(input, 0, count: 2), part(recurrent, 0, count: 2)])])
                let hn = part(recurrent, 2)
                let n = one("Tanh", [one("Add", [part(input, 2), one("Mul", [part(resetUpdate, 0), hn])])])
                nextH = one("Add", [n, one("Mul", [part(resetUpdate, 1), one("Sub", [h, n])])])
                nextC = nil
                activated = one("Concat", [resetUpdate, n, hn], [ONNXAttribute("axis", .int(1))])
            }
            if c.masked {
                let active = one("Unsqueeze", [step(x.names[x.names.count - 1], t), b.int64s([1])])
                h = one("Where", [active, nextH, h])
                if let nextC { cell = one("Where", [active, nextC, cell!]) }
                activated = one("Where", [active, activated, zero])
            } else {
                h = nextH
                if let nextC { cell = nextC }
            }
            let leading = b.int64s([0])
            hs[t] = one("Unsqueeze", [h, leading])
            if let cell { cs[t] = one("Unsqueeze", [cell, leading]) }
            gates[t] = one("Unsqueeze", [activated, leading])
        }
        let time0 = [ONNXAttribute("axis", .int(0))]
        return [one("Concat", hs, time0)] + (c.cell == .lstm ? [one("Concat", cs, time0)] : []) + [one("Concat", gates, time0)]
    }
}
