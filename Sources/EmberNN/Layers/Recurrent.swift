import Ember

/// What `LSTM` and `GRU` share, PyTorch's `RNNBase`: the configuration, the weights of each
/// layer and direction under PyTorch's names (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`,
/// `bias_hh_l0`, ..., `_reverse` for the backward direction) initialized uniformly in
/// ±1/√hiddenSize, and the loop over layers and directions (each one input projection and one
/// fused recurrence over the time steps).
public class RecurrentLayer: Module {
    public let inputSize: Int
    public let hiddenSize: Int
    public let numLayers: Int
    public let bias: Bool
    /// Inputs and outputs are [batch, time, features] (else [time, batch, features]); states
    /// are [numLayers·directions, batch, hiddenSize] either way.
    public let batchFirst: Bool
    /// Dropout on the outputs of every layer but the last, in training mode.
    public let dropout: Double
    public let bidirectional: Bool
    private var weights: [[DirectionWeights]] = []
    /// 4 for an LSTM, 3 for a GRU.
    private let gateCount: Int

    /// The parameter slots of one direction of one layer (slots, so that `withState` swaps them).
    struct DirectionWeights {
        let inputHidden: Parameter<Tensor>
        let hiddenHidden: Parameter<Tensor>
        let inputBias: Parameter<Tensor>?
        let hiddenBias: Parameter<Tensor>?
    }

    init(gates: Int, inputSize: Int, hiddenSize: Int, numLayers: Int, bias: Bool, batchFirst: Bool, dropout: Double,
         bidirectional: Bool, dtype: DType) {
        precondition(inputSize > 0 && hiddenSize > 0 && numLayers > 0,
                     "\(Self.self): inputSize, hiddenSize and numLayers must be positive, got \(inputSize), \(hiddenSize), \(numLayers)")
        precondition((0...1).contains(dropout), "\(Self.self): dropout must be in [0, 1], got \(dropout)")
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.bias = bias
        self.batchFirst = batchFirst
        self.dropout = dropout
        self.bidirectional = bidirectional
        gateCount = gates
        super.init()
        let bound = 1 / Double(hiddenSize).squareRoot()
        let initializer = Initializer.uniform(low: -bound, high: bound)
        for layer in 0..<numLayers {
            let layerInput = layer == 0 ? inputSize : hiddenSize * directions
            weights.append((bidirectional ? ["", "_reverse"] : [""]).map { suffix in
                func parameter(_ name: String, _ shape: [Int]) -> Parameter<Tensor> {
                    registerParameter(initializer.make(shape, dtype: dtype), as: "\(name)_l\(layer)\(suffix)")
                }
                // Registered in PyTorch's order: weight_ih, weight_hh, bias_ih, bias_hh.
                return DirectionWeights(inputHidden: parameter("weight_ih", [gates * hiddenSize, layerInput]),
                                        hiddenHidden: parameter("weight_hh", [gates * hiddenSize, hiddenSize]),
                                        inputBias: bias ? parameter("bias_ih", [gates * hiddenSize]) : nil,
                                        hiddenBias: bias ? parameter("bias_hh", [gates * hiddenSize]) : nil)
            })
        }
    }

    var directions: Int { bidirectional ? 2 : 1 }

