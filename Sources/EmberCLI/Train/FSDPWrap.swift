import EmberDistributed
import EmberModels
import EmberNN
import EmberRuns

/// `ember train --fsdp-wrap`: which layers of the model become fully sharded units.
enum FSDPWrap: Equatable {
    /// Each transformer block a unit; the root unit holds the embeddings, final norm and head.
    case block
    /// Each layer holding at least this many parameters a unit (PyTorch's size-based policy).
    case size(Int)
    /// The whole model one unit.
    case model

    static let allowed = "block (each transformer block a unit), size:N (each layer of at least N parameters, N a positive whole number) or model (the whole model one unit)"

    /// "block", "size:N" or "model".
    static func parse(_ text: String) throws -> FSDPWrap {
        switch text {
        case "block": return .block
        case "model": return .model
        default:
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == "size", let minimum = Int(parts[1]), minimum > 0 else {
                throw CommandError("--fsdp-wrap must be \(allowed), got '\(text)'")
            }
            return .size(minimum)
        }
    }

    /// The policy when --fsdp-wrap is not given: per block where the model has blocks.
    static func defaultWrap(for model: String) -> FSDPWrap {
        blockTypes(of: model) == nil ? .model : .block
    }

    /// The transformer block types of a registry model whose blocks can be units.
    static func blockTypes(of model: String) -> [Module.Type]? {
        model == "gpt" ? [GPTBlock.self] : nil
    }

    /// Refuses a policy the model cannot follow: `block` needs blocks; units below the root
    /// need layers called with one tensor (the text classifiers pass padding masks).
    func check(model: String) throws {
        switch self {
        case .block where Self.blockTypes(of: model) == nil:
            throw CommandError("--fsdp-wrap block: model '\(model)' has no transformer blocks that can be units (gpt has); use size:N or model")
        case .size(let minimum) where ModelRegistry.textModels.contains(model):
            throw CommandError("--fsdp-wrap size:\(minimum): model '\(model)' passes padding masks to its layers, which a unit cannot take; use model")
        default:
            break
        }
    }

    func policy(for model: String) -> AutoWrapPolicy {
        switch self {
        case .block: return .moduleTypes(Self.blockTypes(of: model) ?? [])
        case .size(let minimum): return .parameterCount(minimum: minimum)
        case .model: return .wholeModel
        }
    }

    var description: String {
        switch self {
        case .block: return "one unit per transformer block"
        case .size(let minimum): return "one unit per layer of at least \(minimum) parameters"
        case .model: return "the whole model one unit"
        }
    }
}
