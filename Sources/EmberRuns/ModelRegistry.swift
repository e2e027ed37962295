import Ember
import EmberModels
import EmberNN

/// The architectures `ember train --model` builds, for the dataset's kind of input and
/// number of classes (for a language model, the vocabulary).
public enum ModelRegistry {
    public static let imageModels = ["resnet8", "resnet20", "resnet18-cifar", "resnet18", "resnet34", "resnet50", "lenet5"]
    public static let denseModels = ["mlp", "linear"]
    public static let textModels = ["transformer", "lstm", "bert"]
    public static let languageModels = ["gpt"]
    public static let names = imageModels + denseModels + textModels + languageModels

    /// The input `ember summary` shows a model with when none is given.
    public static func defaultInput(_ name: String) -> ModelInput {
        switch name {
        case "resnet18", "resnet34", "resnet50": return .image(channels: 3, height: 224, width: 224, mean: [], std: [])
        case "lenet5", "mlp", "linear": return .image(channels: 1, height: 28, width: 28, mean: [], std: [])
        case _ where textModels.contains(name) || languageModels.contains(name):
            return .tokens(tokenizer: nil, vocabularySize: 257, maxLength: 128, paddingID: TextTokenizer.bytePadding)
        default: return .image(channels: 3, height: 32, width: 32, mean: [], std: [])
        }
    }

    public static func defaultClasses(_ name: String) -> Int {
        ["resnet18", "resnet34", "resnet50"].contains(name) ? 1000 : languageModels.contains(name) ? 257 : 10
    }

    public static func make(_ name: String, input: ModelInput, classes: Int) throws -> any Layer {
        switch input {
        case .image(let channels, let height, let width, _, _):
            if textModels.contains(name) || languageModels.contains(name) {
                throw RunError("model '\(name)' reads text, but the dataset holds images; use --dataset reviews or text")
            }
            return try imageModel(name, channels: channels, height: height, width: width, classes: classes)
        case .features(let names, _, _):
            guard denseModels.contains(name) else {
                throw RunError("model '\(name)' cannot read feature vectors; use --model \(denseModels.joined(separator: " or "))")
            }
            return dense(name, features: names.count, classes: classes)
        case .tokens(_, let vocabularySize, let maxLength, let paddingID):
            return try textModel(name, vocabularySize: vocabularySize, maxLength: maxLength, paddingID: paddingID, classes: classes)
        }
    }

    private static func imageModel(_ name: String, channels: Int, height: Int, width: Int, classes: Int) throws -> any Layer {
        func requireRGB() throws {
            guard channels == 3 else { throw RunError("model '\(name)' takes RGB images, the dataset has \(channels) channel(s)") }
        }
        switch name {
        case "resnet8", "resnet20": return CIFARResNet(depth: name == "resnet8" ? 8 : 20, classes: classes, inputChannels: channels)
        case "resnet18-cifar":
            try requireRGB()
            return ResNet.resnet18Cifar(classes: classes)
        case "resnet18", "resnet34", "resnet50":
            try requireRGB()
            // The stem and four stages halve the size five times.
            guard min(height, width) >= 32 else { throw RunError("model '\(name)' needs images of at least 32x32, the dataset's are \(width)x\(height)") }
            return name == "resnet18" ? ResNet.resnet18(classes: classes) : name == "resnet34" ? ResNet.resnet34(classes: classes)
                : ResNet.resnet50(classes: classes)
        case "lenet5":
            guard height == width, [28, 32].contains(height) else {
                throw RunError("model 'lenet5' takes 32x32 images (or 28x28, padded), the dataset's are \(width)x\(height)")
            }
            return LeNet5(classes: classes, inputChannels: channels, inputSize: height)
        default:
            return dense(name, features: channels * height * width, classes: classes)
        }
    }

    private static func dense(_ name: String, features: Int, classes: Int) -> any Layer {
        MLP(inputFeatures: features, hiddenSizes: name == "mlp" ? [256, 128] : [], outputFeatures: classes)
    }

    private static func textModel(_ name: String, vocabularySize: Int, maxLength: Int, paddingID: Int, classes: Int) throws -> any Layer {
        switch name {
        case "transformer":
            return TransformerClassifier(vocabularySize: vocabularySize, classes: classes, dModel: 128, numHeads: 4, numLayers: 2,
                                         maxLength: maxLength, dropout: 0.1, paddingIndex: paddingID)
        case "lstm":
            return LSTMClassifier(vocabularySize: vocabularySize, classes: classes, embeddingSize: 64, hiddenSize: 128,
                                  bidirectional: true, paddingIndex: paddingID)
        case "bert":
            let config = BERTConfig(vocabSize: vocabularySize, hiddenSize: 128, numHiddenLayers: 2, numAttentionHeads: 2,
                                    intermediateSize: 512, maxPositionEmbeddings: maxLength, padTokenID: paddingID, numLabels: classes)
            return BERTForSequenceClassification(config: config)
        case "gpt":
            return GPT(GPTConfig(vocabSize: vocabularySize, blockSize: maxLength, nLayer: 4, nHead: 4, nEmbd: 128, dropout: 0.1))
        default:
            throw RunError("model '\(name)' does not read text; use --model \((textModels + languageModels).joined(separator: ", "))")
        }
    }
}