    /// Runs every layer and direction over `input` ([time, in] unbatched) from the `initial`
    /// states (each [numLayers·directions, batch, hidden], zeros where nil: h, and c for an
    /// LSTM). Each direction is one input projection x·W_ihᵀ + b_ih of the whole sequence (one
    /// matmul) and one fused recurrence primitive (Ember's `lstmRecurrence`/`gruRecurrence`).
    ///
    /// With `lengths`, sequence b has only its first lengths[b] steps, as a PyTorch
    /// `PackedSequence`: its states stand still outside them (so the forward direction ends at
    /// its last step and the backward one starts there) and its outputs there are zeros.
    func run(_ input: Tensor, initial: [Tensor?], lengths: Lengths?) -> (output: Tensor, states: [Tensor]) {
        let unbatched = input.rank == 2
        precondition((input.rank == 3 || unbatched) && input.shape.last == inputSize,
                     "\(typeName): expected input \(batchFirst ? "[batch, time, \(inputSize)]" : "[time, batch, \(inputSize)]") or [time, \(inputSize)], found \(input.shape)")
        let batchAxis = batchFirst ? 0 : 1
        let batched = unbatched ? input.unsqueezed(axis: batchAxis) : input
        // Time-major inside: each step's rows are contiguous for the recurrence.
        var x = batchFirst ? batched.transposed(0, 1) : batched
        let time = x.shape[0], batch = x.shape[1]
        precondition(time > 0, "\(typeName): expected at least one time step, found \(input.shape)")
        let stateShape = [numLayers * directions, batch, hiddenSize]
        let states = initial.map { state in
            state.map { s -> Tensor in
                let batched = unbatched ? s.unsqueezed(axis: 1) : s
                precondition(batched.shape == stateShape,
                             "\(typeName): expected an initial state of shape \(unbatched ? [stateShape[0], hiddenSize] : stateShape), found \(s.shape)")
                return batched
            }
        }
        let zeros = Tensor.zeros([batch, hiddenSize], dtype: x.dtype)
        let mask = lengths.flatMap { activeSteps($0, batch: batch, time: time) }
        var finals = [[Tensor]]()
        for (layer, layerWeights) in weights.enumerated() {
            var outputs = [Tensor]()
            for (direction, w) in layerWeights.enumerated() {
                let index = layer * directions + direction, reverse = direction == 1
                let projected = x.matmul(w.inputHidden.wrappedValue.transposed())
                let gates = w.inputBias.map { projected + $0.wrappedValue } ?? projected
                let h0 = states[0]?[index] ?? zeros
                let sequences: [Tensor]
                if gateCount == 4 {
                    let (hs, cs) = lstmRecurrence(gates, weightHH: w.hiddenHidden.wrappedValue, biasHH: w.hiddenBias?.wrappedValue,
                                                  h0: h0, c0: states[1]?[index] ?? zeros, mask: mask, reverse: reverse)
                    sequences = [hs, cs]
                } else {
                    sequences = [gruRecurrence(gates, weightHH: w.hiddenHidden.wrappedValue, biasHH: w.hiddenBias?.wrappedValue,
                                               h0: h0, mask: mask, reverse: reverse)]
                }
                // States stand still outside a sequence, so the last step run holds every final state.
                finals.append(sequences.map { $0[reverse ? 0 : time - 1] })
                let hs = sequences[0]
                outputs.append(mask.map { Tensor.where($0.unsqueezed(axis: -1), hs, Tensor.scalar(0, dtype: hs.dtype)) } ?? hs)
            }
            x = outputs.count == 1 ? outputs[0] : Tensor.concatenate(outputs, axis: -1)
            // A fresh Dropout is in training mode.
            if isTraining && dropout > 0 && layer < numLayers - 1 { x = Dropout(probability: dropout).forward(x) }
        }
        if batchFirst { x = x.transposed(0, 1) }
        let finalStates = initial.indices.map { k in Tensor.stack(finals.map { $0[k] }, axis: 0) }
        guard unbatched else { return (x, finalStates) }
        return (x.squeezed(axis: batchAxis), finalStates.map { $0.squeezed(axis: 1) })
    }

    /// Sequence lengths as Swift values (checked, and steps that every sequence has skip the
    /// mask) or as a tensor [batch] (for traced functions: nothing reads its values).
    enum Lengths {
        case values([Int])
        case tensor(Tensor)
    }

    /// A [time, batch] mask of the steps each sequence has, or nil where every sequence has all.
    private func activeSteps(_ lengths: Lengths, batch: Int, time: Int) -> Tensor? {
        let steps = Tensor.arange(time).reshaped(to: [time, 1])
        switch lengths {
        case .values(let lengths):
            precondition(lengths.count == batch && lengths.allSatisfy { (1...time).contains($0) },
                         "\(typeName): expected \(batch) lengths (one per sequence) in 1...\(time), found \(lengths)")
            if lengths.allSatisfy({ $0 == time }) { return nil }
            return Tensor(lengths.map(Int64.init), shape: [1, batch]) .> steps
        case .tensor(let lengths):
            precondition(lengths.shape == [batch] && !lengths.dtype.isFloatingPoint,
                         "\(typeName): expected integer lengths [\(batch)] (one per sequence), found \(lengths.dtype) \(lengths.shape)")
            return lengths.cast(to: steps.dtype).reshaped(to: [1, batch]) .> steps
        }
    }
}

