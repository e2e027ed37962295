/// A request path parsed into what it asks for. TF Serving's paths end in a method after a
/// colon (`/v1/models/NAME/versions/3:predict`); the Open Inference Protocol's are plain.
struct Route: Equatable {
    enum Kind: Equatable {
        case tfStatus, tfMetadata, tfPredict, tfClassify
        case serverMetadata, live, ready, modelMetadata, modelReady, infer
        case metrics, openAPI
        case notFound
    }

    var kind: Kind = .notFound
    var model: String?
    var version: Int?
    /// A version that is not a whole number, refused with 400.
    var badVersion: String?

    init(_ path: String) {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        if parts.last == "" { parts.removeLast() }
        switch parts.first {
        case "metrics" where parts.count == 1: kind = .metrics
        case "openapi.json" where parts.count == 1: kind = .openAPI
        case "v1": parseTensorFlow(Array(parts.dropFirst()))
        case "v2": parseInferenceProtocol(Array(parts.dropFirst()))
        default: break
        }
    }

    /// models/NAME[/versions/V][/metadata | :predict | :classify]
    private mutating func parseTensorFlow(_ parts: [String]) {
        guard parts.count >= 2, parts[0] == "models" else { return }
        var rest = Array(parts.dropFirst())
        var method: String?
        if let colon = rest[rest.count - 1].lastIndex(of: ":") {
            let last = rest[rest.count - 1]
            method = String(last[last.index(after: colon)...])
            rest[rest.count - 1] = String(last[..<colon])
        }
        var metadata = false
        if method == nil, rest.count > 1, rest.last == "metadata" {
            metadata = true
            rest.removeLast()
        }
        guard takeModel(rest) else { return }
        switch (method, metadata) {
        case (nil, false): kind = .tfStatus
        case (nil, true): kind = .tfMetadata
        case ("predict", _): kind = .tfPredict
        case ("classify", _): kind = .tfClassify
        default: kind = .notFound
        }
    }

    /// [] | health/live | health/ready | models/NAME[/versions/V][/ready | /infer]
    private mutating func parseInferenceProtocol(_ parts: [String]) {
        switch parts {
        case []: kind = .serverMetadata
        case ["health", "live"]: kind = .live
        case ["health", "ready"]: kind = .ready
        default:
            guard parts.count >= 2, parts[0] == "models" else { return }
            var rest = Array(parts.dropFirst())
            var action: Kind = .modelMetadata
            if rest.count > 1, rest.last == "ready" || rest.last == "infer" {
                action = rest.removeLast() == "ready" ? .modelReady : .infer
            }
            if takeModel(rest) { kind = action }
        }
    }

    /// NAME or NAME/versions/V.
    private mutating func takeModel(_ parts: [String]) -> Bool {
        switch parts.count {
        case 1: model = parts[0]
        case 3 where parts[1] == "versions":
            model = parts[0]
            if let number = Int(parts[2]), number >= 0 { version = number } else { badVersion = parts[2] }
        default: return false
        }
        return true
    }

    var isHealthCheck: Bool { kind == .live || kind == .ready }

    /// Whether the route takes a body (POST) rather than GET.
    var isPost: Bool { [.tfPredict, .tfClassify, .infer].contains(kind) }

    /// The endpoint label of metrics.
    var endpoint: String {
        switch kind {
        case .tfStatus: return "v1_status"
        case .tfMetadata: return "v1_metadata"
        case .tfPredict: return "v1_predict"
        case .tfClassify: return "v1_classify"
        case .serverMetadata: return "v2_server_metadata"
        case .live, .ready: return "v2_health"
        case .modelMetadata: return "v2_model_metadata"
        case .modelReady: return "v2_model_ready"
        case .infer: return "v2_infer"
        case .metrics: return "metrics"
        case .openAPI: return "openapi"
        case .notFound: return "not_found"
        }
    }
}
