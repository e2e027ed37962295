import Ember

/// RNN, GRU and LSTM. An LSTM without peepholes and a GRU with linear_before_reset = 1 (the
/// cells PyTorch and Ember compute) run as one input projection of the whole sequence and
/// Ember's fused recurrence primitive per direction, sequence_lens included (as the
/// primitive's mask). The rest (RNN, peepholes, linear_before_reset = 0) is unrolled over time
/// into matrix products and elementwise gates. Either way the graph differentiates, batches
/// and compiles. Default activations only, no clip or input_forget.
enum ONNXRecurrentOperators {
    static let all: [ONNXOperator] = [
        ONNXOperator("RNN", since: 7) { context in try run(context, gates: 1, activations: ["Tanh"]) },
        ONNXOperator("GRU", since: 7) { context in try run(context, gates: 3, activations: ["Sigmoid", "Tanh"]) },
        ONNXOperator("LSTM", since: 7) { context in try run(context, gates: 4, activations: ["Sigmoid", "Tanh", "Tanh"]) },
    ]

    /// A recurrent node's operands in time-major layout, checked.
    struct Operands {
        let gates: Int, hidden: Int, directions: [Bool]
        let x: Tensor, w: Tensor, r: Tensor, bias: Tensor?
        /// [directions, batch, hidden] (time-major layout).
        let initialH: Tensor?, initialC: Tensor?, peepholes: Tensor?
        let sequenceLengths: Tensor?
        let batchFirst: Bool, linearBeforeReset: Bool

        var steps: Int { x.shape[0] }
        var batch: Int { x.shape[1] }
        /// The cells Ember's recurrence primitive computes exactly.
        var isFusable: Bool { gates == 4 ? peepholes == nil : gates == 3 && linearBeforeReset }
    }

    private static func run(_ context: ONNXNodeContext, gates: Int, activations defaults: [String]) throws -> [Tensor] {
        let operands = try read(context, gates: gates, activations: defaults)
        var (y, yh, yc) = try operands.isFusable ? fused(operands) : unrolled(context, operands)
        if operands.batchFirst {
            y = y.permuted(2, 0, 1, 3)
            yh = yh.transposed(0, 1)
            yc = yc.transposed(0, 1)
        }
        return gates == 4 ? [y, yh, yc] : [y, yh]
    }

    private static func read(_ context: ONNXNodeContext, gates: Int, activations defaults: [String]) throws -> Operands {
        var x = try context.input(0)
        let w = try context.input(1), r = try context.input(2)
        let batchFirst = context.int("layout", 0) != 0
        if batchFirst { x = x.transposed(0, 1) }
        let direction = context.string("direction", "forward")
        guard ["forward", "reverse", "bidirectional"].contains(direction) else {
            throw context.fail("direction '\(direction)' is not supported (forward, reverse or bidirectional)")
        }
        let directions = direction == "bidirectional" ? [false, true] : [direction == "reverse"]
        guard x.rank == 3, w.rank == 3, r.rank == 3, w.shape[0] == directions.count, r.shape[0] == directions.count else {
            throw context.fail("X \(x.shape), W \(w.shape) and R \(r.shape) do not fit \(directions.count) direction(s)")
        }
        guard x.shape[0] > 0 else { throw context.fail("X \(x.shape) has no time steps") }
        let hidden = r.shape[2]
        guard w.shape[1] == gates * hidden, r.shape[1] == gates * hidden, w.shape[2] == x.shape[2] else {
            throw context.fail("W \(w.shape) and R \(r.shape) must have \(gates) gates of \(hidden) units for inputs of \(x.shape[2])")
        }
        if context.has("hidden_size"), context.int("hidden_size", hidden) != hidden {
            throw context.fail("hidden_size \(context.int("hidden_size", hidden)) does not match R \(r.shape)")
        }
        if let given = context.strings("activations"), given != Array(repeating: defaults, count: directions.count).flatMap({ $0 }) {
            throw context.fail("activations \(given) are not supported (only the defaults \(defaults))")
        }
        guard !context.has("clip"), context.int("input_forget", 0) == 0 else { throw context.fail("clip and input_forget are not supported") }
        let (d, batch) = (directions.count, x.shape[1])
        let bias = context.optionalInput(3)
        if let bias, bias.shape != [d, 2 * gates * hidden] {
            throw context.fail("B \(bias.shape) must be [\(d), \(2 * gates * hidden)]")
        }
        // Initial states are [batch, directions, hidden] in layout 1.
        func state(_ index: Int, _ name: String) throws -> Tensor? {
            guard let given = context.optionalInput(index) else { return nil }
            let expected = batchFirst ? [batch, d, hidden] : [d, batch, hidden]
            guard given.shape == expected else { throw context.fail("\(name) \(given.shape) must be \(expected)") }
            return batchFirst ? given.transposed(0, 1) : given
        }
        let peepholes = gates == 4 ? context.optionalInput(7) : nil
        if let peepholes, peepholes.shape != [d, 3 * hidden] { throw context.fail("P \(peepholes.shape) must be [\(d), \(3 * hidden)]") }
        let lengths = context.optionalInput(4)
        if let lengths {
            guard lengths.shape == [batch], !lengths.dtype.isFloatingPoint else {
                throw context.fail("sequence_lens must be integers [\(batch)], got \(lengths.dtype) \(lengths.shape)")
            }
            if !lengths.isAbstract, let bad = try context.ints(4)!.first(where: { !(0...x.shape[0]).contains($0) }) {
                throw context.fail("sequence_lens holds \(bad), outside 0...\(x.shape[0]) (the sequence length)")
            }
        }
        let initialH = try state(5, "initial_h"), initialC = gates == 4 ? try state(6, "initial_c") : nil
        return Operands(gates: gates, hidden: hidden, directions: directions, x: x, w: w, r: r, bias: bias,
                        initialH: initialH, initialC: initialC,
                        peepholes: peepholes, sequenceLengths: lengths, batchFirst: batchFirst,
                        linearBeforeReset: context.int("linear_before_reset", 0) != 0)
    }

