import XCTest
@testable import Ember

/// Shape and layout operations: views that share storage (reshape where the layout allows,
/// permute, expand, slices and subscripts with positive steps, narrow, split) and copies
/// (pad, concatenate, stack, flip, negative steps). References: PyTorch, and NumPy for
/// subscripts (Fixtures/generate_core.py). Moving elements is exact, so values are compared
/// exactly; gradients as in `checkAgainstTorch`.
final class MovementTests: XCTestCase {
    /// 0, 1, ..., 23 as [2, 3, 4].
    let x = Tensor.arange(from: 0, to: 24).reshaped(to: [2, 3, 4])

    // MARK: Reshape

    func testReshapeInfersOneAxisAndIsAViewOfDenseTensors() {
        let y = x.reshaped(to: [-1, 4])
        XCTAssertEqual(y.shape, [6, 4])
        XCTAssertTrue(y.storage === x.storage)
        XCTAssertEqual(y.doubles, x.doubles)
        XCTAssertEqual(x.reshaped(to: [4, -1, 2]).shape, [4, 3, 2])
        XCTAssertEqual(x.flattened().shape, [24])
        XCTAssertEqual(x.flattened(from: 1).shape, [2, 12])
        XCTAssertEqual(Tensor.scalar(3).reshaped(to: [1, 1]).shape, [1, 1])
        XCTAssertThrowsError(try Primitive.reshape([5, 5]).outputSpecs([x.spec])) { error in
            XCTAssertEqual("\(error)", "reshape: cannot reshape [2, 3, 4] (24 elements) to [5, 5]")
        }
    }

    /// A transpose cannot be read row-major with strides: reshaping it copies. Splitting an
    /// axis of a permuted tensor, or merging axes a slice left contiguous, stays a view.
    func testReshapeOfViewsCopiesOnlyWhenItMust() {
        let t = x.transposed(0, 2)
        let merged = t.reshaped(to: [4, 6])
        XCTAssertFalse(merged.storage === x.storage)
        XCTAssertTrue(merged.isContiguous)
        checkAgainstTorch("transpose_reshape") { $0[0].transposed(0, 2).reshaped(to: [4, -1]) }

        let p = x.permuted(1, 0, 2)
        let split = p.reshaped(to: [3, 2, 2, 2])
        XCTAssertTrue(split.storage === x.storage)
        XCTAssertEqual(split.strides, [4, 12, 2, 1])
        XCTAssertEqual(split.doubles, p.contiguous().doubles)

        let rows = x[TensorIndex.all, 1..<3]
        let flat = rows.reshaped(to: [2, 8])
        XCTAssertTrue(flat.storage === x.storage)
        XCTAssertEqual(flat.doubles, [4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23])
    }

    // MARK: Permute, transpose, squeeze, unsqueeze, expand

    func testPermuteAndTransposeAreViews() {
        checkAgainstTorch("permute") { $0[0].permuted(2, 0, 1) }
        let p = x.permuted(2, 0, 1)
        XCTAssertTrue(p.storage === x.storage)
        XCTAssertEqual(p.shape, [4, 2, 3])
        XCTAssertEqual(p.strides, [1, 12, 4])
        XCTAssertEqual(x.transposed().shape, [2, 4, 3])
        XCTAssertEqual(x.transposed(0, -1).element(at: [3, 1, 0]), x.element(at: [0, 1, 3]))
        XCTAssertThrowsError(try Primitive.permute([0, 0, 1]).outputSpecs([x.spec]))
    }

