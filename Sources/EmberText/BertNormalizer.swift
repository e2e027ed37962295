import Foundation

/// Hugging Face's `BertNormalizer`: clean-up, spaces around Chinese characters, accent stripping
/// and lower-casing, in that order.
struct BertNormalizer: Sendable, Equatable {
    /// Drops NUL, U+FFFD and control characters; turns every whitespace into a space.
    var cleanText = true
    /// Surrounds each CJK ideograph with spaces, so that it becomes a word of its own.
    var handleChineseCharacters = true
    /// Decomposes (NFD) and drops nonspacing marks: "café" → "cafe".
    var stripAccents = true
    var lowercase = true

    func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var scalars = text
        if cleanText { scalars = clean(scalars) }
        if handleChineseCharacters { scalars = spaceChineseCharacters(scalars) }
        if stripAccents { scalars = removeAccents(scalars) }
        if lowercase { scalars = lowercased(scalars) }
        return scalars
    }

    private func clean(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out = [Unicode.Scalar]()
        out.reserveCapacity(scalars.count)
        for scalar in scalars where scalar.value != 0 && scalar.value != 0xFFFD && !CharacterClasses.isBertControl(scalar) {
            out.append(CharacterClasses.isWhitespace(scalar) ? " " : scalar)
        }
        return out
    }

    private func spaceChineseCharacters(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard scalars.contains(where: CharacterClasses.isChineseCharacter) else { return scalars }
        var out = [Unicode.Scalar]()
        out.reserveCapacity(scalars.count * 2)
        for scalar in scalars {
            if CharacterClasses.isChineseCharacter(scalar) {
                out += [" ", scalar, " "]
            } else {
                out.append(scalar)
            }
        }
        return out
    }

    private func removeAccents(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        // Nothing below U+00C0 decomposes or is a mark: ASCII text skips the NFD pass.
        guard scalars.contains(where: { $0.value >= 0xC0 }) else { return scalars }
        var out = [Unicode.Scalar]()
        out.reserveCapacity(scalars.count)
        var run = String.UnicodeScalarView()
        func decomposeRun() {
            out += String(run).decomposedStringWithCanonicalMapping.unicodeScalars.filter { !CharacterClasses.isNonspacingMark($0) }
            run = String.UnicodeScalarView()
        }
        for scalar in scalars {
            if CharacterClasses.isBeyondNormalizationTables(scalar) {
                decomposeRun()
                out.append(scalar)
            } else {
                run.append(scalar)
            }
        }
        decomposeRun()
        return out
    }

    private func lowercased(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out = [Unicode.Scalar]()
        out.reserveCapacity(scalars.count)
        for scalar in scalars {
            if scalar.isASCII {
                out.append(scalar.value >= 0x41 && scalar.value <= 0x5A ? Unicode.Scalar(UInt8(scalar.value) + 32) : scalar)
            } else if scalar.properties.changesWhenLowercased {
                // The full mapping, one character at a time as Rust's `char::to_lowercase`: "İ" → "i̇".
                out += scalar.properties.lowercaseMapping.unicodeScalars
            } else {
                out.append(scalar)
            }
        }
        return out
    }
}
