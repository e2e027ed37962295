import Ember

/// A generated text classification dataset: short film reviews, negative or positive, whose
/// label depends on word order, not just on which words occur. A review is one or two
/// clauses ("the plot was really clever"); a clause can be negated ("was not clever",
/// "was never dull"), and two clauses are joined by "and" (both agree) or "but" (the second
/// decides: "the acting was weak but the ending was moving" is positive). Every adjective
/// appears in positive and negative reviews alike, so a bag of words cannot tell the labels
/// apart; sequence models can. Fillers, intensifiers, capitalisation and punctuation vary.
///
/// Example i is generated from (seed, i) on demand; labels alternate (i % 2), so the
/// classes are balanced.
public struct ReviewsDataset: Dataset {
    public static let classNames = ["negative", "positive"]

    public let count: Int
    public let seed: UInt64

    public init(count: Int, seed: UInt64 = 0) {
        precondition(count >= 0, "ReviewsDataset: count cannot be negative, got \(count)")
        self.count = count
        self.seed = seed
    }

    public var classNames: [String] { Self.classNames }

    public subscript(index: Int) -> (text: String, label: Int) {
        precondition(index >= 0 && index < count, "ReviewsDataset: index \(index) is out of range 0..<\(count)")
        var random = SeededRandom(Key(seed).fold(in: index))
        let positive = index % 2 == 1
        return (review(positive: positive, using: &random), positive ? 1 : 0)
    }

    private static let subjects = ["the film", "the movie", "this show", "the acting", "the plot", "the soundtrack", "the ending",
                                   "the cast", "the script", "the café scene", "the direction", "the dialogue"]
    private static let verbs = ["was", "is", "felt", "seemed"]
    private static let intensifiers = ["really", "very", "quite", "truly", "rather", "incredibly"]
    private static let good = ["good", "great", "wonderful", "brilliant", "enjoyable", "moving", "superb", "charming", "clever", "delightful"]
    private static let bad = ["bad", "awful", "boring", "dull", "terrible", "weak", "tedious", "clumsy", "bland", "naïve"]
    private static let negations = ["not", "never", "hardly", "not at all"]
    private static let openers = ["", "", "", "honestly, ", "to be fair, ", "i think ", "overall ", "well, "]
    private static let endings = [".", ".", "!", "", " overall.", "..."]

    private func review(positive: Bool, using random: inout SeededRandom) -> String {
        var text: String
        if random.bernoulli(0.5) {
            text = clause(positive: positive, using: &random)
        } else if random.bernoulli(0.5) {
            // "but": the first clause says the opposite, the second decides.
            text = clause(positive: !positive, using: &random) + ", but " + clause(positive: positive, using: &random)
        } else {
            text = clause(positive: positive, using: &random) + " and " + clause(positive: positive, using: &random)
        }
        text = pick(Self.openers, &random) + text + pick(Self.endings, &random)
        return random.bernoulli(0.3) ? text.prefix(1).uppercased() + text.dropFirst() : text
    }

    /// "the plot was (really) (not) clever": negated clauses use an adjective of the other polarity.
    private func clause(positive: Bool, using random: inout SeededRandom) -> String {
        let negated = random.bernoulli(0.4)
        let adjective = pick(positive != negated ? Self.good : Self.bad, &random)
        var words = [pick(Self.subjects, &random), pick(Self.verbs, &random)]
        if negated {
            let negation = pick(Self.negations, &random)
            words += negation == "not at all" ? ["not", adjective, "at all"] : [negation, adjective]
        } else {
            if random.bernoulli(0.4) { words.append(pick(Self.intensifiers, &random)) }
            words.append(adjective)
        }
        return words.joined(separator: " ")
    }

    private func pick(_ words: [String], _ random: inout SeededRandom) -> String {
        words[random.integer(below: words.count)]
    }
}
