import XCTest
@testable import Ember

/// Unary, binary, compare, select and cast primitives, and the composites on them (GELU,
/// SiLU, leaky ReLU, clamp). References: PyTorch (Fixtures/generate_core.py, cases named
/// below); gradients also against float64 finite differences (see `checkAgainstTorch`).
final class ElementwiseTests: XCTestCase {
    // MARK: Unary

    func testNeg() { checkAgainstTorch("unary_neg") { $0[0].neg() } }
    func testAbs() { checkAgainstTorch("unary_abs") { $0[0].abs() } }
    func testExp() { checkAgainstTorch("unary_exp") { $0[0].exp() } }
    func testLog() { checkAgainstTorch("unary_log") { $0[0].log() } }
    func testSqrt() { checkAgainstTorch("unary_sqrt") { $0[0].sqrt() } }
    func testRsqrt() { checkAgainstTorch("unary_rsqrt") { $0[0].rsqrt() } }
    func testSin() { checkAgainstTorch("unary_sin") { $0[0].sin() } }
    func testCos() { checkAgainstTorch("unary_cos") { $0[0].cos() } }
    func testTanh() { checkAgainstTorch("unary_tanh") { $0[0].tanh() } }
    func testSigmoid() { checkAgainstTorch("unary_sigmoid") { $0[0].sigmoid() } }
    func testRelu() { checkAgainstTorch("unary_relu") { $0[0].relu() } }
    func testErf() { checkAgainstTorch("unary_erf") { $0[0].erf() } }
    func testGeluExact() { checkAgainstTorch("unary_gelu") { $0[0].gelu() } }
    func testGeluTanh() { checkAgainstTorch("unary_gelu_tanh") { $0[0].gelu(approximate: true) } }
    func testSilu() { checkAgainstTorch("unary_silu") { $0[0].silu() } }
    func testLeakyRelu() { checkAgainstTorch("unary_leaky_relu") { $0[0].leakyRelu(negativeSlope: 0.2) } }
    func testClamp() { checkAgainstTorch("unary_clamp") { $0[0].clamp(min: -1, max: 0.5) } }

    func testSigmoidOfLargeMagnitudes() {
        // [-100, -30, -5, 0, 5, 30, 100]: 1 / (1 + exp(100)) must not become nan or 0/inf.
        checkAgainstTorch("unary_sigmoid_extreme", atol: 1e-7, rtol: 1e-6) { $0[0].sigmoid() }
        let y = Tensor([-100, 100] as [Float]).sigmoid().floats
        XCTAssertEqual(y[0], 3.7200760e-44, accuracy: 2e-45)
        XCTAssertEqual(y[1], 1)
    }

    /// Inputs [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.75, 0.25, 1.75, -1.25, 0, 3]: halves, both
    /// signs, an integer and zero. Gradients are zero everywhere (PyTorch's convention); the
    /// functions jump at these points, so there are no finite differences.
    func testRoundingFunctions() {
        let x = coreFixtures.tensor("unary_round", "x0")
        assertClose(x.rounded(), [-2, -2, -0, 0, 2, 2, -1, 0, 2, -1, 0, 3], atol: 0, rtol: 0, "half to even")
        assertClose(x.floor(), [-3, -2, -1, 0, 1, 2, -1, 0, 1, -2, 0, 3], atol: 0, rtol: 0)
        assertClose(x.ceil(), [-2, -1, -0, 1, 2, 3, -0, 1, 2, -1, 0, 3], atol: 0, rtol: 0)
        assertClose(x.sign(), [-1, -1, -1, 1, 1, 1, -1, 1, 1, -1, 0, 1], atol: 0, rtol: 0)
        checkAgainstTorch("unary_round", finiteDifferences: false) { $0[0].rounded() }
        checkAgainstTorch("unary_floor", finiteDifferences: false) { $0[0].floor() }
        checkAgainstTorch("unary_ceil", finiteDifferences: false) { $0[0].ceil() }
        checkAgainstTorch("unary_sign", finiteDifferences: false) { $0[0].sign() }
        // Away from the jumps, central differences agree that the gradient is zero.
        let smooth = Tensor([-2.3, -0.7, 0.2, 1.4, 2.8, -1.1] as [Double])
        for f in [{ (t: Tensor) in t.rounded() }, { $0.floor() }, { $0.ceil() }, { $0.sign() }] {
            checkGradients({ (f($0[0]) * $0[0]).sum() }, [smooth])
        }
    }

