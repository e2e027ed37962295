import XCTest
import Ember
@testable import EmberNN

/// Every EmberNN layer under compile, a compiled training step, vmap and jvp (see
/// ConformanceSupport.swift). A new layer joins with one line in `cases`;
/// `testEveryLayerHasACase` fails until it does.
final class LayerConformanceTests: XCTestCase {
    static let cases: [ConformanceCase] = [
        // Linear, convolution and pooling.
        .layer(.normal([5])) { Linear(5, 3, dtype: $0) },
        .layer(.normal([2, 5]), "no bias, rank 3") { Linear(5, 3, bias: false, dtype: $0) },
        .layer(.normal([3, 7])) { Conv1d(3, 4, kernelSize: 3, stride: 2, padding: 1, dtype: $0) },
        .layer(.normal([4, 6]), "same, dilated, grouped") { Conv1d(4, 4, kernelSize: 4, padding: .same, dilation: 2, groups: 2, dtype: $0) },
        .layer(.normal([2, 6, 5])) { Conv2d(2, 4, kernelSize: 3, stride: 2, padding: 1, dtype: $0) },
        .layer(.normal([4, 5, 6]), "same, even kernel, dilated, grouped") {
            Conv2d(4, 2, kernelSize: Size2D(2, 3), padding: .same, dilation: Size2D(2, 1), groups: 2, bias: false, dtype: $0)
        },
        .layer(.normal([4, 3, 4])) { ConvTranspose2d(4, 2, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1, groups: 2, dtype: $0) },
        .layer(.normal([2, 7, 6])) { _ in MaxPool2d(3, stride: 2, padding: 1, ceilMode: true) },
        .layer(.normal([2, 7, 6]), "dilated") { _ in MaxPool2d(2, stride: 1, dilation: 2) },
        .layer(.normal([2, 7, 6])) { _ in AvgPool2d(3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false) },
        .layer(.normal([2, 5, 7])) { _ in AdaptiveAvgPool2d(Size2D(3, 2)) },

        // Normalization: batch statistics and running statistics in training, running ones in evaluation.
        .layer(.normal([4])) { BatchNorm1d(4, dtype: $0) },
        .layer(.normal([4, 5]), "[N, C, L], cumulative average") { BatchNorm1d(4, momentum: nil, dtype: $0) },
        .layer(.normal([3, 4, 5])) { BatchNorm2d(3, dtype: $0) },
        .layer(.normal([3, 4, 5]), "no affine, no running statistics") {
            BatchNorm2d(3, affine: false, trackRunningStats: false, dtype: $0)
        },
        .layer(.normal([4, 6])) { LayerNorm(6, dtype: $0) },
        .layer(.normal([4, 6]), "two axes, no bias") { LayerNorm([4, 6], bias: false, dtype: $0) },
        .layer(.normal([6, 3, 2])) { GroupNorm(3, 6, dtype: $0) },

        // Dropout, embedding, activations and containers.
        .layer(.normal([5, 4])) { _ in Dropout(probability: 0.3) },
        .layer(.integers([5], below: 7)) { Embedding(7, 4, paddingIndex: 2, dtype: $0) },
        .layer(.normal([6])) { _ in ReLU() },
        .layer(.normal([6])) { _ in LeakyReLU(negativeSlope: 0.2) },
        .layer(.normal([6])) { _ in GELU() },
        .layer(.normal([6]), "tanh approximation") { _ in GELU(approximate: true) },
        .layer(.normal([6])) { _ in SiLU() },
        .layer(.normal([6])) { _ in Tanh() },
        .layer(.normal([6])) { _ in Sigmoid() },
        .layer(.normal([4, 3])) { _ in Softmax(axis: 1) },
        .layer(.normal([4, 3])) { _ in LogSoftmax() },
        .layer(.normal([2, 3, 2])) { _ in Flatten() },
        .layer(.normal([3])) { _ in Identity() },
        .layer(.normal([2, 5, 5])) {
            Sequential(Conv2d(2, 3, kernelSize: 3, dtype: $0), BatchNorm2d(3, dtype: $0), ReLU(), Dropout(probability: 0.2),
                       Flatten(), Linear(27, 2, dtype: $0))
        },

        // Attention and transformer layers.
        .module([.normal([5, 8]), .keyPaddingMask(length: 5)], "self-attention, causal, padded keys, dropout") {
            MultiHeadAttention(embedDim: 8, numHeads: 2, dropout: 0.2, batchFirst: true, dtype: $0)
        } forward: { attention, xs in
            let (output, weights) = attention(query: xs[0], key: xs[0], value: xs[0], keyPaddingMask: xs[1], isCausal: true,
                                              averageWeights: false)
            return [output, weights!]
        },
        .module([.normal([4, 8], batchAxis: 1), .normal([6, 8], batchAxis: 1), .normal([6, 8], batchAxis: 1)],
                "cross-attention, sequence first, attention mask") {
            MultiHeadAttention(embedDim: 8, numHeads: 4, dtype: $0)
        } forward: { attention, xs in
            let mask = Tensor.arange(6).unsqueezed(axis: 0) .> (Tensor.arange(4) + 2).unsqueezed(axis: 1)
            let (output, weights) = attention(query: xs[0], key: xs[1], value: xs[2], attentionMask: mask)
            return [output, weights!]
        },
        .layer(.normal([5, 8], batchAxis: 1), "post-norm, ReLU, sequence first") {
            TransformerEncoderLayer(dModel: 8, numHeads: 2, feedforward: 12, dropout: 0.2, dtype: $0)
        },
        .module([.normal([5, 8]), .keyPaddingMask(length: 5)], "pre-norm, GELU, causal, padded keys") {
            TransformerEncoderLayer(dModel: 8, numHeads: 2, feedforward: 12, dropout: 0.2, activation: .gelu, batchFirst: true,
                                    normFirst: true, dtype: $0)
        } forward: { layer, xs in [layer(xs[0], mask: nil, keyPaddingMask: xs[1], isCausal: true)] },
        .module([.normal([5, 8]), .keyPaddingMask(length: 5)], "two layers and a final norm") {
            TransformerEncoder(TransformerEncoderLayer(dModel: 8, numHeads: 2, feedforward: 12, dropout: 0.2, batchFirst: true,
                                                       dtype: $0),
                               numLayers: 2, norm: LayerNorm(8, dtype: $0))
        } forward: { encoder, xs in [encoder(xs[0], mask: nil, keyPaddingMask: xs[1])] },

        // Recurrent layers and cells.
        .module([.normal([5, 3], batchAxis: 1), .lengths(of: 5)], "two layers, bidirectional, packed lengths, dropout") {
            LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, dropout: 0.2, bidirectional: true, dtype: $0)
        } forward: { lstm, xs in
            let (output, state) = lstm(xs[0], lengths: xs[1])
            return [output, state.h, state.c]
        },
        .module([.normal([5, 3]), .normal([1, 4], batchAxis: 1), .normal([1, 4], batchAxis: 1)], "batch first, initial state") {
            LSTM(inputSize: 3, hiddenSize: 4, batchFirst: true, dtype: $0)
        } forward: { lstm, xs in
            let (output, state) = lstm(xs[0], state: (xs[1], xs[2]))
            return [output, state.h, state.c]
        },
        .module([.normal([5, 3]), .normal([4, 4], batchAxis: 1)], "two layers, bidirectional, batch first, initial state") {
            GRU(inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true, dropout: 0.2, bidirectional: true, dtype: $0)
        } forward: { gru, xs in
            let (output, hidden) = gru(xs[0], hidden: xs[1])
            return [output, hidden]
        },
        .module([.normal([3]), .normal([4]), .normal([4])]) { LSTMCell(inputSize: 3, hiddenSize: 4, dtype: $0) } forward: { cell, xs in
            let (h, c) = cell(xs[0], state: (xs[1], xs[2]))
            return [h, c]
        },
        .module([.normal([3])], "no bias, zero state") { LSTMCell(inputSize: 3, hiddenSize: 4, bias: false, dtype: $0) } forward: { cell, xs in
            let (h, c) = cell(xs[0])
            return [h, c]
        },
        .module([.normal([3]), .normal([4])]) { GRUCell(inputSize: 3, hiddenSize: 4, dtype: $0) } forward: { cell, xs in
            [cell(xs[0], hidden: xs[1])]
        },

