import XCTest
@testable import Ember
@testable import EmberNN

/// The fused LSTM and GRU recurrence primitives against their per-step formula (the tensor
/// operations the layers ran before, one step at a time), against float64 finite differences,
/// and under every transform (the conformance suite's `checkTransforms`). The layers built on
/// them are checked against PyTorch in NN/RecurrentTests and against their own cells here.
final class FusedRecurrenceTests: XCTestCase {
    /// One configuration: the primitive's inputs and how the public functions call it.
    struct Case {
        var config: RecurrenceConfig
        var inputs: [Tensor]

        var name: String { config.description }
        /// hs (and cs) side by side, the function the transforms check.
        func fused(_ x: [Tensor]) -> Tensor {
            let mask = config.masked ? x[x.count - 1] : nil
            switch config.cell {
            case .lstm:
                let (hs, cs) = lstmRecurrence(x[0], weightHH: x[1], biasHH: x[2], h0: x[3], c0: x[4], mask: mask,
                                              reverse: config.reverse)
                return Tensor.concatenate([hs, cs], axis: -1)
            case .gru:
                return gruRecurrence(x[0], weightHH: x[1], biasHH: x[2], h0: x[3], mask: mask, reverse: config.reverse)
            }
        }
        func unfused(_ x: [Tensor]) -> Tensor {
            let outputs = Recurrence.unfused(config, x)
            return config.cell == .lstm ? Tensor.concatenate([outputs[0], outputs[1]], axis: -1) : outputs[0]
        }
        /// The floating-point inputs (all but the mask).
        var differentiable: [Int] { Array(0..<config.stateInputs) }
    }

    static func normal(_ shape: [Int], _ seed: UInt64, dtype: DType = .float64) -> Tensor {
        Tensor.randomNormal(shape, dtype: .float64, source: .key(Key(seed))).cast(to: dtype)
    }

    /// Sequence b of `batch` has time - b steps (at least one); the mask [time, batch].
    static func lengthMask(time: Int, batch: Int) -> Tensor {
        Tensor(doubles: (0..<time).flatMap { t in (0..<batch).map { b in t < max(1, time - b) ? 1.0 : 0.0 } },
               shape: [time, batch], dtype: .float64) .> 0.5
    }

    /// Every cell, direction and masking; `large` sizes take oneDNN's matmul for float32
    /// (products above `MatmulKernel.smallProductLimit`).
    static func cases(dtype: DType = .float64, large: Bool = false) -> [Case] {
        let (time, batch, hidden) = large ? (9, 16, 48) : (5, 3, 4)
        var cases = [Case]()
        var seed: UInt64 = 1
        for cell in [RecurrenceConfig.Cell.lstm, .gru] {
            for reverse in [false, true] {
                for masked in [false, true] {
                    let config = RecurrenceConfig(cell: cell, reverse: reverse, masked: masked)
                    func n(_ shape: [Int], scale: Double = 1) -> Tensor {
                        seed += 1
                        return normal(shape, seed, dtype: dtype) * scale
                    }
                    let gates = cell.gates * hidden
                    var inputs = [n([time, batch, gates]), n([gates, hidden], scale: 0.5), n([gates], scale: 0.5),
                                  n([batch, hidden])]
                    if cell == .lstm { inputs.append(n([batch, hidden])) }
                    if masked { inputs.append(lengthMask(time: time, batch: batch)) }
                    cases.append(Case(config: config, inputs: inputs))
                }
            }
        }
        return cases
    }

    func testForwardMatchesThePerStepFormula() {
        for c in Self.cases() {
            let fused = Dispatch.run(.recurrence(c.config), c.inputs), reference = Recurrence.unfused(c.config, c.inputs)
            for k in fused.indices {
                assertClose(fused[k], reference[k], atol: 1e-12, rtol: 1e-12, "\(c.name): output \(k)")
            }
        }
        for large in [false, true] {
            for c in Self.cases(dtype: .float32, large: large) {
                assertClose(c.fused(c.inputs), c.unfused(c.inputs), atol: 2e-6, rtol: 1e-5, "\(c.name): float32, large: \(large)")
            }
        }
        // Masked steps leave the state as it was: the last sequence has three steps of five.
        let masked = Self.cases()[1]
        let hs = Dispatch.run(.recurrence(masked.config), masked.inputs)[0]
        XCTAssertEqual(hs[4][2].doubles, hs[2][2].doubles)
        XCTAssertNotEqual(hs[2][2].doubles, hs[1][2].doubles)
    }

