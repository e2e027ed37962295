import Ember
import EmberIO
import Foundation

/// Checks an ONNX model completely before anything runs and lays its graph out for
/// `ONNXModel`: value names become slots, nodes are put in dependency order (a cycle is an
/// error), every initializer is decoded, every operator has a converter for the model's
/// opset. Problems of one kind (unsupported operators or types) are reported all at once.
struct ONNXGraphLoader {
    let model: Onnx_ModelProto
    let path: String

    struct Loaded {
        var inputs: [ONNXValueInfo] = []
        var outputs: [ONNXValueInfo] = []
        var opset = 1
        var nodes: [ONNXNode] = []
        var slotCount = 0
        var inputSlots: [Int] = []
        var outputSlots: [Int] = []
        var parameters: [(slot: Int, name: String, tensor: Tensor)] = []
        /// Floating-point initializers read only as BatchNormalization's running statistics.
        var buffers: [(slot: Int, name: String, tensor: Tensor)] = []
        var constants: [(slot: Int, tensor: Tensor)] = []
    }

    private func error(_ problem: String, member: String? = nil) -> FileError {
        FileError(.onnx, path: path, member: member, problem: problem)
    }

    func load() throws -> Loaded {
        var loaded = Loaded()
        loaded.opset = try defaultOpset()
        let graph = model.graph
        guard model.hasGraph, !graph.output.isEmpty else { throw error("the model has no graph outputs") }
        guard graph.sparseInitializer.isEmpty else { throw error("sparse initializers are not supported") }

        var slots = [String: Int]()
        func newSlot(_ name: String, _ role: String) throws -> Int {
            guard !name.isEmpty else { throw error("a \(role) has an empty name") }
            guard slots[name] == nil else { throw error("'\(name)' is defined twice (again as a \(role)); ONNX values have one producer") }
            let slot = slots.count
            slots[name] = slot
            return slot
        }

        // Initializers: floating point ones are trained, except batch norm's running statistics
        // (PyTorch's buffers, which ONNX does not mark: those read only as BatchNormalization's
        // mean and variance, and those named as PyTorch's and Ember's state dicts name them, for
        // exports that write batch norm as arithmetic); the rest (indices, shapes) are fixed.
        var readOtherwise = Set<String>(), readAsStatistics = Set<String>()
        for node in graph.node {
            for (index, name) in node.input.enumerated() {
                if node.opType == "BatchNormalization" && node.domain.isEmpty && (index == 3 || index == 4) {
                    readAsStatistics.insert(name)
                } else {
                    readOtherwise.insert(name)
                }
            }
        }
        let statistics = readAsStatistics.subtracting(readOtherwise)
            .union(graph.initializer.map(\.name).filter { $0.hasSuffix(".running_mean") || $0.hasSuffix(".running_var") })
        let decoder = ONNXTensorDecoder(path: path)
        for proto in graph.initializer {
            let tensor = try decoder.decode(proto, name: proto.name)
            let slot = try newSlot(proto.name, "initializer")
            if tensor.dtype.isFloatingPoint && statistics.contains(proto.name) {
                loaded.buffers.append((slot, proto.name, tensor))
            } else if tensor.dtype.isFloatingPoint {
                loaded.parameters.append((slot, proto.name, tensor))
            } else {
                loaded.constants.append((slot, tensor))
            }
        }
        // Graph inputs (older models also list their initializers as inputs: those keep the initializer).
        var typeProblems = [String]()
        let initializerNames = Set(graph.initializer.map(\.name))
        for input in graph.input where !initializerNames.contains(input.name) {
            let slot = try newSlot(input.name, "graph input")
            do {
                loaded.inputs.append(try valueInfo(input, role: "input"))
                loaded.inputSlots.append(slot)
            } catch let problem as TypeProblem {
                typeProblems.append(problem.text)
            }
        }

        // Declared ONNX element types, where the file gives them (CastLike casts to its second
        // input's type, which Ember's widened dtypes do not always tell).
        var declaredTypes = Dictionary(graph.initializer.map { ($0.name, $0.dataType) }, uniquingKeysWith: { first, _ in first })
        for info in graph.input + graph.valueInfo {
            if case .tensorType(let type)? = info.type.value, declaredTypes[info.name] == nil { declaredTypes[info.name] = type.elemType }
        }
        for node in graph.node where node.domain.isEmpty && node.output.count == 1 {
            if node.opType == "Constant", let value = node.attribute.first(where: { $0.name == "value" && $0.hasT }) {
                declaredTypes[node.output[0]] = value.t.dataType
            } else if node.opType == "Cast", let to = node.attribute.first(where: { $0.name == "to" }) {
                declaredTypes[node.output[0]] = Int32(truncatingIfNeeded: to.i)
            }
        }

        // Nodes: converters and attributes first, so that every unsupported operator is named at once.
        var unsupported = [String]()
        var pending = [(proto: Onnx_NodeProto, name: String, converter: ONNXOperator?, tensors: [String: Tensor])]()
        for (index, proto) in graph.node.enumerated() {
            let name = proto.name.isEmpty ? "#\(index) \(proto.opType)" : proto.name
            var converter: ONNXOperator?
            if proto.domain.isEmpty || proto.domain == "ai.onnx" {
                converter = ONNXOperatorRegistry.converter(proto.opType, opset: loaded.opset)
                if converter == nil { unsupported.append("\(proto.opType) (node '\(name)', opset \(loaded.opset))") }
            } else {
                let version = model.opsetImport.first { $0.domain == proto.domain }.map { String($0.version) } ?? "?"
                unsupported.append("\(proto.domain).\(proto.opType) (node '\(name)', opset \(version))")
            }
            var tensors = [String: Tensor]()
            for attribute in proto.attribute {
                if attribute.type == .graph || attribute.type == .graphs || attribute.hasG {
                    if converter != nil { unsupported.append("\(proto.opType) with a subgraph (node '\(name)')") }
                    converter = nil
                }
                if attribute.hasT {
                    tensors[attribute.name] = try decoder.decode(attribute.t, name: "\(name).\(attribute.name)")
                }
            }
            pending.append((proto, name, converter, tensors))
        }
        if !unsupported.isEmpty {
            throw error("unsupported operators: \(unsupported.joined(separator: "; ")). Supported: \(ONNXOperatorRegistry.supportedNames.joined(separator: ", "))")
        }

        // Outputs of every node get slots before ordering, so that any node may read them.
        for item in pending {
            for output in item.proto.output where !output.isEmpty { _ = try newSlot(output, "output of node '\(item.name)'") }
        }
        let order = try dependencyOrder(pending.map(\.proto), names: pending.map(\.name), known: slots)
        for index in order {
            let item = pending[index]
            let attributes = Dictionary(item.proto.attribute.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            loaded.nodes.append(ONNXNode(name: item.name, op: item.proto.opType, opset: loaded.opset, converter: item.converter!,
                                         attributes: attributes, tensorAttributes: item.tensors,
                                         inputs: item.proto.input.map { $0.isEmpty ? nil : slots[$0] },
                                         inputElementTypes: item.proto.input.map { declaredTypes[$0] },
                                         outputs: item.proto.output.map { $0.isEmpty ? nil : slots[$0] }))
        }

        for output in graph.output {
            guard let slot = slots[output.name] else {
                throw error("graph output '\(output.name)' is not computed by any node, input or initializer")
            }
            do {
                loaded.outputs.append(try valueInfo(output, role: "output"))
                loaded.outputSlots.append(slot)
            } catch let problem as TypeProblem {
                typeProblems.append(problem.text)
            }
        }
        if !typeProblems.isEmpty { throw error("unsupported types: \(typeProblems.joined(separator: "; "))") }
        loaded.slotCount = slots.count
        return loaded
    }

    private func defaultOpset() throws -> Int {
        let entries = model.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }
        guard let version = entries.map(\.version).max() else {
            // IR version 2 and older had no opset imports: opset 1.
            if model.opsetImport.isEmpty && model.irVersion <= 2 { return 1 }
            throw error("the model imports no opset of the default ONNX domain")
        }
        guard (1...1000).contains(version) else { throw error("opset version \(version) is not an ONNX opset") }
        return Int(version)
    }