    func testSqueezeAndUnsqueeze() {
        let y = Tensor.zeros([1, 3, 1, 2])
        XCTAssertEqual(y.squeezed().shape, [3, 2])
        XCTAssertEqual(y.squeezed(axis: 2).shape, [1, 3, 2])
        XCTAssertEqual(y.squeezed(axis: -4).shape, [3, 1, 2])
        XCTAssertEqual(y.squeezed(axis: 1).shape, [1, 3, 1, 2], "an axis of size 3 is left alone")
        XCTAssertEqual(x.unsqueezed(axis: 0).shape, [1, 2, 3, 4])
        XCTAssertEqual(x.unsqueezed(axis: -1).shape, [2, 3, 4, 1])
        XCTAssertEqual(x.unsqueezed(axis: 2).shape, [2, 3, 1, 4])
        XCTAssertTrue(x.unsqueezed(axis: 1).storage === x.storage)
    }

    /// [3, 1] to [2, 3, 4]: a new leading axis and the size-1 axis repeat with stride 0;
    /// the gradient sums over both.
    func testExpand() {
        checkAgainstTorch("expand") { $0[0].expanded(to: [2, 3, 4]) }
        let column = Tensor([1, 2, 3] as [Float]).reshaped(to: [3, 1])
        let e = column.expanded(to: [2, 3, 4])
        XCTAssertEqual(e.strides, [0, 1, 0])
        XCTAssertTrue(e.storage === column.storage)
        XCTAssertEqual(column.broadcast(like: Tensor.zeros([3, 2])).floats, [1, 1, 2, 2, 3, 3])
        XCTAssertThrowsError(try Primitive.expand([3, 2]).outputSpecs([TensorSpec([2, 2], .float32)])) { error in
            XCTAssertEqual("\(error)", "expand: cannot broadcast [2, 2] to [3, 2]")
        }
    }

    // MARK: Subscripts

    /// NumPy's basic indexing on 0..<60 as [3, 4, 5]: integers (negative from the end),
    /// ranges (clamped like Python's), steps, negative steps, new axes and ellipsis.
    func testSubscriptsAgainstNumPy() {
        let f = coreFixtures
        let x = f.tensor("subscripts", "x")
        let all = TensorIndex.all
        let cases: [(String, Tensor)] = [
            ("s_index", x[1]),
            ("s_neg_index", x[-1, all, -2]),
            ("s_range", x[1..<3, all, 2...]),
            ("s_step", x[all, TensorIndex.stride(by: 2), TensorIndex.stride(from: 1, by: 2)]),
            ("s_neg_step", x[TensorIndex.stride(by: -1)]),
            ("s_neg_step2", x[all, TensorIndex.stride(from: 3, to: 0, by: -2), TensorIndex.stride(from: -1, by: -3)]),
            ("s_neg_step3", x[TensorIndex.stride(from: -1, to: -4, by: -2), TensorIndex.stride(by: -1), 1..<4]),
            ("s_newaxis", x[all, TensorIndex.newAxis, 1, TensorIndex.newAxis]),
            ("s_ellipsis", x[TensorIndex.ellipsis, 2]),
            ("s_ellipsis2", x[1, TensorIndex.ellipsis, TensorIndex.newAxis, 1..<3]),
            ("s_empty", x[all, TensorIndex.range(start: 3, end: 1, step: 1)]),
            ("s_clamped", x[TensorIndex.range(start: -10, end: 10, step: 1), TensorIndex.stride(from: 2, to: 100, by: 3)]),
            ("s_neg_range", x[all, (-3)..<(-1)]),
            ("s_closed", x[all, 1...2, (-3)...]),
        ]
        for (name, result) in cases {
            let expected = f.tensor("subscripts", name)
            XCTAssertEqual(result.shape, expected.shape, name)
            assertClose(result, expected, atol: 0, rtol: 0, name)
        }
    }

    /// Positive steps give views of the same storage; negative steps copy (a flip).
    func testSubscriptsWithPositiveStepsAreViews() {
        XCTAssertTrue(x[1].storage === x.storage)
        XCTAssertTrue(x[TensorIndex.all, TensorIndex.stride(from: 1, by: 2)].storage === x.storage)
        XCTAssertTrue(x[TensorIndex.ellipsis, TensorIndex.newAxis].storage === x.storage)
        XCTAssertFalse(x[TensorIndex.stride(by: -1)].storage === x.storage)
        XCTAssertEqual(x[1, 2].doubles, [20, 21, 22, 23])
        XCTAssertEqual(x[1, 2, 3].shape, [])
        XCTAssertEqual(x[1, 2, 3].item(), 23)
    }

