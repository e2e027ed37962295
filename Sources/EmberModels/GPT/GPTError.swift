/// Input a `GPT` cannot run on or generate from.
public enum GPTError: Error, Equatable, CustomStringConvertible {
    case emptyPrompt
    /// A token id outside 0..<vocabSize, at a flat position of the input.
    case tokenOutOfRange(token: Int, position: Int, vocabSize: Int)
    /// More tokens than the context holds: `cached` already in a key-value cache plus `given` new ones.
    case contextOverflow(cached: Int, given: Int, blockSize: Int)
    /// Tokens that are not an integer [batch, length] tensor with length at least 1.
    case invalidTokens(String)
    /// A cache made for another model, or holding another batch size.
    case cacheMismatch(String)
    case invalidSampling(String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .emptyPrompt:
            return "GPT: the prompt is empty; give at least one token"
        case let .tokenOutOfRange(token, position, vocabSize):
            return "GPT: token id \(token) at position \(position) is outside the vocabulary 0..<\(vocabSize)"
        case let .contextOverflow(cached, given, blockSize):
            return cached == 0
                ? "GPT: \(given) tokens exceed the context length (block_size) of \(blockSize)"
                : "GPT: \(given) new tokens after \(cached) cached ones exceed the context length (block_size) of \(blockSize)"
        case .invalidTokens(let detail), .cacheMismatch(let detail), .invalidSampling(let detail), .invalidArgument(let detail):
            return "GPT: \(detail)"
        }
    }
}
