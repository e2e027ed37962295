import ArgumentParser
import Ember
import EmberRuns
import EmberModels
import Foundation

/// `ember generate`: continues a prompt with a GPT trained by `ember train --model gpt`,
/// printing the text as the tokens are chosen.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt with a GPT checkpoint of an ember train run, streaming the text.",
        discussion: """
        RUN is a run directory of ember train --model gpt (its best checkpoint, else the last) \
        or a checkpoint file in one. Sampling applies temperature, then top-k, then top-p, as \
        Hugging Face's generate does; --greedy picks the most likely token each step.
        """)

    @Argument(help: ArgumentHelp("A run directory written by ember train --model gpt, or a checkpoint file in it.", valueName: "run"))
    var runPath: String
    @Option(help: "The text to continue.") var prompt: String
    @Option(parsing: .unconditional, help: "Tokens to generate at most.") var maxNewTokens = 200
    @Option(parsing: .unconditional, help: "Divide the logits by this before sampling (lower: more conservative). [default: 1]")
    var temperature: Double?
    @Option(parsing: .unconditional, help: "Sample among the k most likely tokens only.") var topK: Int?
    @Option(parsing: .unconditional, help: "Sample among the most likely tokens whose probabilities add up to p (nucleus sampling).") var topP: Double?
    @Flag(help: "Always take the most likely token (no sampling).") var greedy = false
    @Option(help: ArgumentHelp(inferencePrecisionHelp)) var precision = "fp32"
    @Option(parsing: .unconditional, help: "Random seed for sampling.", transform: parseSeed) var seed: UInt64 = 0

    func run() throws {
        let sampling = try self.sampling()
        let mode = try inferencePrecision(precision)
        guard maxNewTokens >= 0 else { throw CommandError("--max-new-tokens must not be negative, got \(maxNewTokens)") }
        guard !prompt.isEmpty else { throw CommandError("the prompt is empty: give some text to continue") }
        let saved = try SavedRun(path: runPath)
        guard let gpt = saved.model as? GPT, case .tokens(let folder, let vocabularySize, _, _) = saved.card.input else {
            throw CommandError("\(runPath) holds a '\(saved.card.model)' model; ember generate continues text with a gpt run")
        }
        let tokenizer = try TextTokenizer(folder: folder, fitting: vocabularySize)
        var promptIDs = tokenizer.encode(prompt, maxLength: nil, specialTokens: false)
        guard !promptIDs.isEmpty else { throw CommandError("the prompt has no tokens: give some text to continue") }
        let context = gpt.config.blockSize
        if promptIDs.count > context {
            FileHandle.standardError.write(Data("note: the prompt has \(promptIDs.count) tokens; the model reads its last \(context)\n".utf8))
            promptIDs = Array(promptIDs.suffix(context))
        }

        // The text so far is decoded anew after each token and only what is new is printed,
        // so a character spread over several tokens appears once it is whole.
        print(prompt, terminator: "")
        var generated: [Int] = [], shown = ""
        _ = try mode.run { try gpt.generate(prompt: promptIDs, maxNewTokens: maxNewTokens, sampling: sampling, seed: seed) { token in
            generated.append(token)
            let text = tokenizer.decode(generated)
            guard !text.hasSuffix("\u{FFFD}") else { return }
            if text.hasPrefix(shown) { print(text.dropFirst(shown.count), terminator: "") }
            shown = text
            fflush(stdout)
        } }
        let text = tokenizer.decode(generated)
        if text.hasPrefix(shown) { print(text.dropFirst(shown.count), terminator: "") }
        print()
    }

    /// The sampling the options ask for, checked here so that errors name the options.
    func sampling() throws -> Sampling {
        if greedy {
            guard temperature == nil && topK == nil && topP == nil else {
                throw CommandError("--greedy takes the most likely token: drop --temperature, --top-k and --top-p, or drop --greedy to sample")
            }
            return .greedy
        }
        let temperature = temperature ?? 1
        guard temperature > 0 && temperature.isFinite else {
            throw CommandError("--temperature must be a positive number, got \(temperature) (--greedy takes the most likely token)")
        }
        if let topK, topK < 1 { throw CommandError("--top-k must be at least 1, got \(topK)") }
        if let topP, !(0...1).contains(topP) { throw CommandError("--top-p must be in [0, 1], got \(topP)") }
        return try Sampling(temperature: temperature, topK: topK, topP: topP)
    }
}