    // MARK: Fused

    /// Ember's gate block k is ONNX's block order[k]: ONNX orders LSTM gates i, o, f, c and GRU
    /// gates z, r, h; Ember (as PyTorch) i, f, g, o and r, z, n. The weights are reordered in the
    /// graph, so the parameters keep the file's layout (its state-dict keys and meaning).
    private static func emberGateOrder(_ gates: Int) -> [Int] { gates == 4 ? [0, 2, 3, 1] : [1, 0, 2] }

    private static func reordered(_ t: Tensor, axis: Int, _ o: Operands) -> Tensor {
        Tensor.concatenate(emberGateOrder(o.gates).map { t.narrow(axis: axis, start: $0 * o.hidden, count: o.hidden) }, axis: axis)
    }

    private static func fused(_ o: Operands) -> (Tensor, Tensor, Tensor) {
        let width = o.gates * o.hidden
        let w = reordered(o.w, axis: 1, o), r = reordered(o.r, axis: 1, o)
        // B is W's bias then R's, each in ONNX's gate order.
        let bias = o.bias.map { reordered($0.reshaped(to: [o.directions.count, 2, width]), axis: 2, o) }
        let zeros = Tensor.zeros([o.batch, o.hidden], dtype: o.x.dtype)
        // [steps, batch]: true at the steps sequence b has. A sequence's state stands still
        // past its length, so the last step run (the last or, reversed, the first) holds it.
        let mask = o.sequenceLengths.flatMap { lengths -> Tensor? in
            if !lengths.isAbstract, lengths.scalars(as: Int64.self).allSatisfy({ $0 == Int64(o.steps) }) { return nil }
            return lengths.cast(to: .int64).reshaped(to: [1, o.batch]) .> Tensor.arange(o.steps).reshaped(to: [o.steps, 1])
        }
        var ys = [Tensor](), lastH = [Tensor](), lastC = [Tensor]()
        for (d, reverse) in o.directions.enumerated() {
            var projected = o.x.matmul(w[d].transposed())
            if let bias { projected = projected + bias[d][0] }
            let h0 = o.initialH?[d] ?? zeros
            let sequences: [Tensor]
            if o.gates == 4 {
                let (hs, cs) = lstmRecurrence(projected, weightHH: r[d], biasHH: bias?[d][1], h0: h0,
                                              c0: o.initialC?[d] ?? zeros, mask: mask, reverse: reverse)
                sequences = [hs, cs]
            } else {
                sequences = [gruRecurrence(projected, weightHH: r[d], biasHH: bias?[d][1], h0: h0, mask: mask, reverse: reverse)]
            }
            var finals = sequences.map { $0[reverse ? 0 : o.steps - 1] }
            var y = sequences[0]
            if let mask {
                // onnxruntime's outputs: zeros past each length, and zero final states for an empty sequence.
                let zero = Tensor.scalar(0, dtype: y.dtype)
                y = Tensor.where(mask.unsqueezed(axis: -1), y, zero)
                finals = finals.map { Tensor.where(mask[0].unsqueezed(axis: -1), $0, zero) }
            }
            ys.append(y)
            lastH.append(finals[0])
            lastC.append(finals.count > 1 ? finals[1] : zeros)
        }
        return (Tensor.stack(ys, axis: 1), Tensor.stack(lastH, axis: 0), Tensor.stack(lastC, axis: 0))
    }

