import Ember

/// A number that tracing computed from the sizes of dynamic axes and captured as a constant:
/// a mean's divisor (`length`, `batch·length`), a clamp's bound (`length − 1`), a row stride
/// (`arange(batch) · length`). Elementwise it is `offset + coefficient · Π sizes` over the
/// axes it changes with: fitted from the trace at the example sizes and the traces with one
/// axis one larger, then checked against a trace with every axis two larger, so that a
/// number of another form (a square of a length) is refused rather than written wrong.
struct SizeFunction: Equatable {
    var offsets: [Double]
    var coefficients: [Double]
    /// The axes whose sizes multiply, sorted; empty for a number that does not change.
    var axes: [String]

    /// The function through `base` (at `sizes`) and `grown` (each axis one larger), if one fits.
    static func fit(base: [Double], grown: [String: [Double]], sizes: [String: Int]) -> SizeFunction? {
        guard grown.values.allSatisfy({ $0.count == base.count }) else { return nil }
        let axes = grown.keys.sorted().filter { !same(grown[$0]!, base) }
        let product = Double(axes.reduce(1) { $0 * sizes[$1]! })
        var coefficients = [Double](repeating: 0, count: base.count)
        for axis in axes {
            // Growing one axis by one adds coefficient · product / size.
            let others = product / Double(sizes[axis]!)
            for (i, (a, b)) in zip(base, grown[axis]!).enumerated() {
                let coefficient = (b - a) / others
                if axis == axes[0] {
                    coefficients[i] = coefficient
                } else if !close(coefficient, coefficients[i]) {
                    return nil
                }
            }
        }
        return SizeFunction(offsets: zip(base, coefficients).map { $0 - $1 * product }, coefficients: coefficients, axes: axes)
    }

    func values(at sizes: [String: Int]) -> [Double] {
        let product = Double(axes.reduce(1) { $0 * sizes[$1]! })
        return zip(offsets, coefficients).map { $0 + $1 * product }
    }

    /// Whether the function gives `values` at `sizes`: exactly for integer values.
    func matches(_ values: [Double], at sizes: [String: Int], dtype: DType) -> Bool {
        let predicted = self.values(at: sizes)
        guard predicted.count == values.count else { return false }
        return zip(predicted, values).allSatisfy { dtype.isFloatingPoint ? close($0, $1) : $0 == $1 }
    }
}

/// Equal up to float32 rounding of a number computed another way (NaN equal to NaN).
private func close(_ a: Double, _ b: Double) -> Bool {
    a.bitPattern == b.bitPattern || a == b || abs(a - b) <= 1e-6 * max(1, abs(a), abs(b))
}

/// The same numbers, NaN equal to NaN.
private func same(_ a: [Double], _ b: [Double]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || $0 == $1 }
}

/// How a captured constant whose values depend on dynamic sizes is computed at run time.
enum SizeDependentConstant {
    /// A fixed shape: every element a `SizeFunction`.
    case elementwise(SizeFunction)
    /// A shape that changes with the sizes, every element the same number.
    case fill(SizeFunction)
    /// A shape of one dynamic dimension (the others 1), element i `start + i · step`: an
    /// `arange` over a dynamic size, scaled by sizes.
    case progression(start: SizeFunction, step: SizeFunction)