    /// Gradients through a stepped slice land on the picked elements only.
    func testSliceWithSteps() {
        checkAgainstTorch("step_slice") { $0[0][TensorIndex.all, TensorIndex.stride(by: 2), TensorIndex.stride(from: 1, by: 3)] }
        let g = grad { $0[TensorIndex.stride(from: 1, by: 2)].sum() }(Tensor.zeros([6], dtype: .float64))
        XCTAssertEqual(g.doubles, [0, 1, 0, 1, 0, 1])
    }

    func testNarrow() {
        checkAgainstTorch("narrow") { $0[0].narrow(axis: 2, start: 1, count: 2) }
        let n = x.narrow(axis: -2, start: 1, count: 1)
        XCTAssertEqual(n.shape, [2, 1, 4])
        XCTAssertTrue(n.storage === x.storage)
        XCTAssertEqual(n.offset, 4)
    }

    // MARK: Concatenate, stack, split, chunk

    func testConcatenate() {
        checkAgainstTorch("cat_1") { Tensor.concatenate([$0[0], $0[1]], axis: 1) }
        // Mixed dtypes are promoted; a single tensor is returned as is.
        let mixed = Tensor.concatenate([Tensor([1, 2] as [Int64]), Tensor([0.5] as [Float])])
        XCTAssertEqual(mixed.dtype, .float32)
        XCTAssertEqual(mixed.floats, [1, 2, 0.5])
        XCTAssertTrue(Tensor.concatenate([x]) === x)
        XCTAssertThrowsError(try Primitive.concat(axis: 0).outputSpecs([TensorSpec([2, 3], .float32), TensorSpec([2, 4], .float32)]))
    }

    /// Stacking on a middle axis and on the last axis (where each input is written as a
    /// strided column of the result).
    func testStack() {
        checkAgainstTorch("stack_1") { Tensor.stack([$0[0], $0[1]], axis: 1) }
        checkAgainstTorch("stack_last") { Tensor.stack([$0[0], $0[1]], axis: -1) }
        let a = Tensor([1, 2, 3] as [Float]), b = Tensor([10, 20, 30] as [Float])
        XCTAssertEqual(Tensor.stack([a, b], axis: -1).floats, [1, 10, 2, 20, 3, 30])
        XCTAssertEqual(Tensor.stack([a, b]).floats, [1, 2, 3, 10, 20, 30])
        XCTAssertEqual(Tensor.concatenate([a.reshaped(to: [3, 1]), b.reshaped(to: [3, 1])], axis: 1).floats, [1, 10, 2, 20, 3, 30])
    }

    /// Pieces are views; the case weights piece i by i + 1 and joins them again, so each
    /// piece's gradient is checked.
    func testSplitAndChunk() {
        checkAgainstTorch("split_1") { x in
            Tensor.concatenate(x[0].split(sizes: [1, 2], axis: 1).enumerated().map { $1 * Double($0 + 1) }, axis: 1)
        }
        checkAgainstTorch("chunk_2") { x in
            Tensor.concatenate(x[0].chunked(3).enumerated().map { $1 * Double($0 + 1) }, axis: 0)
        }
        let pieces = Tensor.arange(7).chunked(3)
        XCTAssertEqual(pieces.map(\.shape), [[3], [3], [1]])
        XCTAssertTrue(pieces.allSatisfy { $0.storage === pieces[0].storage })
        XCTAssertEqual(Tensor.arange(6).chunked(4).map(\.shape), [[2], [2], [2]], "as torch.chunk: fewer, equal pieces")
        XCTAssertEqual(x.split(sizes: [0, 3, 0], axis: 1).map(\.shape), [[2, 0, 4], [2, 3, 4], [2, 0, 4]])
    }

