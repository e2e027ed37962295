import EmberIO
/// A HistogramProto over TensorFlow's default buckets, as `tf.summary.histogram`'s C++
/// kernel builds it: bucket i counts the values v with limit[i-1] <= v < limit[i].
struct Histogram {
    var min: Double
    var max: Double
    var num: Double
    var sum: Double
    var sumSquares: Double
    /// Right edges of the buckets kept; a run of empty buckets is merged into one.
    var bucketLimits: [Double]
    var buckets: [Double]

    /// TensorFlow's default limits: 0, ±1e-12·1.1^k below 1e20, and ±Double.greatestFiniteMagnitude.
    /// Built by repeated multiplication, as TensorFlow does, so the limits match bit for bit.
    static let defaultBucketLimits: [Double] = {
        var positive = [Double]()
        var v = 1.0e-12
        while v < 1.0e20 {
            positive.append(v)
            v *= 1.1
        }
        positive.append(.greatestFiniteMagnitude)
        return positive.reversed().map { -$0 } + [0] + positive
    }()

    /// Non-finite values are left out: TensorBoard cannot place them in a bucket and one NaN
    /// weight should not cost the whole histogram.
    init(_ values: [Double]) {
        let limits = Histogram.defaultBucketLimits
        var counts = [Double](repeating: 0, count: limits.count)
        var minimum = Double.infinity, maximum = -Double.infinity
        var num = 0.0, sum = 0.0, sumSquares = 0.0
        for value in values where value.isFinite {
            counts[Histogram.bucketIndex(of: value, limits: limits)] += 1
            minimum = Swift.min(minimum, value)
            maximum = Swift.max(maximum, value)
            num += 1
            sum += value
            sumSquares += value * value
        }
        var keptLimits = [Double](), keptCounts = [Double]()
        var i = 0
        while i < counts.count {
            var end = limits[i], count = counts[i]
            i += 1
            if count == 0 {
                while i < counts.count && counts[i] == 0 {
                    end = limits[i]
                    count = counts[i]
                    i += 1
                }
            }
            keptLimits.append(end)
            keptCounts.append(count)
        }
        self.min = num > 0 ? minimum : 0
        self.max = num > 0 ? maximum : 0
        self.num = num
        self.sum = sum
        self.sumSquares = sumSquares
        self.bucketLimits = keptLimits
        self.buckets = keptCounts
    }

    /// The first limit greater than the value (C++'s upper_bound), clamped so that the
    /// largest finite value lands in the last bucket.
    private static func bucketIndex(of value: Double, limits: [Double]) -> Int {
        var low = 0, high = limits.count
        while low < high {
            let middle = (low + high) / 2
            if limits[middle] <= value { low = middle + 1 } else { high = middle }
        }
        return Swift.min(low, limits.count - 1)
    }

    func encode(into writer: inout ProtobufWriter) {
        writer.double(1, min)
        writer.double(2, max)
        writer.double(3, num)
        writer.double(4, sum)
        writer.double(5, sumSquares)
        writer.packedDoubles(6, bucketLimits)
        writer.packedDoubles(7, buckets)
    }
}
