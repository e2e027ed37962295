import Ember

/// A batch-first recurrent layer's output at the last step, [N, L, F] → [N, hidden]: Keras's
/// `LSTM(units)` (its default, `return_sequences=False`) as `LastOutput(LSTM(...))`; an
/// LSTM or a GRU.
public final class LastOutput: Module, Layer {
    public let recurrent: RecurrentLayer

    public init(_ recurrent: RecurrentLayer) {
        precondition(recurrent.batchFirst, "LastOutput: the recurrent layer must be batch-first ([N, L, F])")
        precondition(recurrent is LSTM || recurrent is GRU, "LastOutput: expected an LSTM or a GRU")
        self.recurrent = recurrent
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 3 && x.shape[1] > 0, "LastOutput: expected a batch of sequences [N, L, F] with L > 0, got \(x.shape)")
        let output = if let lstm = recurrent as? LSTM { lstm(x).output } else { (recurrent as! GRU)(x).output }
        return output.narrow(axis: 1, start: x.shape[1] - 1, count: 1).squeezed(axis: 1)
    }
}