    func testBackwardPrimitiveMatchesItsFormula() {
        for c in Self.cases() {
            let outputs = Dispatch.run(.recurrence(c.config), c.inputs)
            let hs = outputs[0], gates = outputs[outputs.count - 1]
            let mask = c.config.masked ? [c.inputs[c.inputs.count - 1]] : []
            let gradHs = Self.normal(hs.shape, 50)
            let arguments = c.config.cell == .lstm
                ? [c.inputs[1], c.inputs[4], outputs[1], gates, gradHs, Self.normal(hs.shape, 51)] + mask
                : [c.inputs[1], c.inputs[3], hs, gates, gradHs] + mask
            let fused = Dispatch.run(.recurrenceBackward(c.config), arguments)
            let reference = Recurrence.unfusedBackward(c.config, arguments)
            for k in fused.indices {
                assertClose(fused[k], reference[k], atol: 1e-12, rtol: 1e-12, "\(c.name): backward output \(k)")
            }
        }
    }

    func testGradientsMatchThePerStepFormulaAndFiniteDifferences() {
        for c in Self.cases() {
            assertGradientsMatchFormulaAndFiniteDifferences(
                c.fused, reference: c.unfused, inputs: c.inputs, wrt: c.differentiable,
                weight: Self.normal(c.fused(c.inputs).shape, 20), direction: { Self.normal(c.inputs[$0].shape, 30 + UInt64($0)) },
                atol: 1e-12, rtol: 1e-12, finiteDifferences: 1e-7, c.name)
        }
    }

    /// compile equals eager, vmap equals a loop (each input batched alone, W_hh and b_hh
    /// included, and all together), jvp agrees with vjp, grad through a trace replay equals
    /// eager grad.
    func testTransforms() {
        for c in Self.cases() {
            let w = Self.normal(c.fused(c.inputs).shape, 21)
            checkTransforms("recurrence \(c.name)", c.fused, inputs: c.inputs, cotangent: w, wrt: c.differentiable)
        }
    }

    /// Second derivatives run through the formula: grad of grad and jvp of grad (a
    /// Hessian-vector product) equal the per-step formula's.
    func testHigherDerivatives() {
        for c in [Self.cases()[1], Self.cases()[7]] {
            let w = Self.normal(c.fused(c.inputs).shape, 22)
            func gradNorm(_ f: @escaping ([Tensor]) -> Tensor) -> ([Tensor]) -> Tensor {
                { x in
                    let g = grad({ (f($0 + (c.config.masked ? [c.inputs.last!] : [])) * w).sum() })(x)
                    return g.map { ($0 * $0).sum() }.reduce(Tensor.scalar(0, dtype: .float64), +)
                }
            }
            let x = Array(c.inputs.prefix(c.config.stateInputs))
            let fusedSecond = grad(gradNorm(c.fused))(x), referenceSecond = grad(gradNorm(c.unfused))(x)
            for k in x.indices {
                assertClose(fusedSecond[k], referenceSecond[k], atol: 1e-10, rtol: 1e-9, "\(c.name): grad of grad, input \(k)")
            }
            let tangents = x.enumerated().map { Self.normal($1.shape, 40 + UInt64($0)) }
            let mask = c.config.masked ? [c.inputs.last!] : []
            let fusedHVP = jvp({ grad({ (c.fused($0 + mask) * w).sum() })($0) }, primals: x, tangents: tangents).tangents
            let referenceHVP = jvp({ grad({ (c.unfused($0 + mask) * w).sum() })($0) }, primals: x, tangents: tangents).tangents
            for k in x.indices {
                assertClose(fusedHVP[k], referenceHVP[k], atol: 1e-10, rtol: 1e-9, "\(c.name): jvp of grad, input \(k)")
            }
        }
    }