    // MARK: Unrolled

    private static func unrolled(_ context: ONNXNodeContext, _ o: Operands) throws -> (Tensor, Tensor, Tensor) {
        if let lengths = o.sequenceLengths, try lengths.isAbstract || context.ints(4)!.contains(where: { $0 != o.steps }) {
            throw context.fail("sequence_lens shorter than the sequence (\(o.steps)) are supported only for LSTM without "
                               + "peepholes and GRU with linear_before_reset = 1")
        }
        let (gates, hidden, x) = (o.gates, o.hidden, o.x)
        var outputs = [Tensor](), lastH = [Tensor](), lastC = [Tensor]()
        for (d, reverse) in o.directions.enumerated() {
            let wd = o.w[d], rd = o.r[d]
            let inputBias = o.bias.map { $0[d].narrow(axis: 0, start: 0, count: gates * hidden) }
            let recurrentBias = o.bias.map { $0[d].narrow(axis: 0, start: gates * hidden, count: gates * hidden) }
            var h = o.initialH.map { $0[d] } ?? Tensor.zeros([o.batch, hidden], dtype: x.dtype)
            var c = o.initialC.map { $0[d] } ?? Tensor.zeros([o.batch, hidden], dtype: x.dtype)
            // The input projection of every step at once: [steps, batch, gates·hidden].
            var projected = x.matmul(wd.transposed())
            if let inputBias { projected = projected + inputBias }
            var sequence = [Tensor](repeating: h, count: o.steps)
            for t in (reverse ? Array((0..<o.steps).reversed()) : Array(0..<o.steps)) {
                let xt = projected[t]
                func gate(_ tensor: Tensor, _ k: Int) -> Tensor { tensor.narrow(axis: -1, start: k * hidden, count: hidden) }
                var ht = h.matmul(rd.transposed())
                if let recurrentBias { ht = ht + recurrentBias }
                switch gates {
                case 1:
                    h = (xt + ht).tanh()
                case 3:
                    let z = (gate(xt, 0) + gate(ht, 0)).sigmoid(), reset = (gate(xt, 1) + gate(ht, 1)).sigmoid()
                    let candidate: Tensor
                    if o.linearBeforeReset {
                        candidate = (gate(xt, 2) + reset * gate(ht, 2)).tanh()
                    } else {
                        var recurrent = (reset * h).matmul(rd.narrow(axis: 0, start: 2 * hidden, count: hidden).transposed())
                        if let recurrentBias { recurrent = recurrent + gate(recurrentBias, 2) }
                        candidate = (gate(xt, 2) + recurrent).tanh()
                    }
                    h = (1 - z) * candidate + z * h
                default:
                    let p = o.peepholes.map { $0[d] }
                    var i = gate(xt, 0) + gate(ht, 0), f = gate(xt, 2) + gate(ht, 2)
                    if let p {
                        i = i + gate(p, 0) * c
                        f = f + gate(p, 2) * c
                    }
                    c = f.sigmoid() * c + i.sigmoid() * (gate(xt, 3) + gate(ht, 3)).tanh()
                    var out = gate(xt, 1) + gate(ht, 1)
                    if let p { out = out + gate(p, 1) * c }
                    h = out.sigmoid() * c.tanh()
                }
                sequence[t] = h
            }
            outputs.append(Tensor.stack(sequence, axis: 0))
            lastH.append(h)
            lastC.append(c)
        }
        return (Tensor.stack(outputs, axis: 1), Tensor.stack(lastH, axis: 0), Tensor.stack(lastC, axis: 0))
    }
}
