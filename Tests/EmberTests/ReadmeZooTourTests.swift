import XCTest
import Ember
import EmberModels
import EmberNN
import EmberText
import Foundation

/// The README's tour of the zoo and pretrained models, verbatim. The pretrained part needs
/// all-MiniLM-L6-v2 in ~/.cache/ember (scripts/fetch-minilm.sh, which scripts/test.sh runs).
final class ReadmeZooTourTests: XCTestCase {
    func testTour() throws {
        let resnet = ResNet.resnet50()                                   // torchvision's layout and keys
        print(resnet.summary(input: Tensor.zeros([1, 3, 224, 224])))     // with FLOPs per example

        let gpt = GPT(GPTConfig(vocabSize: 256, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 64))
        let sampling = try Sampling(temperature: 0.8, topK: 40, topP: 0.95)
        let newTokens = try gpt.generate(prompt: Array("the plot".utf8).map(Int.init), maxNewTokens: 16,
                                         sampling: sampling, seed: 1) { token in print(token, terminator: " ") }
        XCTAssertEqual(newTokens.count, 16)

        // A Hugging Face folder: config.json, model.safetensors (or a sharded index), tokenizer.json
        // or vocab.txt; for sentence-transformers also modules.json and the pooling config.
        let folder = URL(fileURLWithPath: NSHomeDirectory() + "/.cache/ember/all-MiniLM-L6-v2")  // scripts/fetch-minilm.sh
        try XCTSkipUnless(FileManager.default.fileExists(atPath: folder.appendingPathComponent("model.safetensors").path),
                          "all-MiniLM-L6-v2 is not in \(folder.path): run scripts/fetch-minilm.sh")
        let embedder = try SentenceEmbedder(pretrained: folder)          // all-MiniLM-L6-v2
        let embeddings = embedder.embed(["A man is eating food.", "A man is eating bread."])   // [2, 384]
        print(cosineSimilarity(embeddings, embeddings))

        let tokenizer = try loadTokenizer(folder: folder)               // WordPiece, as Hugging Face's
        let batch = tokenizer.encode(batch: ["Hello, world!", "Ember reads BERT."]).tensors()
        let bert = try BERTModel(pretrained: folder)
        let hidden = bert(inputIDs: batch.inputIDs, attentionMask: batch.attentionMask).lastHiddenState
        XCTAssertEqual(embeddings.shape, [2, 384])
        XCTAssertEqual(hidden.shape, [2, batch.inputIDs.shape[1], 384])
    }
}