    /// The backward primitive's batching rule (per-example gradients: the examples' sequences
    /// side by side, W_hh shared).
    func testPerExampleGradients() {
        for c in [Self.cases()[3], Self.cases()[6]] {
            let w = Self.normal(c.fused(c.inputs).shape, 23)
            let mask = c.config.masked ? [c.inputs.last!] : []
            let wrt = c.differentiable
            let inAxes: [Int?] = wrt.map { [0, 3, 4].contains($0) ? 0 : nil }
            let perExample = vmap({ x in grad({ (c.fused($0 + mask) * w).sum() })(x) }, inAxes: inAxes)
            let batched = wrt.map { i in inAxes[i] == nil ? c.inputs[i] : Tensor.stack([c.inputs[i], c.inputs[i] * 0.5], axis: 0) }
            let results = perExample(batched)
            for example in 0..<2 {
                let x = wrt.map { inAxes[$0] == nil ? batched[$0] : batched[$0][example] }
                let expected = vjp({ c.unfused($0 + mask) }, x).pullback(w)
                for k in wrt.indices {
                    assertClose(results[k][example], expected[k], atol: 1e-11, rtol: 1e-10, "\(c.name): vmap of grad, input \(k)")
                }
            }
        }
    }

    func testShapeErrors() {
        let lstm = RecurrenceConfig(cell: .lstm), projected = TensorSpec([5, 2, 16], .float32)
        let weight = TensorSpec([16, 4], .float32), bias = TensorSpec([16], .float32), state = TensorSpec([2, 4], .float32)
        assertShapeError(.recurrence(lstm), [projected, weight, bias, state], mentions: ["recurrence", "expected 5 inputs"])
        assertShapeError(.recurrence(lstm), [TensorSpec([5, 2, 12], .float32), weight, bias, state, state],
                         mentions: ["[time, batch, 16]", "[5, 2, 12]"])
        assertShapeError(.recurrence(RecurrenceConfig(cell: .gru)), [TensorSpec([5, 2, 12], .float32), weight, bias, state],
                         mentions: ["W_hh", "[3·hidden, hidden]"])
        assertShapeError(.recurrence(lstm), [projected, weight, bias, state, TensorSpec([3, 4], .float32)],
                         mentions: ["states float32[2, 4]", "float32[3, 4]"])
        assertShapeError(.recurrence(RecurrenceConfig(cell: .lstm, masked: true)),
                         [projected, weight, bias, state, state, TensorSpec([5, 2], .int64)], mentions: ["mask bool[5, 2]"])
    }

    func testFLOPsCountTheStepProducts() {
        let c = Self.cases()[0]
        let counted = countingFLOPs { _ = c.fused(c.inputs) }.flops
        // 5 steps of [3, 4] x [4, 16], and the concatenation counts nothing.
        XCTAssertEqual(counted, 2 * 5 * 3 * 4 * 16)
    }

    // MARK: The layers against their cells

