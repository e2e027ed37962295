import Ember

extension GPT {
    /// Continues `prompt` by up to `maxNewTokens` tokens and returns them (not the prompt),
    /// calling `onToken` with each as soon as it is chosen. Stops early after `stopToken`
    /// (which is returned and streamed too). Runs in evaluation mode without gradients, then
    /// restores the mode. The same prompt, sampling and `seed` give the same tokens.
    ///
    /// The prompt is read once into a key-value cache, then each new token costs one step.
    /// Once the text outgrows the context (block_size), each step reads the last block_size
    /// tokens afresh, as nanoGPT's `generate` does: positions shift, so cached keys cannot be
    /// reused.
    ///
    /// Throws `GPTError` for an empty prompt, token ids outside the vocabulary, a prompt longer
    /// than the context, or a negative `maxNewTokens`.
    public func generate(prompt: [Int], maxNewTokens: Int, sampling: Sampling = .greedy, seed: UInt64 = 0,
                         stopToken: Int? = nil, onToken: (Int) -> Void = { _ in }) throws -> [Int] {
        guard !prompt.isEmpty else { throw GPTError.emptyPrompt }
        guard maxNewTokens >= 0 else { throw GPTError.invalidArgument("maxNewTokens must not be negative, found \(maxNewTokens)") }
        if let stopToken, !(0..<config.vocabSize).contains(stopToken) {
            throw GPTError.invalidArgument("the stop token \(stopToken) is outside the vocabulary 0..<\(config.vocabSize)")
        }
        if prompt.count > config.blockSize {
            throw GPTError.contextOverflow(cached: 0, given: prompt.count, blockSize: config.blockSize)
        }
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        return try noGrad {
            let generator = Generator(seed: seed)
            let cache = makeCache()
            var context = prompt
            var next = try lastLogits(context, cache: cache)
            var generated = [Int]()
            while generated.count < maxNewTokens {
                let token = sampling.nextToken(next, generator: generator)
                generated.append(token)
                onToken(token)
                if token == stopToken || generated.count == maxNewTokens { break }
                context.append(token)
                if cache.length < config.blockSize {
                    next = try lastLogits([token], cache: cache)
                } else {
                    cache.reset()
                    next = try lastLogits(Array(context.suffix(config.blockSize)), cache: cache)
                }
            }
            return generated
        }
    }

    /// The logits of the last of `tokens` (one sequence) after the cache's, as Doubles.
    private func lastLogits(_ tokens: [Int], cache: KVCache) throws -> [Double] {
        let logits = try self.logits(Tensor(tokens.map(Int64.init), shape: [1, tokens.count]), cache: cache)
        return logits[0, tokens.count - 1].doubles
    }
}