    private struct TypeProblem: Error { let text: String }

    private func valueInfo(_ info: Onnx_ValueInfoProto, role: String) throws -> ONNXValueInfo {
        guard case .tensorType(let type)? = info.type.value else {
            throw TypeProblem(text: "\(role) '\(info.name)' is not a tensor (sequences, maps and optionals are not supported)")
        }
        guard let dtype = ONNXElementType.dtype(type.elemType) else {
            throw TypeProblem(text: "\(role) '\(info.name)' has element type \(ONNXElementType.name(type.elemType))")
        }
        guard type.hasShape else { return ONNXValueInfo(name: info.name, dtype: dtype, dims: nil, symbolicDims: [], elementType: type.elemType) }
        var dims = [Int?](), names = [String?]()
        for dim in type.shape.dim {
            switch dim.value {
            case .dimValue(let size)?:
                guard size >= 0 else { throw error("\(role) '\(info.name)' has a negative dimension \(size)") }
                dims.append(Int(size))
                names.append(nil)
            case .dimParam(let name)?:
                dims.append(nil)
                names.append(name)
            case nil:
                dims.append(nil)
                names.append(nil)
            }
        }
        return ONNXValueInfo(name: info.name, dtype: dtype, dims: dims, symbolicDims: names, elementType: type.elemType)
    }

    /// Kahn's algorithm over the nodes, keeping the file's order among ready nodes.
    private func dependencyOrder(_ nodes: [Onnx_NodeProto], names: [String], known: [String: Int]) throws -> [Int] {
        var producer = [String: Int]()
        for (index, node) in nodes.enumerated() {
            for output in node.output where !output.isEmpty { producer[output] = index }
        }
        var waiting = [Int](repeating: 0, count: nodes.count)
        var readers = [[Int]](repeating: [], count: nodes.count)
        for (index, node) in nodes.enumerated() {
            for input in node.input where !input.isEmpty {
                guard known[input] != nil else {
                    throw error("node '\(names[index])' (\(node.opType)) reads '\(input)', which no node, graph input or initializer provides")
                }
                if let source = producer[input] {
                    waiting[index] += 1
                    readers[source].append(index)
                }
            }
        }
        var ready = (0..<nodes.count).filter { waiting[$0] == 0 }.reversed() as [Int]
        var order = [Int]()
        order.reserveCapacity(nodes.count)
        while let index = ready.popLast() {
            order.append(index)
            for reader in readers[index] {
                waiting[reader] -= 1
                if waiting[reader] == 0 { ready.append(reader) }
            }
        }
        guard order.count == nodes.count else {
            let stuck = (0..<nodes.count).filter { waiting[$0] > 0 }.prefix(5).map { "'\(names[$0])'" }
            throw error("the graph has a cycle through nodes \(stuck.joined(separator: ", "))")
        }
        return order
    }
}
