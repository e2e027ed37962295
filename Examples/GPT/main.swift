// A zoo model: a small GPT learns the built-in film reviews byte by byte, then writes new
// ones with nucleus sampling, streaming each token. (`ember train --model gpt` does the
// same from the command line, and `ember generate` samples from its checkpoint.)
//
//     swift run -c release example-gpt
import Ember
import EmberData
import EmberModels
import EmberNN
import EmberOptim
import Foundation

// The corpus: generated reviews, one per line, as UTF-8 bytes (ids 0-255).
let reviews = ReviewsDataset(count: 3000, seed: 0)
let corpus = Array((0..<reviews.count).map { reviews[$0].text }.joined(separator: "\n").utf8).map(Int64.init)

manualSeed(0)
let config = GPTConfig(vocabSize: 256, blockSize: 64, nLayer: 3, nHead: 4, nEmbd: 128, dropout: 0)
let model = GPT(config)
let optimizer = AdamW(model.parameters(), lr: 2e-3, weightDecay: 0.01)
print("GPT with \(model.parameterCount) parameters on \(corpus.count) bytes of reviews")

// Random windows of the corpus; the targets are the same bytes shifted by one.
var random = SeededRandom(seed: 1)
func batch(size: Int) -> (inputs: Tensor, targets: Tensor) {
    let starts = (0..<size).map { _ in random.integer(below: corpus.count - config.blockSize - 1) }
    let inputs = starts.flatMap { corpus[$0..<($0 + config.blockSize)] }
    let targets = starts.flatMap { corpus[($0 + 1)..<($0 + config.blockSize + 1)] }
    return (Tensor(inputs, shape: [size, config.blockSize]), Tensor(targets, shape: [size * config.blockSize]))
}

for step in 1...300 {
    let (inputs, targets) = batch(size: 32)
    let logits = model(inputs).reshaped(to: [-1, config.vocabSize])
    let loss = crossEntropy(logits: logits, labels: targets)
    optimizer.zeroGrad()
    loss.backward()
    optimizer.step()
    if step % 50 == 0 { print("step \(step): loss \(loss.item())") }
}

// Generation reads the prompt once into a key-value cache, then costs one step per token.
let prompt = "the plot was"
print("\n" + prompt, terminator: "")
var pending: [UInt8] = []
_ = try model.generate(prompt: Array(prompt.utf8).map(Int.init), maxNewTokens: 200,
                       sampling: try Sampling(temperature: 0.8, topP: 0.9), seed: 7) { token in
    // Print whole UTF-8 characters as soon as their last byte arrives.
    pending.append(UInt8(token))
    if let text = String(validating: pending, as: UTF8.self) {
        print(text, terminator: "")
        pending.removeAll()
        fflush(stdout)
    }
}
print()
