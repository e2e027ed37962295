/// Shape arithmetic shared by the operations: sizes, strides, broadcasting, axis normalization.
public enum ShapeMath {
    @inlinable
    public static func count(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape { n &*= d }
        return n
    }

    /// Row-major strides, in elements.
    @inlinable
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var acc = 1
        var i = shape.count - 1
        while i >= 0 {
            strides[i] = acc
            acc &*= shape[i]
            i -= 1
        }
        return strides
    }

    /// Strides of a dense [N, C, H, W] image batch laid out channels-last (NHWC in memory),
    /// the layout oneDNN's convolutions read and write without reorders.
    static func channelsLastStrides(_ shape: [Int]) -> [Int] {
        precondition(shape.count == 4, "channels-last strides: expected [N, C, H, W], got \(shape)")
        let (c, h, w) = (shape[1], shape[2], shape[3])
        return [h * w * c, 1, w * c, c]
    }

    /// NumPy broadcasting of two shapes, or nil when they are incompatible.
    public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        if a == b { return a }
        let rank = max(a.count, b.count)
        var out = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }

    /// Maps a possibly negative axis into 0..<rank, or nil when out of range.
    @inlinable
    public static func normalize(axis: Int, rank: Int) -> Int? {
        let a = axis < 0 ? axis + rank : axis
        return (a >= 0 && a < rank) ? a : nil
    }
}

/// A bad shape, dtype or argument given to an operation. Its message names the operation,
/// what was given and what was expected.
public struct ShapeError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ op: String, _ detail: String) { message = "\(op): \(detail)" }
    public var description: String { message }
}
