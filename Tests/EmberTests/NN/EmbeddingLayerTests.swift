import XCTest
import Ember
@testable import EmberNN

/// Embedding against PyTorch's (Fixtures/generate_layers.py): lookups of any index shape,
/// gradients that skip the padding row, and the default N(0, 1) table.
final class EmbeddingLayerTests: XCTestCase {
    func testAgainstPyTorch() throws {
        let fixtures = try Fixtures("layers")
        let embedding = Embedding(10, 4, dtype: .float64)
        fixtures.checkModule("embedding", embedding, inputs: 1) { embedding($0[0]) }
        // The stored padding row (non-zero here) is read, but its gradient stays zero.
        let padded = Embedding(10, 3, paddingIndex: 2, dtype: .float64)
        fixtures.checkModule("embedding_padding", padded, inputs: 1) { padded($0[0]) }
        XCTAssertEqual(padded.weight.grad![2].doubles, [0, 0, 0])
        let negative = Embedding(6, 2, paddingIndex: -1, dtype: .float64)
        XCTAssertEqual(negative.paddingIndex, 5)
        fixtures.checkModule("embedding_negative_padding", negative, inputs: 1) { negative($0[0]) }
    }

    func testFloat32AndInt32Indices() throws {
        let fixtures = try Fixtures("layers")
        let padded = Embedding(10, 3, paddingIndex: 2)
        fixtures.checkModule("embedding_padding", padded, inputs: 1, atol: 1e-6, rtol: 1e-6) { padded($0[0].cast(to: .int32)) }
        XCTAssertEqual(padded.weight.grad!.dtype, .float32)
    }

    func testDefaultInitializationIsStandardNormalWithZeroPaddingRow() {
        manualSeed(3)
        let embedding = Embedding(1000, 64, paddingIndex: 7)
        XCTAssertEqual(embedding.stateKeys(), ["weight"])
        XCTAssertEqual(embedding.weight[7].floats, [Float](repeating: 0, count: 64))
        let values = embedding.weight.doubles
        let mean = values.reduce(0, +) / Double(values.count)
        let std = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)).squareRoot()
        // 64,000 draws: standard errors of 0.004 (mean) and 0.003 (std).
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        XCTAssertEqual(std, 1, accuracy: 0.02)
    }

    func testIndicesOfAnyShapeWithoutGradientRecording() {
        let embedding = Embedding(5, 2)
        let indices = Tensor([4, 0, 3, 1, 1, 2] as [Int64], shape: [1, 3, 2])
        let y = noGrad { embedding(indices) }
        XCTAssertEqual(y.shape, [1, 3, 2, 2])
        XCTAssertEqual(y[0, 2, 1].floats, embedding.weight[2].floats)
        XCTAssertEqual(embedding(Tensor([3] as [Int64], shape: [])).shape, [2])
    }
}