    // MARK: Pad, flip, contiguous

    /// F.pad(x, (2, -1, -1, 1, 1, 0), value=0.5): axis 0 gains a leading slab, axis 1 loses
    /// its first row and gains one at the end, axis 2 gains two columns and loses its last.
    func testPadWithCrops() {
        checkAgainstTorch("pad") { $0[0].padded([Padding(1, 0), Padding(-1, 1), Padding(2, -1)], value: 0.5) }
        let m = Tensor([[1, 2], [3, 4]] as [[Float]])
        XCTAssertEqual(m.padded([Padding(0, 0), Padding(1, -1)]).floats, [0, 1, 0, 3])
        XCTAssertEqual(m.padded([Padding(-1, 0), Padding(0, 0)]).floats, [3, 4])
        XCTAssertTrue(m.padded([Padding(0, 0), Padding(0, 0)]) === m)
    }

    /// Cropping more than an axis holds is a shape error, even when the other side pads.
    func testPadRejectsCropsLargerThanTheAxis() {
        XCTAssertThrowsError(try Primitive.pad([Padding(-3, -2)], value: 0).outputSpecs([TensorSpec([4], .float32)]))
        XCTAssertThrowsError(try Primitive.pad([Padding(-5, 3)], value: 0).outputSpecs([TensorSpec([4], .float32)])) { error in
            XCTAssertTrue("\(error)".hasPrefix("pad: padding"), "\(error)")
        }
        XCTAssertEqual(try Primitive.pad([Padding(-4, 1)], value: 0).outputSpecs([TensorSpec([4], .float32)]), [TensorSpec([1], .float32)])
    }

    func testFlip() {
        checkAgainstTorch("flip") { $0[0].flipped(axes: [0, -1]) }
        XCTAssertEqual(Tensor.arange(4).flipped(axes: [0]).doubles, [3, 2, 1, 0])
    }

    func testContiguous() {
        XCTAssertTrue(x.contiguous() === x)
        let t = x.transposed()
        let dense = t.contiguous()
        XCTAssertTrue(dense.isContiguous)
        XCTAssertFalse(dense.storage === x.storage)
        XCTAssertEqual(dense.strides, [12, 3, 1])
        XCTAssertEqual(dense.doubles, t.doubles)
        // Size-1 axes may have any stride and still be contiguous.
        XCTAssertTrue(x.unsqueezed(axis: 0).permuted(1, 0, 2, 3).isContiguous)
        // The copy primitive passes gradients through unchanged.
        let w = Tensor.randomNormal([4, 3, 2], dtype: .float64, source: .key(Key(3)))
        checkGradients({ ($0[0].transposed(0, 2).contiguous() * w).sum() }, [x.cast(to: .float64)])
    }

    /// Moving elements is bit-exact in every dtype (half types are not converted).
    func testMovementPreservesEveryDtype() {
        for dtype in DType.allCases {
            let t = Tensor(doubles: [0, 1, 1, 0, 1, 1], shape: [2, 3], dtype: dtype)
            let moved = Tensor.concatenate([t.transposed().flipped(axes: [0]), t.transposed()[TensorIndex.stride(by: 2)]], axis: 0)
                .padded([Padding(0, 1), Padding(1, 0)], value: 1)
            XCTAssertEqual(moved.dtype, dtype)
            XCTAssertEqual(moved.shape, [6, 3])
            XCTAssertEqual(moved.doubles, [1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1], "\(dtype)")
        }
        let halves = Tensor([Float16(0.1), Float16(-65504)])
        XCTAssertEqual(Tensor.stack([halves, halves], axis: -1).scalars(as: Float16.self).map(\.bitPattern),
                       [Float16(0.1), Float16(0.1), Float16(-65504), Float16(-65504)].map(\.bitPattern))
    }
}
