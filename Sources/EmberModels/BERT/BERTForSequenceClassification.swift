import Ember
import EmberNN

/// BERT with a classification head on the pooled output (Hugging Face's
/// `BertForSequenceClassification`: `bert.*`, `classifier.weight`, `classifier.bias`):
/// logits = classifier(dropout(pooled)), with `config.numLabels` classes.
///
/// As a `Layer` (for `fit` and `Sequential`), `forward` takes padded input ids alone and
/// masks the positions holding `config.padTokenID`.
public final class BERTForSequenceClassification: Module, Layer {
    public let bert: BERTModel
    public let dropout: Dropout
    public let classifier: Linear

    /// A model with fresh weights (see `BERTModel.init(config:addPoolingLayer:dtype:)`).
    public convenience init(config: BERTConfig, dtype: DType = .float32) {
        self.init(config: config, dtype: dtype, initialize: true)
    }

    /// `initialize: false` leaves the encoder's layers as constructed, for weights about to be loaded.
    init(config: BERTConfig, dtype: DType, initialize: Bool) {
        bert = BERTModel(config: config, addPoolingLayer: true, dtype: dtype, initialize: initialize)
        dropout = Dropout(probability: config.classifierDropout ?? config.hiddenDropoutProb)
        classifier = Linear(config.hiddenSize, config.numLabels, dtype: dtype)
        super.init()
        // The head is new even when the encoder's weights are about to be loaded.
        BERTModel.initializeLikeHuggingFace(classifier, std: config.initializerRange)
    }

    public var config: BERTConfig { bert.config }

    /// Logits [batch, numLabels] for `inputIDs` [batch, length]; the mask and token types are
    /// as in `BERTModel`.
    public func callAsFunction(inputIDs: Tensor, attentionMask: Tensor? = nil, tokenTypeIDs: Tensor? = nil) -> Tensor {
        recordingCall {
            let pooled = bert(inputIDs: inputIDs, attentionMask: attentionMask, tokenTypeIDs: tokenTypeIDs).poolerOutput!
            return classifier(dropout(pooled))
        }
    }

    /// Logits for padded input ids [batch, length], attending to every position that does not
    /// hold the padding token.
    public func forward(_ inputIDs: Tensor) -> Tensor {
        let mask = config.padTokenID.map { inputIDs .!= Double($0) }
        return self(inputIDs: inputIDs, attentionMask: mask)
    }
}