        // Keras-style layers, and a functional model of two inputs with a shared layer.
        .layer(.normal([2, 5])) { Dense(3, activation: .softmax, inputFeatures: 5, dtype: $0) },
        .layer(.normal([5]), "no bias, no activation") { Dense(3, useBias: false, inputFeatures: 5, dtype: $0) },
        .layer(.normal([2, 4, 3])) { _ in GlobalMaxPooling2D() },
        .layer(.normal([2, 4, 3])) { _ in GlobalAveragePooling2D() },
        .layer(.normal([4, 3, 2])) { _ in ChannelsFirst() },
        .layer(.normal([5, 3])) { LastOutput(LSTM(inputSize: 3, hiddenSize: 4, batchFirst: true, dtype: $0)) },
        .module([.normal([3]), .normal([2])]) { _ in Concatenate() } forward: { layer, xs in [layer(xs)] },
        .module([.normal([3]), .normal([3])]) { _ in Add() } forward: { layer, xs in [layer(xs)] },
        // The fused attention primitive, which the layers above reach only for long sequences.
        .module([.normal([5, 8]), .normal([5, 8]), .normal([5, 8])], "fused attention, causal") { _ in Add() } forward: { _, xs in
            [scaledDotProductAttention(xs[0], xs[1], xs[2], isCausal: true, kernel: .fused)]
        },
        .module([.normal([4, 8]), .normal([6, 8]), .normal([6, 3]), .normal([4, 6])], "fused attention, additive mask") {
            _ in Add()
        } forward: { _, xs in [scaledDotProductAttention(xs[0], xs[1], xs[2], mask: xs[3], kernel: .fused)] },
        .module([.integers([5], below: 7), .normal([2, 6, 6])], "two inputs, a shared layer, two outputs") {
            FunctionalModelTests.textAndImageModel(vocabulary: 7, dtype: $0)
        } forward: { model, xs in model(xs) },
    ]

    func testCompiledForwardEqualsEager() { ConformanceCase.run(.compile, Self.cases) }
    func testCompiledTrainingStepEqualsEager() { ConformanceCase.run(.trainingStep, Self.cases) }
    func testVmappedPerExampleGradientsEqualALoop() { ConformanceCase.run(.perExampleGradients, Self.cases) }
    func testJVPMatchesFiniteDifferences() { ConformanceCase.run(.jvp, Self.cases) }

    /// Every public module class declared in Sources/EmberNN/Layers is the type of a case (or
    /// the superclass of one: `BatchNorm`, `RecurrentLayer`, `RecurrentCell`).
    func testEveryLayerHasACase() throws {
        let covered = Set(Self.cases.flatMap(\.typeNames))
        let declared = try declaredPublicModules(in: "Sources/EmberNN/Layers")
        XCTAssertTrue(declared.contains("Linear") && declared.contains("MultiHeadAttention"), "\(declared)")
        XCTAssertEqual(declared.subtracting(covered), [], "layers without a conformance case")
    }
}
