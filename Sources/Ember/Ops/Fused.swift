/// The fused primitive that `compile` builds: a chain of elementwise operations run as one
/// loop over memory, optionally ending in a reduction or a layer normalization of its
/// result (so the chain's value is never written out), or optionally starting from a
/// convolution whose result it transforms before it is written (an activation), or from a
/// matmul that applies a `LinearEpilogue` itself. Its rules are those of the
/// operations it stands for: the shape rule replays their shape rules, and the derivative
/// rule re-expresses the program with tensor operations and differentiates that.
public struct FusedProgram: Hashable, Sendable, CustomStringConvertible {
    /// One instruction of the register program. Registers 0..<operandCount hold the
    /// operands (broadcast to the domain); instruction k writes register operandCount + k.
    public enum Instruction: Hashable, Sendable {
        case unary(UnaryOp, Int)
        case binary(BinaryOp, Int, Int)
        case compare(CompareOp, Int, Int)
        /// select(condition, a, b)
        case select(Int, Int, Int)
        case cast(DType, Int)
    }

    /// An operation before the elementwise program whose result is register 0 (counted in
    /// `operandCount`): the primitive's first inputs are the operation's inputs instead.
    public enum Head: Hashable, Sendable {
        /// conv2d(x, weight) or conv2d(x, weight, bias)
        case conv2d(ConvConfig, hasBias: Bool)
        /// matmul(x, weight) then the epilogue, whose bias and residual are the next inputs
        /// (the program is then the identity on register 0: the head does all the work).
        case matmul(LinearEpilogue)
    }

    /// What happens to the single output register after the elementwise program.
    public enum Tail: Hashable, Sendable {
        case reduce(ReduceOp, axes: [Int], keepDims: Bool)
        /// Layer normalization over the last `axes` axes; the primitive's last two inputs
        /// are the weight and bias, and its outputs (y, mean, variance) as `layerNorm`'s.
        case layerNorm(axes: Int, epsilon: Double)
    }

    /// The shape every register is evaluated over.
    public var domain: [Int]
    /// Inputs read by the program (a layer-norm tail's weight and bias come after them).
    public var operandCount: Int
    public var instructions: [Instruction]
    /// Registers written to the primitive's outputs (exactly one when there is a tail).
    public var outputs: [Int]
    public var tail: Tail?
    public var head: Head?

    public init(domain: [Int], operandCount: Int, instructions: [Instruction], outputs: [Int], tail: Tail? = nil,
                head: Head? = nil) {
        self.domain = domain
        self.operandCount = operandCount
        self.instructions = instructions
        self.outputs = outputs
        self.tail = tail
        self.head = head
    }

    public var registerCount: Int { operandCount + instructions.count }

    /// Inputs after the operands: a layer-norm tail's weight and bias.
    var tailOperandCount: Int {
        if case .layerNorm = tail { return 2 }
        return 0
    }

    /// Inputs that the head reads in place of register 0 (none without a head).
    var headInputCount: Int {
        switch head {
        case nil: return 0
        case .conv2d(_, let hasBias): return hasBias ? 3 : 2
        case .matmul(let epilogue): return 2 + (epilogue.hasBias ? 1 : 0) + (epilogue.hasResidual ? 1 : 0)
        }
    }

    /// The head as a primitive.
    var headPrimitive: Primitive? {
        switch head {
        case nil: return nil
        case .conv2d(let config, _): return .conv2d(config)
        case .matmul: return .matmul
        }
    }

    /// The unary operations in order, when the program is only a chain of them from
    /// register 0 to its single output (one operand, no tail): an activation that a head
    /// can apply to its result as it writes it.
    public var unaryChain: [UnaryOp]? {
        guard operandCount == 1, tail == nil, !instructions.isEmpty, outputs == [registerCount - 1] else { return nil }
        var chain = [UnaryOp]()
        for (k, instruction) in instructions.enumerated() {
            guard case .unary(let op, let source) = instruction, source == (k == 0 ? 0 : operandCount + k - 1) else { return nil }
            chain.append(op)
        }
        return chain
    }