/// A multi-layer long short-term memory, PyTorch's `nn.LSTM` (gates in the order input, forget,
/// cell, output): returns the last layer's hidden state at every step [.., time, .., D·hidden]
/// and the final hidden and cell states of every layer and direction.
public final class LSTM: RecurrentLayer {
    public init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Double = 0, bidirectional: Bool = false, dtype: DType = .float32) {
        super.init(gates: 4, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, dtype: dtype)
    }

    /// `lengths` (one per sequence, each in 1...time) make the batch a packed sequence (see
    /// `RecurrentLayer.run`): the final states are those of each sequence's own last step.
    public func callAsFunction(_ input: Tensor, state: (h: Tensor, c: Tensor)? = nil, lengths: [Int]? = nil)
        -> (output: Tensor, state: (h: Tensor, c: Tensor)) {
        run(input, state: state, lengths: lengths.map { .values($0) })
    }

    /// Lengths as an integer tensor [batch], for traced functions (`compile`, `vmap`): each
    /// step is masked by `lengths > t`.
    public func callAsFunction(_ input: Tensor, state: (h: Tensor, c: Tensor)? = nil, lengths: Tensor)
        -> (output: Tensor, state: (h: Tensor, c: Tensor)) {
        run(input, state: state, lengths: .tensor(lengths))
    }

    private func run(_ input: Tensor, state: (h: Tensor, c: Tensor)?, lengths: Lengths?) -> (output: Tensor, state: (h: Tensor, c: Tensor)) {
        recordingCall {
            let (output, states) = run(input, initial: [state?.h, state?.c], lengths: lengths)
            return (output, (states[0], states[1]))
        }
    }
}

/// A multi-layer gated recurrent unit, PyTorch's `nn.GRU` (gates reset, update, new; the reset
/// gate scales W_hn h + b_hn): returns the last layer's hidden state at every step and the final
/// hidden state of every layer and direction.
public final class GRU: RecurrentLayer {
    public init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Double = 0, bidirectional: Bool = false, dtype: DType = .float32) {
        super.init(gates: 3, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, dtype: dtype)
    }

    /// `lengths` as for `LSTM`.
    public func callAsFunction(_ input: Tensor, hidden: Tensor? = nil, lengths: [Int]? = nil) -> (output: Tensor, hidden: Tensor) {
        recordingCall {
            let (output, states) = run(input, initial: [hidden], lengths: lengths.map { .values($0) })
            return (output, states[0])
        }
    }
}

/// The weights of one recurrent step with `gates` gates stacked along the first axis, in
/// PyTorch's layout and initialization (the base of `LSTMCell` and `GRUCell`).
public class RecurrentCell: Module {
    @Parameter public var weightIH: Tensor
    @Parameter public var weightHH: Tensor
    @Parameter public var biasIH: Tensor?
    @Parameter public var biasHH: Tensor?
    public let inputSize: Int
    public let hiddenSize: Int

    init(_ name: String, gates: Int, inputSize: Int, hiddenSize: Int, bias: Bool, dtype: DType) {
        precondition(inputSize > 0 && hiddenSize > 0, "\(name): sizes must be positive, got \(inputSize) → \(hiddenSize)")
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        let make = cellInitializer(hiddenSize: hiddenSize, dtype: dtype)
        // PyTorch's names, which snake case would spell weight_i_h.
        _weightIH = Parameter(wrappedValue: make([gates * hiddenSize, inputSize]), key: "weight_ih")
        _weightHH = Parameter(wrappedValue: make([gates * hiddenSize, hiddenSize]), key: "weight_hh")
        _biasIH = Parameter(wrappedValue: bias ? make([gates * hiddenSize]) : nil, key: "bias_ih")
        _biasHH = Parameter(wrappedValue: bias ? make([gates * hiddenSize]) : nil, key: "bias_hh")
    }
}

/// One LSTM step, PyTorch's `nn.LSTMCell`: input [batch, inputSize] (or [inputSize]) and state
/// (h, c) [batch, hiddenSize] (zeros when nil) to the next state.
public final class LSTMCell: RecurrentCell {
    public init(inputSize: Int, hiddenSize: Int, bias: Bool = true, dtype: DType = .float32) {
        super.init("LSTMCell", gates: 4, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, dtype: dtype)
    }

    public func callAsFunction(_ input: Tensor, state: (h: Tensor, c: Tensor)? = nil) -> (h: Tensor, c: Tensor) {
        recordingCall {
            let x = cellInput(input, "LSTMCell", inputSize: inputSize)
            let h = cellState(state?.h, "LSTMCell", like: x, hiddenSize: hiddenSize, unbatched: input.rank == 1)
            let c = cellState(state?.c, "LSTMCell", like: x, hiddenSize: hiddenSize, unbatched: input.rank == 1)
            let projected = x.matmul(weightIH.transposed())
            let next = Self.step(biasIH.map { projected + $0 } ?? projected, h: h, c: c, weightHH: weightHH, biasHH: biasHH)
            return input.rank == 1 ? (next.h.squeezed(axis: 0), next.c.squeezed(axis: 0)) : next
        }
    }