    /// Kinks at the case's zero: PyTorch takes relu'(0) = 0 and abs'(0) = 0, and clamp's
    /// gradient is 0 on the bounds, so clamp(min: 0) has relu's gradient.
    func testKinksFollowPyTorch() {
        checkAgainstTorch("unary_relu_special", finiteDifferences: false) { $0[0].relu() }
        checkAgainstTorch("unary_abs_special", finiteDifferences: false) { $0[0].abs() }
        checkAgainstTorch("unary_clamp_bounds", finiteDifferences: false) { $0[0].clamp(min: -1.5, max: 1.5) }
        let x = Tensor([-1, 0, 2] as [Double])
        XCTAssertEqual(grad { $0.clamp(min: 0).sum() }(x).doubles, grad { $0.relu().sum() }(x).doubles)
        // A NaN gradient stops where x <= 0, as in PyTorch's threshold_backward.
        let stopped = vjp({ $0[0].relu() }, [x.cast(to: .float32)]).pullback(Tensor([.nan, .nan, .nan] as [Float]))[0].floats
        XCTAssertEqual(Array(stopped.prefix(2)), [0, 0])
        XCTAssertTrue(stopped[2].isNaN)
    }

    func testLogicalNot() {
        checkAgainstTorch("unary_logical_not") { $0[0].logicalNot() }
        XCTAssertEqual(Tensor([true, false]).logicalNot().scalars(as: Bool.self), [false, true])
        XCTAssertEqual(Tensor([0, 3, -1] as [Int32]).logicalNot().scalars(as: Bool.self), [true, false, false])
    }

    func testIntegerUnaryOpsAreExact() {
        for dtype in [DType.int32, .int64] {
            let x = Tensor(doubles: [-7, 0, 5, -2_000_000_000], dtype: dtype)
            XCTAssertEqual(x.neg().doubles, [7, 0, -5, 2_000_000_000])
            XCTAssertEqual(x.abs().doubles, [7, 0, 5, 2_000_000_000])
            XCTAssertEqual(x.sign().doubles, [-1, 0, 1, -1])
            XCTAssertEqual(x.relu().doubles, [0, 0, 5, 0])
            XCTAssertEqual(x.rounded().doubles, x.doubles)
            XCTAssertEqual(x.neg().dtype, dtype)
        }
    }

    func testHalfPrecisionUnaryIsComputedInFloat32AndRounded() {
        // exp in float32, then one rounding to the half type: within half an ulp (2^-11, 2^-8).
        let x = coreFixtures.tensor("unary_exp", "x0")
        let expected = coreFixtures.tensor("unary_exp", "y")
        for (dtype, tolerance) in [(DType.float16, 0x1p-11), (.bfloat16, 0x1p-8)] {
            let y = x.cast(to: dtype).exp()
            XCTAssertEqual(y.dtype, dtype)
            // The input itself is rounded too: exp(x (1 + e)) ~ exp(x) (1 + x e).
            assertClose(y, expected, atol: 0, rtol: tolerance * 8, "\(dtype)")
        }
    }

    func testFloatOnlyOpsRejectIntegersWithAClearMessage() {
        for op in [UnaryOp.exp, .log, .sqrt, .sin, .tanh, .sigmoid, .erf] {
            XCTAssertThrowsError(try Primitive.unary(op).outputSpecs([TensorSpec([2], .int64)])) { error in
                XCTAssertTrue("\(error)".hasPrefix("\(op): expected a floating-point tensor, got int64"), "\(error)")
            }
        }
        XCTAssertThrowsError(try Primitive.unary(.neg).outputSpecs([TensorSpec([2], .bool)]))
        XCTAssertEqual(try Primitive.unary(.logicalNot).outputSpecs([TensorSpec([2], .float32)]), [TensorSpec([2], .bool)])
    }

    // MARK: Binary