    /// The operand added to register 0 and the unary operations applied after, when the
    /// program is only that: add(r0, r1) (either order) over two operands, then a chain of
    /// unary operations to its single output, no tail. A head can add its result to the
    /// residual's memory as it writes it (a residual block's shortcut).
    public var residualChain: (operand: Int, chain: [UnaryOp])? {
        guard operandCount == 2, tail == nil, !instructions.isEmpty, outputs == [registerCount - 1],
              case .binary(.add, let a, let b) = instructions[0], Set([a, b]) == [0, 1] else { return nil }
        var chain = [UnaryOp]()
        for (k, instruction) in instructions.enumerated().dropFirst() {
            guard case .unary(let op, let source) = instruction, source == operandCount + k - 1 else { return nil }
            chain.append(op)
        }
        return (1, chain)
    }

    /// The primitive's inputs: the head's, the operands that follow register 0 (all of
    /// them without a head), then the tail's.
    var inputCount: Int { headInputCount + operandCount - (head == nil ? 0 : 1) + tailOperandCount }

    /// The primitive an instruction stands for, and the registers it reads.
    static func primitive(of instruction: Instruction) -> (Primitive, [Int]) {
        switch instruction {
        case .unary(let op, let a): return (.unary(op), [a])
        case .binary(let op, let a, let b): return (.binary(op), [a, b])
        case .compare(let op, let a, let b): return (.compare(op), [a, b])
        case .select(let c, let a, let b): return (.select, [c, a, b])
        case .cast(let t, let a): return (.cast(t), [a])
        }
    }

    public var description: String {
        var parts = [String]()
        for (k, instruction) in instructions.enumerated() {
            let (primitive, operands) = FusedProgram.primitive(of: instruction)
            parts.append("r\(operandCount + k) = \(primitive.name)(\(operands.map { "r\($0)" }.joined(separator: ", ")))")
        }
        if let headPrimitive {
            let inputs = (0..<headInputCount).map { "in\($0)" }.joined(separator: ", ")
            var head = "\(headPrimitive.name)(\(inputs))"
            if case .matmul(let epilogue) = self.head { head = epilogue.describe(head) }
            parts.insert("r0 = \(head)", at: 0)
        }
        let results = outputs.map { "r\($0)" }.joined(separator: ", ")
        switch tail {
        case nil: parts.append("out \(results)")
        case .reduce(let op, let axes, let keep): parts.append("out \(Primitive.reduce(op, axes: axes, keepDims: keep).name)(\(results))")
        case .layerNorm(let axes, let e): parts.append("out \(Primitive.layerNorm(axes: axes, epsilon: e).name)(\(results), weight, bias)")
        }
        return "fused\(domain){" + parts.joined(separator: "; ") + "}"
    }
}

enum Fused {
    // MARK: Shape rule

    /// Every register's spec, from the operands' specs through the instructions' own rules.
    static func registerSpecs(_ program: FusedProgram, _ inputs: [TensorSpec]) throws(ShapeError) -> [TensorSpec] {
        let name = "fused"
        let expected = program.inputCount
        if inputs.count != expected {
            throw ShapeError(name, "expected \(expected) inputs, got \(inputs.count)")
        }
        var registers = Array(inputs.prefix(program.operandCount))
        if let head = program.headPrimitive {
            guard program.operandCount >= 1 else { throw ShapeError(name, "a head needs register 0 among the operands") }
            let headed = try headSpec(program, head, Array(inputs.prefix(program.headInputCount)))
            registers = [headed] + inputs[program.headInputCount..<(program.headInputCount + program.operandCount - 1)]
        }
        for operand in registers where ShapeMath.broadcast(operand.shape, program.domain) != program.domain {
            throw ShapeError(name, "operand \(operand) does not broadcast to the domain \(program.domain)")
        }
        for instruction in program.instructions {
            let (primitive, operands) = FusedProgram.primitive(of: instruction)
            guard operands.allSatisfy({ $0 < registers.count }) else {
                throw ShapeError(name, "an instruction reads a register not yet written: \(primitive.name)\(operands)")
            }
            registers.append(try primitive.outputSpecs(operands.map { registers[$0] })[0])
        }
        return registers
    }

