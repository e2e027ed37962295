/// The values the executor lays out channels-last (NHWC in memory): float32 and bfloat16
/// (autocast's convolution inputs) image batches
/// [N, C, H, W] that flow from convolutions through activations, residual adds and pooling
/// into other convolutions. oneDNN's convolutions read and write that layout as it is,
/// while a row-major tensor is reordered into a blocked layout and back on every call;
/// the elementwise and pooling kernels run over either layout in memory order. A value
/// stays row-major when an operation that reads it is not one of those, and when the
/// function returns it, so callers receive row-major tensors.
struct LayoutPlan: CustomStringConvertible {
    private(set) var channelsLast = Set<Int>()

    /// Convolutions with fewer output channels keep row-major results: channels-last
    /// kernels want whole vectors of channels.
    static let minimumChannels = 16

    init(_ graph: Graph) {
        var readers = [Int: [Graph.Operation]]()
        for operation in graph.operations {
            for id in Set(operation.inputs) { readers[id, default: []].append(operation) }
        }
        let returned = Set(graph.results)
        for operation in graph.operations {
            let produced = operation.outputs.filter { id in
                let spec = graph.specs[id]
                return (spec.dtype == .float32 || spec.dtype == .bfloat16) && spec.shape.count == 4 && !returned.contains(id)
                    && (readers[id] ?? []).allSatisfy { LayoutPlan.readsAnyLayout($0, id) }
            }
            guard !produced.isEmpty, produced.count == operation.outputs.count else { continue }
            let shape = graph.specs[produced[0]].shape
            guard produced.allSatisfy({ graph.specs[$0].shape == shape }) else { continue }
            switch LayoutPlan.writer(operation.primitive) {
            case .convolution:
                guard shape[1] >= LayoutPlan.minimumChannels else { continue }
            case .follower:
                // Follows its image inputs: channels-last when all of them are.
                let images = LayoutPlan.isPooling(operation.primitive)
                    ? [operation.inputs[0]] : operation.inputs.filter { graph.specs[$0].shape == shape }
                guard !images.isEmpty, images.allSatisfy(channelsLast.contains) else { continue }
            case nil:
                continue
            }
            channelsLast.formUnion(produced)
        }
    }

    enum Writer {
        /// Writes either layout natively.
        case convolution
        /// Writes either layout, at the cost of strided reads if its inputs have the other.
        case follower
    }

    /// Whether the kernel of `primitive` can write a channels-last result, and how.
    static func writer(_ primitive: Primitive) -> Writer? {
        switch primitive {
        case .conv2d: return .convolution
        case .fused(let program) where program.tail == nil:
            switch program.head {
            case nil: return .follower
            case .conv2d: return .convolution
            case .matmul: return nil
            }
        case .unary, .binary, .compare, .select, .cast, .maxPool2d, .avgPool2d: return .follower
        default: return nil
        }
    }

    static func isPooling(_ primitive: Primitive) -> Bool {
        switch primitive {
        case .maxPool2d, .avgPool2d: return true
        default: return false
        }
    }

    /// Whether `operation` reads value `id` in any dense layout at full speed.
    static func readsAnyLayout(_ operation: Graph.Operation, _ id: Int) -> Bool {
        switch operation.primitive {
        // As the image, not as a weight or bias (those are reordered on every call).
        case .conv2d: return !operation.inputs.dropFirst().contains(id)
        case .fused(let program) where program.head != nil:
            guard case .conv2d = program.head else { return false }
            return !operation.inputs[1..<program.headInputCount].contains(id)
        case .fused, .unary, .binary, .compare, .select, .cast, .maxPool2d, .avgPool2d, .reduce: return true
        default: return false
        }
    }

    /// The strides of value `id` when it is computed into memory of its own.
    func strides(_ id: Int, _ shape: [Int]) -> [Int] {
        channelsLast.contains(id) ? ShapeMath.channelsLastStrides(shape) : ShapeMath.contiguousStrides(shape)
    }

    var description: String { "layout plan: \(channelsLast.count) values channels-last" }
}