    /// [2, 3] with [3]: the second operand broadcasts over rows; its gradient sums them.
    func testAdd() { checkAgainstTorch("binary_add") { $0[0] + $0[1] } }
    func testSub() { checkAgainstTorch("binary_sub") { $0[0] - $0[1] } }
    func testMul() { checkAgainstTorch("binary_mul") { $0[0] * $0[1] } }
    func testDiv() { checkAgainstTorch("binary_div") { $0[0] / $0[1] } }
    func testPow() { checkAgainstTorch("binary_pow") { pow($0[0], $0[1]) } }
    func testMaximum() { checkAgainstTorch("binary_maximum") { maximum($0[0], $0[1]) } }
    func testMinimum() { checkAgainstTorch("binary_minimum") { minimum($0[0], $0[1]) } }

    /// [2, 1, 3] with [4, 1] broadcast to [2, 4, 3] (rank mismatch, size-1 axes on both sides).
    func testBroadcastingAcrossRanks() {
        checkAgainstTorch("binary_mul_rank") { $0[0] * $0[1] }
        XCTAssertEqual((Tensor.zeros([2, 1, 3]) + Tensor.zeros([4, 1])).shape, [2, 4, 3])
        XCTAssertThrowsError(try Primitive.binary(.add).outputSpecs([TensorSpec([2, 3], .float32), TensorSpec([4], .float32)])) { error in
            XCTAssertEqual("\(error)", "add: shapes [2, 3] and [4] cannot be broadcast together")
        }
    }

    /// [1, 2, 3, 4, 5, 6] against [1, 0, 3, 7, 5, 0]: ties at 0, 2, 4 give each side half
    /// the gradient, as PyTorch does.
    func testMaximumAndMinimumSplitTies() {
        checkAgainstTorch("binary_maximum_ties", finiteDifferences: false) { maximum($0[0], $0[1]) }
        checkAgainstTorch("binary_minimum_ties", finiteDifferences: false) { minimum($0[0], $0[1]) }
        let a = Tensor([2, 2] as [Double]).requiringGrad(), b = Tensor([2, 1] as [Double]).requiringGrad()
        maximum(a, b).sum().backward()
        XCTAssertEqual(a.grad?.doubles, [0.5, 1])
        XCTAssertEqual(b.grad?.doubles, [0.5, 0])
    }

    func testMaximumAndMinimumPropagateNaN() {
        let a = Tensor([Float.nan, 1, 2] as [Float]), b = Tensor([1, Float.nan, 1] as [Float])
        let hi = maximum(a, b).floats, lo = minimum(a, b).floats
        XCTAssertTrue(hi[0].isNaN && hi[1].isNaN && lo[0].isNaN && lo[1].isNaN)
        XCTAssertEqual(hi[2], 2)
        XCTAssertEqual(lo[2], 1)
    }

    /// pow at base 0: 0^2 = 0, 0^0 = 1, 0^1 = 0, with PyTorch's gradients: 0 for the base
    /// where the exponent is 0 (not 0 * 0^-1 = nan) and 0 for the exponent (not log 0).
    func testPowAtZeroBase() {
        checkAgainstTorch("binary_pow_zero", finiteDifferences: false) { pow($0[0], $0[1]) }
        let x = Tensor([0, 2] as [Double])
        XCTAssertEqual(grad { pow($0, 0).sum() }(x).doubles, [0, 0])
    }

    func testPowWithNegativeBasesAndIntegers() {
        assertClose(pow(Tensor([-2, -1.5, 3] as [Float]), 3), [-8, -3.375, 27])
        assertClose(pow(Tensor([-2, 4] as [Float]), 0.5), [.nan, 2])
        let ints = pow(Tensor([2, -3, 5, 0] as [Int64]), Tensor([10, 3, 0, 0] as [Int64]))
        XCTAssertEqual(ints.dtype, .int64)
        XCTAssertEqual(ints.doubles, [1024, -27, 1, 1])
    }

