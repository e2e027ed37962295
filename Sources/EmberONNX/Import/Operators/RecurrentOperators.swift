import Ember

/// RNN, GRU and LSTM, unrolled over time into matrix products and elementwise gates (so
/// they differentiate and compile like any graph). Default activations only; sequence_lens
/// must be absent or all equal to the sequence length.
enum ONNXRecurrentOperators {
    static let all: [ONNXOperator] = [
        ONNXOperator("RNN", since: 7) { context in try run(context, gates: 1, activations: ["Tanh"]) },
        ONNXOperator("GRU", since: 7) { context in try run(context, gates: 3, activations: ["Sigmoid", "Tanh"]) },
        ONNXOperator("LSTM", since: 7) { context in try run(context, gates: 4, activations: ["Sigmoid", "Tanh", "Tanh"]) },
    ]

    private static func run(_ context: ONNXNodeContext, gates: Int, activations defaults: [String]) throws -> [Tensor] {
        var x = try context.input(0)
        let w = try context.input(1), r = try context.input(2)
        let batchFirst = context.int("layout", 0) != 0
        if batchFirst { x = x.transposed(0, 1) }
        let directions = context.string("direction", "forward")
        let directionCount = directions == "bidirectional" ? 2 : 1
        guard ["forward", "reverse", "bidirectional"].contains(directions) else { throw context.fail("direction '\(directions)' is not supported") }
        guard x.rank == 3, w.rank == 3, r.rank == 3, w.shape[0] == directionCount, r.shape[0] == directionCount else {
            throw context.fail("X \(x.shape), W \(w.shape) and R \(r.shape) do not fit \(directionCount) direction(s)")
        }
        let hidden = r.shape[2]
        guard w.shape[1] == gates * hidden, r.shape[1] == gates * hidden, w.shape[2] == x.shape[2] else {
            throw context.fail("W \(w.shape) and R \(r.shape) must have \(gates) gates of \(hidden) units for inputs of \(x.shape[2])")
        }
        if let given = context.strings("activations"), given != Array(repeating: defaults, count: directionCount).flatMap({ $0 }) {
            throw context.fail("activations \(given) are not supported (only the defaults \(defaults))")
        }
        guard !context.has("clip"), context.int("input_forget", 0) == 0 else { throw context.fail("clip and input_forget are not supported") }
        let (steps, batch) = (x.shape[0], x.shape[1])
        if let lengths = try context.ints(4), lengths.contains(where: { $0 != steps }) {
            throw context.fail("sequence_lens \(lengths) shorter than the sequence (\(steps)) are not supported")
        }
        let bias = context.optionalInput(3)
        let initialH = context.optionalInput(5), initialC = gates == 4 ? context.optionalInput(6) : nil
        let peepholes = gates == 4 ? context.optionalInput(7) : nil
        let linearBeforeReset = context.int("linear_before_reset", 0) != 0

        var outputs = [Tensor](), lastH = [Tensor](), lastC = [Tensor]()
        for d in 0..<directionCount {
            let reverse = directions == "reverse" || d == 1
            let wd = w[d], rd = r[d]
            let inputBias = bias.map { $0[d].narrow(axis: 0, start: 0, count: gates * hidden) }
            let recurrentBias = bias.map { $0[d].narrow(axis: 0, start: gates * hidden, count: gates * hidden) }
            var h = initialH.map { $0[d] } ?? Tensor.zeros([batch, hidden], dtype: x.dtype)
            var c = initialC.map { $0[d] } ?? Tensor.zeros([batch, hidden], dtype: x.dtype)
            // The input projection of every step at once: [steps, batch, gates·hidden].
            var projected = x.matmul(wd.transposed())
            if let inputBias { projected = projected + inputBias }
            var sequence = [Tensor](repeating: h, count: steps)
            for t in (reverse ? Array((0..<steps).reversed()) : Array(0..<steps)) {
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
                    if linearBeforeReset {
                        candidate = (gate(xt, 2) + reset * gate(ht, 2)).tanh()
                    } else {
                        var recurrent = (reset * h).matmul(rd.narrow(axis: 0, start: 2 * hidden, count: hidden).transposed())
                        if let recurrentBias { recurrent = recurrent + gate(recurrentBias, 2) }
                        candidate = (gate(xt, 2) + recurrent).tanh()
                    }
                    h = (1 - z) * candidate + z * h
                default:
                    let p = peepholes.map { $0[d] }
                    var i = gate(xt, 0) + gate(ht, 0), f = gate(xt, 2) + gate(ht, 2)
                    if let p {
                        i = i + gate(p, 0) * c
                        f = f + gate(p, 2) * c
                    }
                    c = f.sigmoid() * c + i.sigmoid() * (gate(xt, 3) + gate(ht, 3)).tanh()
                    var o = gate(xt, 1) + gate(ht, 1)
                    if let p { o = o + gate(p, 1) * c }
                    h = o.sigmoid() * c.tanh()
                }
                sequence[t] = h
            }
            outputs.append(Tensor.stack(sequence, axis: 0))
            lastH.append(h)
            lastC.append(c)
        }
        var y = Tensor.stack(outputs, axis: 1)
        var yh = Tensor.stack(lastH, axis: 0), yc = Tensor.stack(lastC, axis: 0)
        if batchFirst {
            y = y.permuted(2, 0, 1, 3)
            yh = yh.transposed(0, 1)
            yc = yc.transposed(0, 1)
        }
        return gates == 4 ? [y, yh, yc] : [y, yh]
    }
}