    /// The LSTM and GRU layers (two layers, bidirectional, batch first, initial states, packed
    /// lengths) equal their cells stepped one time step at a time with the same weights, as the
    /// layers computed before the fused primitive, in values and in the gradients of the input,
    /// every weight and the initial states.
    func testLayersMatchTheirCellsStepByStep() {
        let (batch, time, features, hidden) = (3, 6, 3, 4)
        let lengths = [6, 2, 4]
        let input = Self.normal([batch, time, features], 60)
        let h0 = Self.normal([4, batch, hidden], 61), c0 = Self.normal([4, batch, hidden], 62)
        for isLSTM in [true, false] {
            let layer: RecurrentLayer = isLSTM
                ? LSTM(inputSize: features, hiddenSize: hidden, numLayers: 2, batchFirst: true, bidirectional: true, dtype: .float64)
                : GRU(inputSize: features, hiddenSize: hidden, numLayers: 2, batchFirst: true, bidirectional: true, dtype: .float64)
            let names = layer.namedParameters().map(\.0)
            let variables = [input, h0] + (isLSTM ? [c0] : []) + layer.namedParameters().map(\.1)
            let initialCount = isLSTM ? 2 : 1
            func fused(_ x: [Tensor]) -> Tensor {
                let parameters = Dictionary(uniqueKeysWithValues: zip(names, x.dropFirst(1 + initialCount)))
                return layer.withState(parameters) {
                    if let lstm = layer as? LSTM {
                        let (output, state) = lstm(x[0], state: (x[1], x[2]), lengths: lengths)
                        return Tensor.concatenate([output.reshaped(to: [-1]), state.h.reshaped(to: [-1]), state.c.reshaped(to: [-1])])
                    }
                    let (output, hidden) = (layer as! GRU)(x[0], hidden: x[1], lengths: lengths)
                    return Tensor.concatenate([output.reshaped(to: [-1]), hidden.reshaped(to: [-1])])
                }
            }
            func stepped(_ x: [Tensor]) -> Tensor {
                let parameters = Dictionary(uniqueKeysWithValues: zip(names, x.dropFirst(1 + initialCount)))
                return Self.cellsStepByStep(x[0], initial: Array(x[1...initialCount]), parameters: parameters, lengths: lengths,
                                            lstm: isLSTM, hidden: hidden)
            }
            assertClose(fused(variables), stepped(variables), atol: 1e-12, rtol: 1e-12, "\(isLSTM ? "LSTM" : "GRU") values")
            let w = Self.normal(fused(variables).shape, 63)
            let fusedGrads = vjp(fused, variables).pullback(w), steppedGrads = vjp(stepped, variables).pullback(w)
            let labels = ["input", "h0"] + (isLSTM ? ["c0"] : []) + names
            for k in variables.indices {
                assertClose(fusedGrads[k], steppedGrads[k], atol: 1e-12, rtol: 1e-12, "\(isLSTM ? "LSTM" : "GRU") gradient of \(labels[k])")
            }
        }
    }

    /// A two-layer bidirectional batch-first LSTM or GRU as a loop of `LSTMCell`/`GRUCell`
    /// steps, holding each sequence's state past its length and giving zeros there.
    static func cellsStepByStep(_ input: Tensor, initial: [Tensor], parameters: [String: Tensor], lengths: [Int],
                                lstm: Bool, hidden: Int) -> Tensor {
        let (batch, time) = (input.shape[0], input.shape[1])
        var x = input
        var outputs = [Tensor](), finals = [[Tensor]]()
        for layer in 0..<2 {
            var directions = [Tensor]()
            for (direction, suffix) in ["", "_reverse"].enumerated() {
                let index = layer * 2 + direction
                let cellWeights = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"].map { parameters["\($0)_l\(layer)\(suffix)"]! }
                let cell: RecurrentCell = lstm
                    ? LSTMCell(inputSize: x.shape[2], hiddenSize: hidden, dtype: .float64)
                    : GRUCell(inputSize: x.shape[2], hiddenSize: hidden, dtype: .float64)
                (cell.weightIH, cell.weightHH, cell.biasIH, cell.biasHH) = (cellWeights[0], cellWeights[1], cellWeights[2], cellWeights[3])
                var state = initial.map { $0[index] }
                var sequence = [Tensor](repeating: state[0], count: time)
                for t in direction == 0 ? Array(0..<time) : Array((0..<time).reversed()) {
                    let step = x.narrow(axis: 1, start: t, count: 1).squeezed(axis: 1)
                    let next: [Tensor]
                    if let cell = cell as? LSTMCell {
                        let (h, c) = cell(step, state: (state[0], state[1]))
                        next = [h, c]
                    } else {
                        next = [(cell as! GRUCell)(step, hidden: state[0])]
                    }
                    let active = Tensor(lengths.map { Int64($0) }, shape: [batch, 1]) .> Double(t)
                    state = zip(next, state).map { Tensor.where(active, $0, $1) }
                    sequence[t] = Tensor.where(active, state[0], Tensor.zeros([batch, hidden], dtype: .float64))
                }
                directions.append(Tensor.stack(sequence, axis: 1))
                finals.append(state)
            }
            x = Tensor.concatenate(directions, axis: -1)
        }
        outputs.append(x.reshaped(to: [-1]))
        for k in initial.indices { outputs.append(Tensor.stack(finals.map { $0[k] }, axis: 0).reshaped(to: [-1])) }
        return Tensor.concatenate(outputs)
    }
}