    /// Python's //: rounding toward negative infinity for floats and integers;
    /// a / b on integers is true division into float32.
    func testFloorDivision() {
        let f = coreFixtures
        let a = f.tensor("floor_divide", "a"), b = f.tensor("floor_divide", "b")
        assertClose(a.floorDivided(by: b), f.tensor("floor_divide", "float"), atol: 0, rtol: 0)
        for dtype in [DType.int64, .int32] {
            let q = a.cast(to: dtype).floorDivided(by: b.cast(to: dtype))
            XCTAssertEqual(q.dtype, dtype)
            assertClose(q, f.tensor("floor_divide", "int64"), atol: 0, rtol: 0, "\(dtype)")
        }
        let trueDivision = a.cast(to: .int64) / b.cast(to: .int64)
        XCTAssertEqual(trueDivision.dtype, .float32)
        assertClose(trueDivision, f.tensor("floor_divide", "int_true_div"))
    }

    func testLogicalOperations() {
        let f = coreFixtures
        let a = f.tensor("logical", "a"), b = f.tensor("logical", "b")
        let na = f.tensor("logical", "na"), nb = f.tensor("logical", "nb")
        for (name, result) in [("and", a.logicalAnd(b)), ("or", a.logicalOr(b)), ("xor", a.logicalXor(b)),
                               ("nand", na.logicalAnd(nb)), ("nor", na.logicalOr(nb)), ("nxor", na.logicalXor(nb))] {
            XCTAssertEqual(result.dtype, .bool, name)
            assertClose(result, f.tensor("logical", name), atol: 0, rtol: 0, name)
        }
    }

    /// [[1, 2, 3], [nan, 2, -1]] against [2, 2, nan]: NaN is unequal to everything, itself included.
    func testComparisons() {
        let f = coreFixtures
        let a = f.tensor("compare", "a"), b = f.tensor("compare", "b")
        let results = ["eq": a .== b, "ne": a .!= b, "lt": a .< b, "le": a .<= b, "gt": a .> b, "ge": a .>= b]
        for (name, result) in results {
            XCTAssertEqual(result.dtype, .bool, name)
            XCTAssertEqual(result.shape, [2, 3], name)
            assertClose(result, f.tensor("compare", name), atol: 0, rtol: 0, name)
        }
        // int64 against float32: compared in the promoted type, so 1 < 1.5.
        assertClose(f.tensor("compare", "ia") .< f.tensor("compare", "ib"), f.tensor("compare", "ilt"), atol: 0, rtol: 0)
        XCTAssertEqual((Tensor([1, 2, 3] as [Int64]) .>= 2).scalars(as: Bool.self), [false, true, true])
        XCTAssertEqual((Tensor([1, 2, 3] as [Int64]) .< 2.5).scalars(as: Bool.self), [true, true, false])
    }

    /// where(condition [3, 1], a [1, 4], b []) broadcasts all three to [3, 4]; a's gradient
    /// sums the rows the condition picks, b's the rest.
    func testWhere() {
        checkAgainstTorch("where") { Tensor.where($0[0], $0[1], $0[2]) }
        // A non-bool condition counts nonzero as true.
        let picked = Tensor.where(Tensor([0, 2, -1] as [Float]), Tensor([1, 1, 1] as [Float]), Tensor([5, 5, 5] as [Float]))
        XCTAssertEqual(picked.floats, [5, 1, 1])
        // Dense rows, and a scalar on either side.
        let condition = Tensor([true, false, true, false, true])
        let a = Tensor([1, 2, 3, 4, 5] as [Float]), b = Tensor([6, 7, 8, 9, 10] as [Float])
        XCTAssertEqual(Tensor.where(condition, a, b).floats, [1, 7, 3, 9, 5])
        XCTAssertEqual(Tensor.where(condition, a, Tensor.scalar(0)).floats, [1, 0, 3, 0, 5])
        XCTAssertEqual(Tensor.where(condition, Tensor.scalar(-1), b).floats, [-1, 7, -1, 9, -1])
        // Operands of different dtypes are promoted.
        XCTAssertEqual(Tensor.where(Tensor([true]), Tensor([1] as [Int32]), Tensor([0.5] as [Double])).dtype, .float64)
    }

    // MARK: Dtypes

    /// Every pair of dtypes against torch's promotion (the dtype of ones(a) + ones(b)).
    func testTypePromotion() {
        let f = coreFixtures
        for a in DType.allCases {
            for b in DType.allCases {
                let expected = f.tensor("promotion", "\(a)_\(b)")
                let result = Tensor.ones([1], dtype: a) + Tensor.ones([1], dtype: b)
                XCTAssertEqual(result.dtype, expected.dtype, "\(a) + \(b)")
                XCTAssertEqual(DType.promoted(a, b), expected.dtype, "promoted(\(a), \(b))")
                XCTAssertEqual(result.doubles, expected.doubles, "\(a) + \(b)")
            }
        }
    }

