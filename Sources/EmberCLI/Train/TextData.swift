import Ember
import EmberData
import Foundation

/// Token id sequences with a class each, for text classifiers.
struct LabelledSequences: Dataset {
    let sequences: [[Int]]
    let labels: [Int]
    var count: Int { sequences.count }
    subscript(index: Int) -> (ids: [Int], label: Int) { (sequences[index], labels[index]) }
}

/// Windows of a token stream with the stream shifted by one as targets, for language models.
struct NextTokenWindows: Dataset {
    let stream: [Int]
    let length: Int
    /// Windows start every `length` tokens; the last one still has its next token.
    var count: Int { max(0, (stream.count - 1) / length) }
    subscript(index: Int) -> (ids: [Int], targets: [Int]) {
        let start = index * length
        return (Array(stream[start..<(start + length)]), Array(stream[(start + 1)..<(start + length + 1)]))
    }
}
