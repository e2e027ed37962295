import EmberIO

extension ModelRegistry {
    /// Whether model `name` for `input` and `classes` outputs can be built and run on
    /// `examples` examples at once in this machine's memory: nil, or what is too large (its
    /// weights, or one batch's largest activations). Counted roughly, from the largest float32
    /// tensors of each architecture (see `make`), before anything is allocated.
    public static func memoryProblem(_ name: String, input: ModelInput, classes: Int, examples: Int) -> String? {
        let (weights, activations) = largestTensors(name, input: input, classes: classes)
        if let problem = MemoryLimit.problem(bytes: MemoryLimit.sum(weights.map { MemoryLimit.bytes($0 + [4]) })) {
            return "its weights need \(problem)"
        }
        let batch = MemoryLimit.sum(activations.map { MemoryLimit.bytes([examples, 4] + $0) })
        if let problem = MemoryLimit.problem(bytes: batch) {
            return examples == 1 ? "one example's activations need \(problem)" : "the activations of a batch of \(examples) need \(problem)"
        }
        return nil
    }

    /// The element counts (as factors, multiplied without overflow later) of the largest
    /// weights, and of the largest activations of one example.
    private static func largestTensors(_ name: String, input: ModelInput, classes: Int) -> (weights: [[Int]], activations: [[Int]]) {
        switch input {
        case .image(let channels, let height, let width, _, _):
            let pixels = [channels, height, width]
            switch name {
            case "mlp": return ([pixels + [256], [128, classes]], [pixels])
            case "linear": return ([pixels + [classes]], [pixels])
            // The first stage's output, normalized and activated, lives three times over.
            case "resnet8", "resnet20": return ([[64, classes]], [pixels, [3, 16, height, width]])
            case "resnet18-cifar": return ([[512, classes]], [pixels, [3, 64, height, width]])
            case "resnet18", "resnet34": return ([[512, classes]], [pixels, [3, 64, height / 2, width / 2]])
            case "resnet50": return ([[2048, classes]], [pixels, [3, 256, height / 4, width / 4]])
            default: return ([[84, classes]], [pixels, [3, 6, height, width]])
            }
        case .features(let names, _, _):
            let hidden = name == "mlp" ? [[names.count, 256], [128, classes]] : [[names.count, classes]]
            return (hidden, [[names.count]])
        case .tokens(_, let vocabulary, let length, _):
            switch name {
            // Attention holds a length x length matrix per head; a language model, logits per position.
            case "lstm": return ([[vocabulary, 64], [256, classes]], [[length, 64 + 256]])
            case "gpt": return ([[vocabulary, 128, 2], [length, 128]], [[length, 4, 128], [4, length, length], [length, vocabulary]])
            case "bert": return ([[vocabulary, 128], [length, 128], [128, classes]], [[length, 4, 128], [2, length, length]])
            default: return ([[vocabulary, 128], [length, 128], [128, classes]], [[length, 4, 128], [4, length, length]])
            }
        }
    }
}