    /// Casts between every pair of dtypes, against torch's. Sources: [-2.75, -0.5, 0, 0.3,
    /// 1.5, 2.75, 100.3, 1000.7] in each float type, [-3, -1, 0, 1, 2, 100, 1000, 7] in each
    /// integer type, a bool pattern. Floats truncate toward zero into integers; nonzero is true.
    func testCastsBetweenAllDtypes() {
        let f = coreFixtures
        for from in DType.allCases {
            let source = f.tensor("cast", "from_\(from)")
            XCTAssertEqual(source.dtype, from)
            for to in DType.allCases {
                let result = source.cast(to: to)
                XCTAssertEqual(result.dtype, to)
                assertClose(result, f.tensor("cast", "\(from)_to_\(to)"), atol: 0, rtol: 0, "\(from) to \(to)")
            }
        }
    }

    /// A cast's gradient is cast back to the input's dtype; integer casts stop gradients.
    /// Central differences through float32 need a step far above its rounding (2^-24).
    func testCastGradient() {
        let x = Tensor([0.5, -1.25, 3] as [Double])
        let g = grad { ($0.cast(to: .float32) * Tensor([1, 2, 3] as [Float])).cast(to: .float64).sum() }(x)
        XCTAssertEqual(g.dtype, .float64)
        assertClose(g, [1, 2, 3], atol: 0, rtol: 0)
        checkGradients({ ($0[0].cast(to: .float32).exp() * Tensor([1, 2, 3] as [Float])).cast(to: .float64).sum() }, [x],
                       eps: 1e-3, atol: 1e-4, rtol: 1e-4)
        XCTAssertEqual(grad { ($0.cast(to: .int64).cast(to: .float64) * $0).sum() }(x).doubles, [0, -1, 3])
    }

    /// float32 to bfloat16 and float16 round to nearest, ties to even, against torch:
    /// 1 + 2^-8 is halfway between bfloat16 neighbours 1 and 1 + 2^-7 and goes to 1 (even);
    /// 1 + 3 * 2^-8 goes up to 1 + 2^-6; just above or below a midpoint goes the nearer way;
    /// float32's largest value overflows bfloat16 to inf, 65520 overflows float16; subnormals
    /// round the same way; NaN stays NaN and -0 keeps its sign.
    func testHalfTypesRoundToNearestEven() {
        let f = coreFixtures
        for (key, dtype) in [("bf16", DType.bfloat16), ("f16", .float16)] {
            let x = f.tensor("rounding", "\(key)_in")
            let rounded = x.cast(to: dtype)
            assertClose(rounded, f.tensor("rounding", key), atol: 0, rtol: 0, "\(dtype)")
            let signs = rounded.cast(to: .float32).floats.map { $0.sign }
            XCTAssertEqual(signs, x.floats.map { $0.sign }, "\(dtype) keeps signs, of -0 too")
        }
        XCTAssertEqual(Tensor([1 + 0x1p-8] as [Float]).cast(to: .bfloat16).floats, [1])
        XCTAssertEqual(Tensor([1 + 0x3p-8] as [Float]).cast(to: .bfloat16).floats, [1 + 0x1p-6])
    }

