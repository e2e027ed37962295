/// The two dense layouts of an [N, C, H, W] tensor that oneDNN's convolution and pooling
/// kernels read and write in place: row-major (NCHW) and channels-last (NHWC in memory).
enum ImageLayout: Hashable, CustomStringConvertible {
    case nchw
    case nhwc

    /// The layout of `x`, or nil when it has neither (a view, a broadcast, another rank).
    /// A tensor that has both (one channel, or 1x1 images) counts as row-major.
    init?(_ x: Tensor) {
        guard x.rank == 4 else { return nil }
        if x.isContiguous {
            self = .nchw
        } else if ImageLayout.isDense(x, outermostFirst: [0, 2, 3, 1]) {
            self = .nhwc
        } else {
            return nil
        }
    }

    /// Whether walking the axes in this order steps through memory densely (size-1 axes
    /// may have any stride).
    private static func isDense(_ x: Tensor, outermostFirst order: [Int]) -> Bool {
        var expected = 1
        for axis in order.reversed() where x.shape[axis] != 1 {
            if x.strides[axis] != expected { return false }
            expected &*= x.shape[axis]
        }
        return true
    }

    func strides(_ shape: [Int]) -> [Int] {
        self == .nchw ? ShapeMath.contiguousStrides(shape) : ShapeMath.channelsLastStrides(shape)
    }

    var description: String { self == .nchw ? "nchw" : "nhwc" }
}

extension CPUBackend {
    /// `x` itself when its layout is one the image kernels take, else a row-major copy.
    func imageOperand(_ x: Tensor) -> (tensor: Tensor, layout: ImageLayout) {
        if let layout = ImageLayout(x) { return (x, layout) }
        return (contiguous(x), .nchw)
    }
}
