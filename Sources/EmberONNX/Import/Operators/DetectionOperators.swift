import Ember

/// NonMaxSuppression (opset 10): per batch and class, boxes taken by descending score (ties:
/// lower index first), above score_threshold, each dropped when its IoU with a kept box
/// exceeds iou_threshold, at most max_output_boxes_per_class; the result lists [batch, class,
/// box] rows. Its length depends on the values, so it runs on known values (eagerly, or on
/// constants while tracing), as a data-dependent selection does in every framework.
enum ONNXDetectionOperators {
    static let all: [ONNXOperator] = [
        ONNXOperator("NonMaxSuppression", since: 10) { context in [try nonMaxSuppression(context)] },
    ]

    private static func nonMaxSuppression(_ context: ONNXNodeContext) throws -> Tensor {
        let boxes = try context.input(0), scores = try context.input(1)
        guard !boxes.isAbstract, !scores.isAbstract else { throw context.fail("selects boxes by their values, which must be known (it cannot be traced)") }
        guard boxes.rank == 3, boxes.shape[2] == 4, scores.rank == 3, scores.shape[0] == boxes.shape[0], scores.shape[2] == boxes.shape[1] else {
            throw context.fail("boxes [batch, boxes, 4] and scores [batch, classes, boxes] expected, got \(boxes.shape) and \(scores.shape)")
        }
        let limit = try context.ints(2)?.first ?? 0
        let iouThreshold = try context.doubles(3)?.first ?? 0
        let scoreThreshold = try context.doubles(4)?.first
        let centered = context.int("center_point_box", 0) != 0
        let (batches, count, classes) = (boxes.shape[0], boxes.shape[1], scores.shape[1])
        let corners = boxes.doubles, allScores = scores.doubles
        // [y1, x1, y2, x2] in either corner order, or [x center, y center, width, height].
        func extent(_ batch: Int, _ box: Int) -> (yMin: Double, xMin: Double, yMax: Double, xMax: Double) {
            let b = Array(corners[((batch * count + box) * 4)..<((batch * count + box) * 4 + 4)])
            if centered { return (b[1] - b[3] / 2, b[0] - b[2] / 2, b[1] + b[3] / 2, b[0] + b[2] / 2) }
            return (min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3]))
        }
        func overlaps(_ batch: Int, _ a: Int, _ b: Int) -> Bool {
            let p = extent(batch, a), q = extent(batch, b)
            let width = min(p.xMax, q.xMax) - max(p.xMin, q.xMin), height = min(p.yMax, q.yMax) - max(p.yMin, q.yMin)
            guard width > 0, height > 0 else { return false }
            let intersection = width * height
            let union = (p.xMax - p.xMin) * (p.yMax - p.yMin) + (q.xMax - q.xMin) * (q.yMax - q.yMin) - intersection
            return union > 0 && intersection / union > iouThreshold
        }
        var selected = [Int64]()
        for batch in 0..<batches {
            for label in 0..<classes {
                let base = (batch * classes + label) * count
                let candidates = (0..<count)
                    .filter { scoreThreshold == nil || allScores[base + $0] > scoreThreshold! }
                    .sorted { allScores[base + $0] > allScores[base + $1] || (allScores[base + $0] == allScores[base + $1] && $0 < $1) }
                var kept = [Int]()
                for box in candidates where kept.count < limit {
                    if !kept.contains(where: { overlaps(batch, $0, box) }) { kept.append(box) }
                }
                for box in kept { selected += [Int64(batch), Int64(label), Int64(box)] }
            }
        }
        return Tensor(selected, shape: [selected.count / 3, 3])
    }
}
