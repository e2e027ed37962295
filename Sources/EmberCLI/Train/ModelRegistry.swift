import Ember
import EmberModels
import EmberNN

/// The architectures `ember train --model` builds, for images of a given shape (or feature
/// vectors) and number of classes.
enum ModelRegistry {
    static let names = ["resnet8", "resnet20", "resnet18-cifar", "mlp", "linear"]

    /// The input `ember summary` shows a model with when none is given.
    static func defaultInput(_ name: String) -> ModelInput {
        switch name {
        case "mlp", "linear": return .image(channels: 1, height: 28, width: 28, mean: [], std: [])
        default: return .image(channels: 3, height: 32, width: 32, mean: [], std: [])
        }
    }

    static func defaultClasses(_ name: String) -> Int { 10 }

    static func make(_ name: String, input: ModelInput, classes: Int) throws -> any Layer {
        let inputShape = input.shape
        let features = inputShape.reduce(1, *)
        switch name {
        case "resnet8", "resnet20", "resnet18-cifar":
            guard inputShape.count == 3 else {
                throw CommandError("model '\(name)' takes images, but the dataset's examples have shape \(inputShape); use --model mlp or linear")
            }
            if name == "resnet18-cifar" {
                guard inputShape[0] == 3 else { throw CommandError("model 'resnet18-cifar' takes RGB images, the dataset has \(inputShape[0]) channel(s)") }
                return ResNet.resnet18Cifar(classes: classes)
            }
            return CIFARResNet(depth: name == "resnet8" ? 8 : 20, classes: classes, inputChannels: inputShape[0])
        case "mlp":
            return Sequential(Flatten(), Linear(features, 256), ReLU(), Linear(256, 128), ReLU(), Linear(128, classes))
        case "linear":
            return Sequential(Flatten(), Linear(features, classes))
        default:
            throw CommandError("unknown model '\(name)' (available: \(names.joined(separator: ", ")))")
        }
    }
}