    /// Every one of the 65,536 float16 and bfloat16 values survives a trip through float32
    /// and float64 bit for bit (NaNs stay NaN).
    func testHalfTypesRoundTripExactly() {
        let patterns = (0...UInt16.max).map { $0 }
        let halves = Tensor(patterns.map { Float16(bitPattern: $0) })
        let brains = Tensor(patterns.map { BFloat16(bitPattern: $0) })
        for wide in [DType.float32, .float64] {
            let h = halves.cast(to: wide).cast(to: .float16).scalars(as: Float16.self)
            let b = brains.cast(to: wide).cast(to: .bfloat16).scalars(as: BFloat16.self)
            for i in patterns.indices {
                let original = Float16(bitPattern: patterns[i])
                if original.isNaN {
                    XCTAssertTrue(h[i].isNaN)
                } else if h[i].bitPattern != patterns[i] {
                    XCTFail("float16 0x\(String(patterns[i], radix: 16)) came back as 0x\(String(h[i].bitPattern, radix: 16)) via \(wide)")
                    return
                }
                if BFloat16(bitPattern: patterns[i]).floatValue.isNaN {
                    XCTAssertTrue(b[i].floatValue.isNaN)
                } else if b[i].bitPattern != patterns[i] {
                    XCTFail("bfloat16 0x\(String(patterns[i], radix: 16)) came back as 0x\(String(b[i].bitPattern, radix: 16)) via \(wide)")
                    return
                }
            }
        }
    }

    /// Swift numbers on either side take the tensor's dtype when they fit it (PyTorch's
    /// weak scalars): int64 + 2.5 is float32, int32 * 3 stays int32, float16 * 3 stays
    /// float16, 10 / int64 is true division in float32. One deliberate difference: Swift
    /// cannot tell 1 from 1.0, so bool + 1 is float32 (PyTorch: int64), as bool + 0.5 is.
    func testScalarOperands() {
        let f = coreFixtures
        let i = f.tensor("scalars", "i"), x = f.tensor("scalars", "f"), h = f.tensor("scalars", "h")
        let results: [(String, Tensor)] = [
            ("i_plus_2_5", i + 2.5), ("i_times_3", i * 3), ("i32_times_3", i.cast(to: .int32) * 3), ("ten_div_i", 10 / i),
            ("two_minus_f", 2 - x), ("f_div_4", x / 4), ("h_times_3", h * 3),
            ("bool_plus_half", Tensor([true, false]) + 0.5),
        ]
        for (name, result) in results {
            let expected = f.tensor("scalars", name)
            XCTAssertEqual(result.dtype, expected.dtype, name)
            assertClose(result, expected, atol: 0, rtol: 1e-7, name)
        }
        let boolPlusOne = Tensor([true, false]) + 1
        XCTAssertEqual(boolPlusOne.dtype, .float32)
        assertClose(boolPlusOne, f.tensor("scalars", "bool_plus_1"), atol: 0, rtol: 0)
        XCTAssertEqual((3 * Tensor([1, 2] as [Float])).floats, [3, 6])
        XCTAssertEqual((1 - Tensor([1, 2] as [Float])).floats, [0, -1])
    }

    // MARK: Layouts

    /// Operands that are views: a transpose, a slice with steps on both axes, and an
    /// expanded column (stride 0). Results must equal torch's on the same views.
    func testNonContiguousOperands() {
        let f = coreFixtures
        let base = f.tensor("views", "base").cast(to: .float64)
        let t = base.transposed()
        let s = base[TensorIndex.stride(by: 2), TensorIndex.stride(from: 1, by: 2)]
        let e = base[TensorIndex.all, 0..<1].expanded(to: [4, 6])
        XCTAssertFalse(t.isContiguous || s.isContiguous || e.isContiguous)
        XCTAssertEqual(e.strides, [6, 0])
        let exact: [(String, Tensor)] = [
            ("exp_t", t.exp()), ("exp_s", s.exp()), ("exp_e", e.exp()),
            ("t_times_t", t * base.transposed().flipped(axes: [0])),
            ("s_plus_e", s + e[0..<2, 0..<3]), ("e_minus_base", e - base),
        ]
        for (name, result) in exact {
            assertClose(result, f.tensor("views", name), atol: 1e-12, rtol: 1e-12, name)
        }
        // A view gives exactly what its dense copy gives.
        XCTAssertEqual((t * 3).doubles, (t.contiguous() * 3).doubles)
    }

    func testEmptyTensors() {
        let empty = Tensor.zeros([0, 3])
        XCTAssertEqual((empty + 1).shape, [0, 3])
        XCTAssertEqual(empty.exp().shape, [0, 3])
        XCTAssertEqual((empty .< Tensor.zeros([3])).shape, [0, 3])
        XCTAssertEqual(empty.cast(to: .int64).shape, [0, 3])
        XCTAssertEqual((empty * Tensor.ones([1, 3])).doubles, [])
    }
}
