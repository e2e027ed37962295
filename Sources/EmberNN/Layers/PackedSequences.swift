import Ember

/// The real tokens of a padded batch packed into one sequence, for padding-free encoder
/// inference (the idea of PyTorch's nested-tensor fast path and FasterTransformer's "remove
/// padding"): projections, feed-forward blocks and layer norms run on the `tokenCount` packed
/// rows [tokens, features] instead of batch × length, and attention regroups the rows by
/// sentence into [batch, span, features] (span: the longest sentence, not the padded length)
/// so that each token attends within its own sentence only.
///
/// Each sentence occupies the columns from its first to its last real token; a column inside
/// that run whose mask is 0 stays a masked slot of the regrouped layout, so any mask gives the
/// values of the padded computation on its real tokens (to float rounding). Every index is a
/// tensor, so a packing built outside `compile` can be passed into a compiled function as
/// inputs (`tensors`, `init(tensors:)`).
public struct PackedSequences {
    /// [tokens] int64: each packed row's row in the padded batch flattened to [batch · length].
    public let sourceRows: Tensor
    /// [tokens] int64: each packed row's column in the padded batch (its position id).
    public let positions: Tensor
    /// [batch · span] int64: the packed row each slot of the regrouped layout reads (0 for an
    /// empty slot, which `slotMask` hides).
    public let slotRows: Tensor
    /// [tokens] int64: each packed row's slot in [batch · span].
    public let rowSlots: Tensor
    /// [batch, span] float32: 1 for a slot holding a real token, 0 for an empty one.
    public let slotMask: Tensor
    /// [batch · length] int64: each padded position's packed row, `tokenCount` for padding.
    public let paddedRows: Tensor

    /// Rows of the packed sequence: the real tokens, then filler rows up to a multiple of
    /// `rowMultiple` (they copy row 0's token; nothing reads them back).
    public var tokenCount: Int { sourceRows.shape[0] }
    public var batch: Int { slotMask.shape[0] }
    public var span: Int { slotMask.shape[1] }

    /// The packing of `attentionMask` [batch, length] (1 or true for real tokens, 0 for
    /// padding), which must hold values (not be traced). The packed rows are rounded up to a
    /// multiple of `rowMultiple` and the span to a multiple of `spanMultiple`, so that a
    /// compiled encoder sees few distinct shapes.
    public init(attentionMask: Tensor, rowMultiple: Int = 32, spanMultiple: Int = 8) {
        precondition(attentionMask.rank == 2, "PackedSequences: expected an attention mask [batch, length], found \(attentionMask.shape)")
        precondition(!attentionMask.isAbstract, "PackedSequences: the attention mask must hold values; a traced mask cannot be packed")
        precondition(rowMultiple > 0 && spanMultiple > 0,
                     "PackedSequences: rowMultiple and spanMultiple must be positive, got \(rowMultiple) and \(spanMultiple)")
        let batch = attentionMask.shape[0], length = attentionMask.shape[1]
        precondition(batch > 0 && length > 0, "PackedSequences: the attention mask \(attentionMask.shape) holds no position")
        let keep = attentionMask.cast(to: .float64).doubles.map { $0 != 0 }
        // Each sentence's run of columns, from its first to its last real token.
        let runs = (0..<batch).map { b -> Range<Int> in
            let row = keep[b * length..<(b + 1) * length]
            guard let first = row.firstIndex(of: true), let last = row.lastIndex(of: true) else { return 0..<0 }
            return (first - b * length)..<(last - b * length + 1)
        }
        let longest = runs.map(\.count).max() ?? 0
        let span = max(spanMultiple, (longest + spanMultiple - 1) / spanMultiple * spanMultiple)
        var sourceRows = [Int64](), positions = [Int64](), rowSlots = [Int64]()
        var slotRows = [Int64](repeating: 0, count: batch * span), slotMask = [Float](repeating: 0, count: batch * span)
        var paddedRows = [Int64](repeating: -1, count: batch * length)
        for (b, run) in runs.enumerated() {
            for (j, column) in run.enumerated() where keep[b * length + column] {
                slotRows[b * span + j] = Int64(sourceRows.count)
                slotMask[b * span + j] = 1
                rowSlots.append(Int64(b * span + j))
                paddedRows[b * length + column] = Int64(sourceRows.count)
                sourceRows.append(Int64(b * length + column))
                positions.append(Int64(column))
            }
        }
        let real = sourceRows.count
        let rows = max(rowMultiple, (real + rowMultiple - 1) / rowMultiple * rowMultiple)
        sourceRows += repeatElement(sourceRows.first ?? 0, count: rows - real)
        positions += repeatElement(positions.first ?? 0, count: rows - real)
        rowSlots += repeatElement(0, count: rows - real)
        self.sourceRows = Tensor(sourceRows, shape: [rows])
        self.positions = Tensor(positions, shape: [rows])
        self.slotRows = Tensor(slotRows, shape: [batch * span])
        self.rowSlots = Tensor(rowSlots, shape: [rows])
        self.slotMask = Tensor(slotMask, shape: [batch, span])
        self.paddedRows = Tensor(paddedRows.map { $0 < 0 ? Int64(rows) : $0 }, shape: [batch * length])
    }

    /// The index tensors, in the order `init(tensors:)` reads them.
    public var tensors: [Tensor] { [sourceRows, positions, slotRows, rowSlots, slotMask, paddedRows] }

    /// A packing from its index tensors (`tensors`), e.g. the inputs of a compiled function.
    public init(tensors: [Tensor]) {
        precondition(tensors.count == 6, "PackedSequences: expected 6 index tensors, found \(tensors.count)")
        (sourceRows, positions, slotRows, rowSlots, slotMask, paddedRows) = (tensors[0], tensors[1], tensors[2], tensors[3], tensors[4], tensors[5])
    }

    /// The real tokens of `padded` [batch, length, ...] as packed rows [tokens, ...].
    public func pack(_ padded: Tensor) -> Tensor {
        padded.reshaped(to: [-1] + padded.shape.dropFirst(2)).indexSelect(axis: 0, index: sourceRows)
    }

    /// Packed rows [tokens, ...] back in the padded layout [batch, length, ...], zeros at padding.
    public func unpack(_ packed: Tensor) -> Tensor {
        let features = Array(packed.shape.dropFirst())
        // Scatter as a gather: every padded position reads its packed row, or an appended zero row.
        let rows = Tensor.concatenate([packed, Tensor.zeros([1] + features, dtype: packed.dtype)], axis: 0)
        return rows.indexSelect(axis: 0, index: paddedRows).reshaped(to: [batch, paddedRows.shape[0] / batch] + features)
    }

    /// Packed rows [tokens, ...] regrouped by sentence: [batch, span, ...], empty slots holding
    /// copies of row 0 (hide them with `slotMask`).
    public func regroup(_ packed: Tensor) -> Tensor {
        packed.indexSelect(axis: 0, index: slotRows).reshaped(to: [batch, span] + packed.shape.dropFirst())
    }

    /// The inverse of `regroup`: [batch, span, ...] back to packed rows [tokens, ...].
    public func ungroup(_ grouped: Tensor) -> Tensor {
        grouped.reshaped(to: [batch * span] + grouped.shape.dropFirst(2)).indexSelect(axis: 0, index: rowSlots)
    }
}
