// A pretrained BERT from a Hugging Face folder: all-MiniLM-L6-v2's sentence embeddings
// (the same as sentence-transformers'), and which sentences mean nearly the same.
//
//     scripts/fetch-minilm.sh     # prints the folder it fills
//     swift run -c release example-sentence-embeddings [folder]
import Ember
import EmberModels
import EmberText
import Foundation

let cache = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache"
let folder = URL(fileURLWithPath: CommandLine.arguments.dropFirst().first ?? cache + "/ember/all-MiniLM-L6-v2")

do {
    // The tokenizer alone: WordPiece ids with [CLS] and [SEP], as Hugging Face's.
    let tokenizer = try loadTokenizer(folder: folder)
    print(tokenizer.encode("Ember runs BERT.").tokens)

    // Tokenizer, BERT, mean pooling and normalization, as modules.json describes them.
    let embedder = try SentenceEmbedder(pretrained: folder)
    let sentences = ["A man is eating food.", "A man is eating a piece of bread.",
                     "The girl is carrying a baby.", "A woman is playing violin."]
    let embeddings = embedder.embed(sentences)                   // [4, 384], unit length
    let similarity = cosineSimilarity(embeddings, embeddings)
    for (i, sentence) in sentences.enumerated() {
        let scores = similarity[i].floats.map { String(format: "%.2f", $0) }.joined(separator: " ")
        print("\(scores)  \(sentence)")
    }

    // The encoder by itself, in Hugging Face's layout: last hidden states [batch, tokens, 384].
    let bert = try BERTModel(pretrained: folder)
    let batch = tokenizer.encode(batch: sentences).tensors()
    let hidden = noGrad { bert(inputIDs: batch.inputIDs, attentionMask: batch.attentionMask).lastHiddenState }
    print("last hidden state: \(hidden.shape)")
} catch {
    print("error: \(error)\nGet the model with scripts/fetch-minilm.sh, or pass its folder.")
}
