import Ember

/// The grouping of parameters into buckets whose gradients are allreduced together
/// (PyTorch's compute_bucket_assignment_by_size): parameters are taken in `order`, one
/// bucket open per dtype; a bucket closes once it holds `limits[i]` bytes or more, the
/// limit of the i-th bucket of its dtype being the first limit, then the second for all
/// later ones. Buckets come out in the order of their first parameter. Returns each
/// bucket's parameter indices.
func bucketAssignment(sizes: [(bytes: Int, dtype: DType)], order: [Int], limits: (first: Int, rest: Int)) -> [[Int]] {
    var open = [DType: [Int]]()
    var openBytes = [DType: Int]()
    var closedCount = [DType: Int]()
    var buckets = [[Int]]()
    for index in order {
        let (bytes, dtype) = sizes[index]
        open[dtype, default: []].append(index)
        openBytes[dtype, default: 0] += bytes
        let limit = closedCount[dtype, default: 0] == 0 ? limits.first : limits.rest
        if openBytes[dtype]! >= limit {
            buckets.append(open[dtype]!)
            closedCount[dtype, default: 0] += 1
            open[dtype] = []
            openBytes[dtype] = 0
        }
    }
    for (_, indices) in open where !indices.isEmpty { buckets.append(indices) }
    let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
    return buckets.sorted { position[$0[0]]! < position[$1[0]]! }
}

/// One bucket during a backward pass: a flat buffer of its parameters' gradients (fresh
/// each pass, so gradients handed out as views of it stay valid), and how many of them are
/// still to come.
final class GradientBucket {
    let parameters: [Int]
    let dtype: DType
    let buffer: Tensor
    /// Each parameter's gradient as a view of `buffer`, by parameter index.
    let views: [Int: Tensor]
    var pending: Int
    var work: CollectiveWork?

    init(parameters: [Int], of all: [Tensor]) {
        self.parameters = parameters
        dtype = all[parameters[0]].dtype
        let total = parameters.reduce(0) { $0 + all[$1].count }
        buffer = Tensor(uninitializedShape: [total], dtype: dtype)
        var views = [Int: Tensor]()
        var offset = 0
        for index in parameters {
            let parameter = all[index]
            views[index] = buffer.narrow(axis: 0, start: offset, count: parameter.count).reshaped(to: parameter.shape)
            offset += parameter.count
        }
        self.views = views
        pending = parameters.count
    }

    var isReady: Bool { pending == 0 }
}