    /// The next (h, c) from the input projection `gates` [batch, 4·hidden] and the state.
    static func step(_ gates: Tensor, h: Tensor, c: Tensor, weightHH: Tensor, biasHH: Tensor?) -> (h: Tensor, c: Tensor) {
        let recurrent = h.matmul(weightHH.transposed())
        let all = gates + (biasHH.map { recurrent + $0 } ?? recurrent)
        let hidden = h.shape[1]
        // Input and forget gates are adjacent: one sigmoid for both.
        let inputForget = all.narrow(axis: 1, start: 0, count: 2 * hidden).sigmoid()
        let cell = all.narrow(axis: 1, start: 2 * hidden, count: hidden).tanh()
        let output = all.narrow(axis: 1, start: 3 * hidden, count: hidden).sigmoid()
        let nextC = inputForget.narrow(axis: 1, start: hidden, count: hidden) * c
            + inputForget.narrow(axis: 1, start: 0, count: hidden) * cell
        return (output * nextC.tanh(), nextC)
    }
}

/// One GRU step, PyTorch's `nn.GRUCell`: input [batch, inputSize] (or [inputSize]) and hidden
/// state [batch, hiddenSize] (zeros when nil) to the next hidden state.
public final class GRUCell: RecurrentCell {
    public init(inputSize: Int, hiddenSize: Int, bias: Bool = true, dtype: DType = .float32) {
        super.init("GRUCell", gates: 3, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, dtype: dtype)
    }

    public func callAsFunction(_ input: Tensor, hidden: Tensor? = nil) -> Tensor {
        recordingCall {
            let x = cellInput(input, "GRUCell", inputSize: inputSize)
            let h = cellState(hidden, "GRUCell", like: x, hiddenSize: hiddenSize, unbatched: input.rank == 1)
            let projected = x.matmul(weightIH.transposed())
            let next = Self.step(biasIH.map { projected + $0 } ?? projected, h: h, weightHH: weightHH, biasHH: biasHH)
            return input.rank == 1 ? next.squeezed(axis: 0) : next
        }
    }

    /// The next hidden state from the input projection `gates` [batch, 3·hidden] and h.
    static func step(_ gates: Tensor, h: Tensor, weightHH: Tensor, biasHH: Tensor?) -> Tensor {
        let product = h.matmul(weightHH.transposed())
        let recurrent = biasHH.map { product + $0 } ?? product
        let hidden = h.shape[1]
        let resetUpdate = (gates.narrow(axis: 1, start: 0, count: 2 * hidden)
            + recurrent.narrow(axis: 1, start: 0, count: 2 * hidden)).sigmoid()
        let reset = resetUpdate.narrow(axis: 1, start: 0, count: hidden)
        let update = resetUpdate.narrow(axis: 1, start: hidden, count: hidden)
        let new = (gates.narrow(axis: 1, start: 2 * hidden, count: hidden)
            + reset * recurrent.narrow(axis: 1, start: 2 * hidden, count: hidden)).tanh()
        // (1 - z) n + z h, with one product fewer.
        return new + update * (h - new)
    }
}

/// PyTorch's initialization of recurrent weights: uniform in ±1/√hiddenSize.
private func cellInitializer(hiddenSize: Int, dtype: DType) -> ([Int]) -> Tensor {
    let bound = 1 / Double(hiddenSize).squareRoot()
    return { Initializer.uniform(low: -bound, high: bound).make($0, dtype: dtype) }
}

/// A cell's input as [batch, inputSize].
private func cellInput(_ input: Tensor, _ layer: String, inputSize: Int) -> Tensor {
    precondition((input.rank == 2 || input.rank == 1) && input.shape.last == inputSize,
                 "\(layer): expected input [batch, \(inputSize)] or [\(inputSize)], found \(input.shape)")
    return input.rank == 1 ? input.unsqueezed(axis: 0) : input
}

/// A cell's state as [batch, hiddenSize], zeros when absent.
private func cellState(_ state: Tensor?, _ layer: String, like x: Tensor, hiddenSize: Int, unbatched: Bool) -> Tensor {
    guard let state else { return Tensor.zeros([x.shape[0], hiddenSize], dtype: x.dtype) }
    let batched = unbatched ? state.unsqueezed(axis: 0) : state
    precondition(batched.shape == [x.shape[0], hiddenSize],
                 "\(layer): expected a state of shape \(unbatched ? [hiddenSize] : [x.shape[0], hiddenSize]), found \(state.shape)")
    return batched
}