    /// The head's result spec; a matmul's bias must broadcast along its last axis and its
    /// residual have its spec.
    static func headSpec(_ program: FusedProgram, _ head: Primitive, _ inputs: [TensorSpec]) throws(ShapeError) -> TensorSpec {
        guard case .matmul(let epilogue) = program.head else { return try head.outputSpecs(inputs)[0] }
        let product = try head.outputSpecs(Array(inputs.prefix(2)))[0]
        var next = 2
        if epilogue.hasBias {
            let bias = inputs[next]
            guard bias.dtype == product.dtype, let n = product.shape.last, bias.shape.last == n,
                  bias.shape.dropLast().allSatisfy({ $0 == 1 }), bias.shape.count <= product.shape.count else {
                throw ShapeError("fused", "a matmul's bias must be [\(product.shape.last ?? 0)] of \(product.dtype), got \(bias)")
            }
            next += 1
        }
        if epilogue.hasResidual && inputs[next] != product {
            throw ShapeError("fused", "a matmul's residual must be \(product), got \(inputs[next])")
        }
        return product
    }

    /// The head run through the dispatcher, a matmul's epilogue one operation at a time.
    static func headResult(_ program: FusedProgram, _ head: Primitive, _ inputs: [Tensor]) -> Tensor {
        guard case .matmul(let epilogue) = program.head else { return Dispatch.run1(head, inputs) }
        var y = Dispatch.run1(.matmul, Array(inputs.prefix(2)))
        if epilogue.hasBias { y = y + inputs[2] }
        if let activation = epilogue.activation { y = activation.apply(y) }
        if epilogue.hasResidual { y = y + inputs[inputs.count - 1] }
        return y
    }

    static func outputSpecs(_ program: FusedProgram, _ inputs: [TensorSpec]) throws(ShapeError) -> [TensorSpec] {
        let registers = try registerSpecs(program, inputs)
        let results = program.outputs.map { registers[$0] }
        for spec in results where spec.shape != program.domain {
            throw ShapeError("fused", "an output register has shape \(spec.shape), not the domain \(program.domain)")
        }
        switch program.tail {
        case nil:
            return results
        case .reduce(let op, let axes, let keep):
            return [try Reduction.reduceSpec(op, axes, keep, results)]
        case .layerNorm(let axes, _):
            return try Normalization.layerNormSpecs(axes, results + inputs.suffix(2))
        }
    }

    // MARK: The program as tensor operations

    /// The program run one primitive at a time through the dispatcher: the reference the
    /// kernel must match, and what the derivative rule differentiates.
    static func unfused(_ program: FusedProgram, _ inputs: [Tensor]) -> [Tensor] {
        var registers = Array(inputs.prefix(program.operandCount))
        if let head = program.headPrimitive {
            let headInputs = Array(inputs.prefix(program.headInputCount))
            registers = [headResult(program, head, headInputs)]
                + inputs[program.headInputCount..<(program.headInputCount + program.operandCount - 1)]
        }
        for instruction in program.instructions {
            let (primitive, operands) = FusedProgram.primitive(of: instruction)
            registers.append(Dispatch.run1(primitive, operands.map { registers[$0] }))
        }
        let results = program.outputs.map { registers[$0] }
        switch program.tail {
        case nil: return results
        case .reduce(let op, let axes, let keep): return Dispatch.run(.reduce(op, axes: axes, keepDims: keep), results)
        case .layerNorm(let axes, let e): return Dispatch.run(.layerNorm(axes: axes, epsilon: e), results + inputs.suffix(2))
        }
    }

    // MARK: Derivative rule

    /// Differentiates the unfused program. Only y of a layer-norm tail carries a gradient (as
    /// the primitive's own rule): its statistics are not floating-point outputs with a cotangent.
    static func vjp(_ program: FusedProgram, _ inputs: [Tensor], _ cotangents: [Tensor?], _ needed: [Bool]) -> [Tensor?] {
        FunctionalAD.formulaVJP({ unfused(program, $0) }, inputs, cotangents, needed)
    }
}

// MARK: Forward mode and batching

extension Fused {
    /// The program's operations one by one, each with its own rule.
    static func jvp(_ program: FusedProgram, _ x: [Tensor], _ t: [Tensor?]) -> [Tensor?] {
        Ember.jvp({ unfused(program, $0) }, primals: x, tangents: Tangents.zeroFilled(x, t)).tangents
    }

    static func batch(_ program: FusedProgram, _ x: BatchedOperands) -> [Tensor] {
        vmap({ unfused(program, $0) }, inAxes: x.batched.map { $0 ? 0 : nil })(x.values)
    }
}

