/// Movement operations that build new dense tensors: pad, concatenate, flip. Each writes
/// through strided views of the output with the elementwise copy loop.
enum MovementKernels {
    static func pad(_ x: Tensor, _ padding: [Padding], _ value: Double, _ out: Tensor) {
        ElementwiseKernels.fill(out, value)
        // Negative padding crops: read the part of x that stays, write it inside the border.
        var source = x
        var target = out
        for (axis, p) in padding.enumerated() {
            let keepStart = max(0, -p.before), keepEnd = x.shape[axis] - max(0, -p.after)
            source = source.narrowedView(axis: axis, start: keepStart, count: keepEnd - keepStart)
            target = target.narrowedView(axis: axis, start: max(0, p.before), count: keepEnd - keepStart)
        }
        ElementwiseKernels.copy(source, target)
    }

    static func concat(_ inputs: [Tensor], axis: Int, _ out: Tensor) {
        var start = 0
        for input in inputs {
            ElementwiseKernels.copy(input, out.narrowedView(axis: axis, start: start, count: input.shape[axis]))
            start += input.shape[axis]
        }
    }

    static func flip(_ x: Tensor, axes: [Int], _ out: Tensor) {
        var strides = x.strides
        var offset = x.offset
        for axis in axes where x.shape[axis] > 0 {
            offset += (x.shape[axis] - 1) * strides[axis]
            strides[axis] = -strides[axis]
        }
        ElementwiseKernels.copy(x.sameLayout(strides: strides, offset: offset), out)
    }
}

extension Tensor {
    /// The view of `count` elements from `start` along `axis` (no recording: kernel use).
    func narrowedView(axis: Int, start: Int, count: Int) -> Tensor {
        var shape = self.shape
        shape[axis] = count
        return sameLayout(shape: shape, offset: offset + start * strides[axis])
    }
}