    /// The form that `base` (traced at `sizes`), `grown` (each axis one larger) and `checked`
    /// (every axis two larger, at `checkedSizes`) share, if any. Bool values (a mask compared
    /// with a length) have none.
    static func fit(base: Tensor, grown: [String: Tensor], checked: Tensor, sizes: [String: Int], checkedSizes: [String: Int],
                    fixedShape: Bool) -> SizeDependentConstant? {
        guard base.dtype != .bool else { return nil }
        let dtype = base.dtype
        let all = [base] + Array(grown.values) + [checked]
        let values = all.map(\.doubles)
        let grownValues = grown.mapValues(\.doubles)
        if fixedShape {
            guard let function = SizeFunction.fit(base: values[0], grown: grownValues, sizes: sizes),
                  function.matches(checked.doubles, at: checkedSizes, dtype: dtype) else { return nil }
            return .elementwise(function)
        }
        // A fill: one number per trace.
        if values.allSatisfy({ v in !v.isEmpty && same(v, Array(repeating: v[0], count: v.count)) }) {
            guard let function = SizeFunction.fit(base: [values[0][0]], grown: grownValues.mapValues { [$0[0]] }, sizes: sizes),
                  function.matches([checked.doubles[0]], at: checkedSizes, dtype: dtype) else { return nil }
            return .fill(function)
        }
        // A progression: one axis not of size 1, at least two elements in every trace.
        guard all.allSatisfy({ t in t.shape.filter { $0 != 1 }.count == 1 }), values.allSatisfy({ $0.count >= 2 }) else { return nil }
        func startAndStep(_ v: [Double]) -> [Double]? {
            let step = v[1] - v[0]
            let fits = v.indices.allSatisfy { i in
                let expected = v[0] + Double(i) * step
                return dtype.isFloatingPoint ? close(expected, v[i]) : expected == v[i]
            }
            return fits ? [v[0], step] : nil
        }
        guard let baseForm = startAndStep(values[0]), let checkedForm = startAndStep(checked.doubles) else { return nil }
        var grownForms = [String: [Double]]()
        for (axis, tensor) in grown {
            guard let form = startAndStep(tensor.doubles) else { return nil }
            grownForms[axis] = form
        }
        guard let start = SizeFunction.fit(base: [baseForm[0]], grown: grownForms.mapValues { [$0[0]] }, sizes: sizes),
              let step = SizeFunction.fit(base: [baseForm[1]], grown: grownForms.mapValues { [$0[1]] }, sizes: sizes),
              start.matches([checkedForm[0]], at: checkedSizes, dtype: dtype),
              step.matches([checkedForm[1]], at: checkedSizes, dtype: dtype) else { return nil }
        return .progression(start: start, step: step)
    }
}

extension GraphAssembly {
    /// The constant at the run's sizes: `dimensions` its shape, `dtype` its type.
    func write(_ constant: SizeDependentConstant, dimensions: [ONNXDimension], dtype: DType) -> String {
        switch constant {
        case .elementwise(let function):
            return write(function, shape: dimensions.map { $0.fixedValue! }, dtype: dtype)
        case .fill(let function):
            return node("Expand", [write(function, shape: [], dtype: dtype), shapeTensor(dimensions)], [], outputs: 1)[0]
        case .progression(let start, let step):
            let length = dimensions.first { $0.fixedValue != 1 }!
            let count = node("Squeeze", [shapeTensor([length]), int64s([0])], [], outputs: 1)[0]
            var index = node("Range", [scalar(0, .int64), count, scalar(1, .int64)], [], outputs: 1)[0]
            if dtype != .int64 { index = node("Cast", [index], [ONNXAttribute("to", .dtype(dtype))], outputs: 1)[0] }
            let scaled = node("Mul", [index, write(step, shape: [], dtype: dtype)], [], outputs: 1)[0]
            let values = node("Add", [scaled, write(start, shape: [], dtype: dtype)], [], outputs: 1)[0]
            return node("Reshape", [values, shapeTensor(dimensions)], [], outputs: 1)[0]
        }
    }

    /// offsets + coefficients · Π sizes, of `shape`.
    private func write(_ function: SizeFunction, shape: [Int], dtype: DType) -> String {
        let offsets = shape.isEmpty ? scalar(function.offsets[0], dtype)
            : initializer(noGrad { Tensor(doubles: function.offsets, shape: shape, dtype: dtype) }, name: "const_offset")
        guard !function.axes.isEmpty else { return offsets }
        let product = ONNXDimension.dynamic(coefficient: 1, exponents: Dictionary(uniqueKeysWithValues: function.axes.map { ($0, 1) }))
        var size = node("Squeeze", [shapeTensor([product]), int64s([0])], [], outputs: 1)[0]
        if dtype != .int64 { size = node("Cast", [size], [ONNXAttribute("to", .dtype(dtype))], outputs: 1)[0] }
        let first = function.coefficients[0]
        let coefficients = function.coefficients.allSatisfy { $0 == first }
            ? scalar(first, dtype)
            : initializer(noGrad { Tensor(doubles: function.coefficients, shape: shape, dtype: dtype) }, name: "const_coefficient")
        return node("Add", [offsets, node("Mul", [coefficients, size], [], outputs: 1)[0]], [], outputs: 1)[0]
    }
}
