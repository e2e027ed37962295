import EmberData
import XCTest

/// The generated reviews: deterministic, balanced, and not separable by word counts alone.
final class ReviewsDatasetTests: XCTestCase {
    func testSameSeedSameReviewsAndBalancedLabels() {
        let a = ReviewsDataset(count: 100, seed: 4), b = ReviewsDataset(count: 100, seed: 4)
        XCTAssertEqual((0..<100).map { a[$0].text }, (0..<100).map { b[$0].text })
        XCTAssertNotEqual(a[0].text, ReviewsDataset(count: 1, seed: 5)[0].text)
        XCTAssertEqual((0..<100).filter { a[$0].label == 1 }.count, 50)
    }

    /// Every adjective occurs under both labels: which words occur does not give the label.
    func testAdjectivesAppearUnderBothLabels() {
        let data = ReviewsDataset(count: 4000)
        var labelsOfWord: [String: Set<Int>] = [:]
        for i in 0..<data.count {
            for word in data[i].text.lowercased().split(whereSeparator: { !$0.isLetter }) {
                labelsOfWord[String(word), default: []].insert(data[i].label)
            }
        }
        for adjective in ["good", "brilliant", "awful", "naïve", "dull"] {
            XCTAssertEqual(labelsOfWord[adjective], [0, 1], adjective)
        }
    }

    func testNegationAndButDecideTheLabel() {
        let data = ReviewsDataset(count: 2000, seed: 1)
        for i in 0..<data.count {
            let text = data[i].text.lowercased()
            guard !text.contains(" but "), !text.contains(" and ") else { continue }
            let negated = ["not", "never", "hardly"].contains { text.split(separator: " ").contains(Substring($0)) }
            let positiveWord = ["good", "great", "wonderful", "brilliant", "enjoyable", "moving", "superb", "charming", "clever", "delightful"]
                .contains { text.contains($0) }
            XCTAssertEqual(data[i].label == 1, positiveWord != negated, text)
        }
    }
}
