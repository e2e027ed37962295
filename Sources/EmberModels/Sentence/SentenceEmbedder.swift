import Ember
import EmberIO
import EmberText
import Foundation

/// Text → sentence embeddings, as sentence-transformers' `SentenceTransformer.encode`: the
/// tokenizer and the `SentenceEmbeddingModel` of a sentence-transformers folder.
///
///     let embedder = try SentenceEmbedder(pretrained: folder)     // e.g. all-MiniLM-L6-v2
///     let vectors = embedder.embed(["A man is eating food.", "A man eats bread."])
///     print(cosineSimilarity(vectors, vectors))
public final class SentenceEmbedder {
    public let model: SentenceEmbeddingModel
    public let tokenizer: any Tokenizer

    public init(model: SentenceEmbeddingModel, tokenizer: any Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Loads a sentence-transformers folder: the model (see `SentenceEmbeddingModel`) and the
    /// tokenizer files beside the transformer's weights (`tokenizer.json` or `vocab.txt`).
    /// The folder's files and the tokenizer are checked before any weight is read.
    public convenience init(pretrained url: URL, dtype: DType = .float32) throws {
        let folder = try SentenceTransformersFolder(url)
        let tokenizer = try loadTokenizer(folder: folder.transformerFolder)
        // An id past the word embeddings would read outside them.
        let vocabSize = folder.config.vocabSize
        guard tokenizer.vocabularySize <= vocabSize else {
            throw FileError(.huggingFaceModel, path: url.path, problem: "the tokenizer gives ids up to \(tokenizer.vocabularySize - 1), "
                            + "but the model's vocab_size is \(vocabSize) (ids 0..<\(vocabSize))")
        }
        try self.init(model: SentenceEmbeddingModel(pretrained: folder, dtype: dtype), tokenizer: tokenizer)
    }

    /// The size of an embedding.
    public var dimension: Int { model.dimension }

    /// The token ids, masks and types of `sentences` as the model reads them: lowercased when
    /// the model asks for it, truncated at `maxSequenceLength` tokens (special tokens included),
    /// and padded as `padding` says.
    public func tokenize(_ sentences: [String], padding: EmberText.Padding = .longest) -> BatchEncoding {
        tokenizer.encode(batch: model.lowercases ? sentences.map { $0.lowercased() } : sentences, padding: padding,
                         maxLength: model.maxSequenceLength)
    }

    /// Embeddings [sentences.count, dimension] in the order given, float32 (or the model's
    /// dtype). Like sentence-transformers, sentences are embedded in batches of `batchSize`
    /// sorted by length, so that little padding is computed, and the model is put in
    /// evaluation mode.
    public func embed(_ sentences: [String], batchSize: Int = 32) -> Tensor {
        precondition(batchSize > 0, "SentenceEmbedder.embed: batchSize must be positive, got \(batchSize)")
        model.eval()
        let dtype = model.transformer.embeddings.wordEmbeddings.weight.dtype
        guard !sentences.isEmpty else { return Tensor.zeros([0, dimension], dtype: dtype) }
        let encodings = tokenize(sentences, padding: .none).encodings
        // Longest first, as sentence-transformers: the first batch shows the peak memory at once.
        let order = encodings.indices.sorted { (encodings[$0].ids.count, $1) > (encodings[$1].ids.count, $0) }
        var embeddings = [Tensor]()
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let rows = order[start..<min(start + batchSize, order.count)].map { encodings[$0] }
            let (ids, mask) = padded(rows)
            embeddings.append(model.inference(inputIDs: ids, attentionMask: mask))
        }
        // Back to the caller's order: row i of the result is sentence i.
        var position = [Int](repeating: 0, count: order.count)
        for (sorted, original) in order.enumerated() { position[original] = sorted }
        return Tensor.concatenate(embeddings, axis: 0).indexSelect(axis: 0, index: Tensor(position.map(Int64.init), shape: [position.count]))
    }

    /// The cosine similarity of every sentence of `a` with every sentence of `b`: [a.count, b.count].
    public func similarity(_ a: [String], _ b: [String], batchSize: Int = 32) -> Tensor {
        cosineSimilarity(embed(a, batchSize: batchSize), embed(b, batchSize: batchSize))
    }

    /// `[rows, length]` int64 ids and mask, padded on the right as the tokenizer pads, to the
    /// longest row rounded up to a multiple of 8 (at most `maxSequenceLength`): the compiled
    /// forward pass is traced once per shape, so few lengths means few traces. Padding is
    /// masked, so it does not change the embeddings.
    private func padded(_ rows: [Encoding]) -> (ids: Tensor, mask: Tensor) {
        let longest = rows.map(\.ids.count).max() ?? 0
        let length = min((longest + 7) / 8 * 8, max(longest, model.maxSequenceLength))
        var ids = [Int64](), mask = [Int64]()
        for row in rows {
            let missing = length - row.ids.count
            ids += row.ids.map(Int64.init) + repeatElement(Int64(tokenizer.paddingID), count: missing)
            mask += row.attentionMask.map(Int64.init) + repeatElement(0, count: missing)
        }
        let shape = [rows.count, length]
        return (Tensor(ids, shape: shape), Tensor(mask, shape: shape))
    }
}
