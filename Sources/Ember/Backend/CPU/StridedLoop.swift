/// Iteration over a dense output and any number of strided operands (views, broadcasts),
/// one innermost row at a time, so kernels run a tight loop per row with no per-element
/// index arithmetic.
struct StridedLoop {
    /// Axes after merging; the last axis is the row.
    let shape: [Int]
    /// Strides per operand per axis, in elements.
    let strides: [[Int]]

    /// Strides of `tensor` when broadcast to `shape` (0 along broadcast axes).
    static func broadcastStrides(_ tensor: Tensor, to shape: [Int]) -> [Int] {
        let lead = shape.count - tensor.rank
        var out = [Int](repeating: 0, count: shape.count)
        for i in 0..<tensor.rank where tensor.shape[i] != 1 {
            out[lead + i] = tensor.strides[i]
        }
        return out
    }

    /// Drops size-1 axes and merges neighbours that are contiguous in every operand.
    init(shape: [Int], strides: [[Int]]) {
        var mergedShape = [Int]()
        var merged = [[Int]](repeating: [], count: strides.count)
        for axis in 0..<shape.count where shape[axis] != 1 {
            if let last = mergedShape.last,
               strides.indices.allSatisfy({ strides[$0][axis] * shape[axis] == merged[$0].last! }) {
                mergedShape[mergedShape.count - 1] = last * shape[axis]
                for k in strides.indices { merged[k][merged[k].count - 1] = strides[k][axis] }
            } else {
                mergedShape.append(shape[axis])
                for k in strides.indices { merged[k].append(strides[k][axis]) }
            }
        }
        if mergedShape.isEmpty {
            mergedShape = [1]
            for k in strides.indices { merged[k] = [1] }
        }
        self.shape = mergedShape
        self.strides = merged
    }

    /// The loop that visits operand 0 (the output) in its memory order: axes sorted by its
    /// strides, largest first, before merging. A dense output in another axis order (a
    /// channels-last image) then has unit-stride rows; a row-major one keeps its order.
    static func inOutputOrder(shape: [Int], strides: [[Int]]) -> StridedLoop {
        let order = shape.indices.sorted { a, b in
            strides[0][a] != strides[0][b] ? strides[0][a] > strides[0][b] : a < b
        }
        return StridedLoop(shape: order.map { shape[$0] }, strides: strides.map { s in order.map { s[$0] } })
    }

    var rowLength: Int { shape[shape.count - 1] }
    /// Zero for an empty tensor, whose row may have length 0.
    var rowCount: Int { rowLength == 0 ? 0 : ShapeMath.count(shape) / rowLength }
    func rowStride(_ operand: Int) -> Int { strides[operand][shape.count - 1] }

    /// Calls `body(offsets, start, length)` for each row piece: `offsets[k]` is operand k's
    /// element offset at the piece's first element. Long single rows are split for threads.
    @inline(__always)
    func run(cost: Int = 1, _ body: (_ offsets: UnsafePointer<Int>, _ length: Int) -> Void) {
        let rows = rowCount
        let length = rowLength
        let operands = strides.count
        if rows == 1 {
            // One long row: split it into pieces.
            Parallel.forRange(length, cost: cost) { range in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: operands) { offsets in
                    for k in 0..<operands { offsets[k] = range.lowerBound * strides[k][0] }
                    body(UnsafePointer(offsets.baseAddress!), range.count)
                }
            }
            return
        }
        Parallel.forRange(rows, cost: cost * length) { range in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: operands) { offsets in
                for row in range {
                    rowOffsets(row, into: offsets.baseAddress!)
                    body(UnsafePointer(offsets.baseAddress!), length)
                }
            }
        }
    }

    /// Each operand's element offset at the first element of row `row`.
    @inline(__always)
    func rowOffsets(_ row: Int, into offsets: UnsafeMutablePointer<Int>) {
        let operands = strides.count
        var rest = row
        for k in 0..<operands { offsets[k] = 0 }
        var axis = shape.count - 2
        while axis >= 0 {
            let index = rest % shape[axis]
            rest /= shape[axis]
            for k in 0..<operands { offsets[k] += index * strides[k][axis] }
            axis -= 1
        }
    }
}

extension StridedLoop {
    /// Calls body(offsets, rowLength) for every row in order on the calling thread.
    func serialRows(_ body: (UnsafePointer<Int>, Int) -> Void) {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: strides.count) { offsets in
            for row in 0..<rowCount {
                rowOffsets(row, into: offsets.baseAddress!)
                body(UnsafePointer(offsets.baseAddress!), rowLength)
            }
        }
    }
}
