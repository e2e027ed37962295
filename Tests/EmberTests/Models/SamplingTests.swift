import XCTest
import Ember
@testable import EmberModels

/// Token sampling: the filtering against Hugging Face's warpers (Fixtures/generate_zoo.py,
/// warp_* cases: rows of 13 logits), and the draws: reproducible for a seed, never a filtered
/// token, with the filtered distribution's frequencies.
final class SamplingTests: XCTestCase {
    private func checkWarpers(_ name: String, _ sampling: Sampling, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixtures = try Zoo.load()
        let logits = fixtures.tensor(name, "logits"), expected = fixtures.tensor(name, "processed")
        for row in 0..<logits.shape[0] {
            // The reference runs in float64; the sort, softmax and sums agree to rounding.
            assertClose(Tensor(sampling.processedLogits(logits[row].doubles)), expected[row], atol: 1e-12, rtol: 1e-12,
                        "\(name) row \(row)", file: file, line: line)
        }
    }

    /// The last row has ties: every logit equal to the k-th largest stays, as in Hugging Face.
    func testTopKMatchesHuggingFace() throws {
        try checkWarpers("warp_top_k", try Sampling(topK: 4))
        try checkWarpers("warp_top_k_above_vocabulary", try Sampling(topK: 20))
    }

    func testTopPMatchesHuggingFace() throws {
        try checkWarpers("warp_top_p", try Sampling(topP: 0.7))
        // p = 0 keeps the most likely token alone.
        try checkWarpers("warp_top_p_zero", try Sampling(topP: 0))
        // Tokens whose mass is exactly 1 - p go; among equal logits, lower ids first.
        try checkWarpers("warp_top_p_exact_mass", try Sampling(topP: 0.5))
    }

    /// Temperature, then top-k, then top-p, as Hugging Face's generate orders them.
    func testCombinedWarpersMatchHuggingFace() throws {
        try checkWarpers("warp_temperature_top_p", try Sampling(temperature: 1.5, topP: 0.95))
        try checkWarpers("warp_temperature_top_k_top_p", try Sampling(temperature: 0.7, topK: 5, topP: 0.8))
    }

    func testGreedyTakesTheFirstLargestLogit() {
        let generator = Generator(seed: 0)
        XCTAssertEqual(Sampling.greedy.nextToken([0.5, 2, -1, 2], generator: generator), 1)
        XCTAssertEqual(Sampling.greedy.probabilities([0.5, 2, -1, 2]), [0, 1, 0, 0])
        XCTAssertEqual(Sampling.greedy.processedLogits([0.5, 2]), [0.5, 2])
    }

    /// 4,000 draws: only kept tokens, each within 5 standard deviations of its probability,
    /// and the same draws again for the same seed.
    func testDrawsFollowTheFilteredDistribution() throws {
        let logits = try Zoo.load().tensor("warp_temperature_top_k_top_p", "logits")[0].doubles
        let sampling = try Sampling(temperature: 0.7, topK: 5, topP: 0.8)
        let probabilities = sampling.probabilities(logits)
        let kept = Set(probabilities.indices.filter { probabilities[$0] > 0 })
        XCTAssertGreaterThan(kept.count, 1, "the case should leave a choice")
        XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-12)

        let draws = 4000
        let generator = Generator(seed: 21)
        let tokens = (0..<draws).map { _ in sampling.nextToken(logits, generator: generator) }
        XCTAssert(tokens.allSatisfy(kept.contains), "drew a filtered token")
        for (token, p) in probabilities.enumerated() {
            let frequency = Double(tokens.filter { $0 == token }.count) / Double(draws)
            XCTAssertEqual(frequency, p, accuracy: 5 * (p * (1 - p) / Double(draws)).squareRoot() + 1e-9, "token \(token)")
        }

        let again = Generator(seed: 21)
        XCTAssertEqual((0..<200).map { _ in sampling.nextToken(logits, generator: again) }, Array(tokens.prefix(200)))
        let other = Generator(seed: 22)
        XCTAssertNotEqual((0..<200).map { _ in sampling.nextToken(logits, generator: other) }, Array(tokens.prefix(200)))
    }
}
