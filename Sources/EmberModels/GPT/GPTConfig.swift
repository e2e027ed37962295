/// The shape of a `GPT`, nanoGPT's `GPTConfig` with its field names; as JSON it uses
/// nanoGPT's snake-case keys (`vocab_size`, `block_size`, `n_layer`, `n_head`, `n_embd`,
/// `dropout`, `bias`), `dropout` and `bias` being optional (0 and true). Decoding checks the
/// values and throws a `DecodingError` that says which is wrong.
public struct GPTConfig: Codable, Equatable, Sendable {
    /// Number of token ids (GPT-2's tokenizer has 50257).
    public var vocabSize: Int
    /// Context length: the most tokens the model sees at once (positions 0..<blockSize).
    public var blockSize: Int
    /// Number of transformer blocks.
    public var nLayer: Int
    /// Attention heads per block.
    public var nHead: Int
    /// Width of the residual stream; a multiple of `nHead`.
    public var nEmbd: Int
    /// Dropout after the embeddings, on attention weights and after each residual branch, in
    /// training mode.
    public var dropout: Double
    /// Whether linear layers and layer norms have biases (GPT-2's do).
    public var bias: Bool

    public init(vocabSize: Int = 50257, blockSize: Int = 1024, nLayer: Int = 12, nHead: Int = 12, nEmbd: Int = 768,
                dropout: Double = 0, bias: Bool = true) {
        self.vocabSize = vocabSize
        self.blockSize = blockSize
        self.nLayer = nLayer
        self.nHead = nHead
        self.nEmbd = nEmbd
        self.dropout = dropout
        self.bias = bias
    }

    /// GPT-2 (124M parameters) and its larger siblings, as nanoGPT's `from_pretrained`.
    public static let gpt2 = GPTConfig()
    public static let gpt2Medium = GPTConfig(nLayer: 24, nHead: 16, nEmbd: 1024)
    public static let gpt2Large = GPTConfig(nLayer: 36, nHead: 20, nEmbd: 1280)
    public static let gpt2XL = GPTConfig(nLayer: 48, nHead: 25, nEmbd: 1600)

    /// What is wrong with the values, or nil when they describe a model.
    public var problem: String? {
        for (name, value) in [("vocab_size", vocabSize), ("block_size", blockSize), ("n_layer", nLayer), ("n_head", nHead),
                              ("n_embd", nEmbd)] where value <= 0 {
            return "\(name) must be positive, found \(value)"
        }
        if nEmbd % nHead != 0 { return "n_embd (\(nEmbd)) must be a multiple of n_head (\(nHead))" }
        if !(0..<1).contains(dropout) { return "dropout must be in [0, 1), found \(dropout)" }
        return nil
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", blockSize = "block_size", nLayer = "n_layer", nHead = "n_head", nEmbd = "n_embd"
        case dropout, bias
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(vocabSize: try c.decode(Int.self, forKey: .vocabSize), blockSize: try c.decode(Int.self, forKey: .blockSize),
                  nLayer: try c.decode(Int.self, forKey: .nLayer), nHead: try c.decode(Int.self, forKey: .nHead),
                  nEmbd: try c.decode(Int.self, forKey: .nEmbd),
                  dropout: try c.decodeIfPresent(Double.self, forKey: .dropout) ?? 0,
                  bias: try c.decodeIfPresent(Bool.self, forKey: .bias) ?? true)
        if let problem {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "GPTConfig: \(problem)"))
        }
    }
}
