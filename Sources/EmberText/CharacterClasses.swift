/// How Hugging Face's tokenizers classify characters; ids match only if these match too.
///
/// Their BERT normalizer and pre-tokenizer take categories from the `unicode_categories` crate,
/// whose tables are Unicode 8.0: a character assigned later is never punctuation, a mark or a
/// control character for them, and the few whose category has changed since keep the old one.
/// GPT-2's split pattern runs on Oniguruma, whose tables are Unicode 16.0. Swift's own tables
/// are newer, so each class is the current category limited by the character's age.
enum CharacterClasses {
    /// Rust's `char::is_whitespace` (White_Space), where BERT splits words.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace
    }

    /// What BERT's clean-up removes: control, format and private-use characters (Unicode 8.0),
    /// but not tab, newline and carriage return, which become spaces.
    static func isBertControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: return false
        case 0x20..<0x7F: return false
        default: break
        }
        switch scalar.properties.generalCategory {
        case .control, .format, .privateUse: return assigned(scalar, by: 8)
        default: return false
        }
    }

    /// BERT's punctuation: ASCII symbols and punctuation, and Unicode punctuation (P*, 8.0).
    static func isBertPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 33...47, 58...64, 91...96, 123...126: return true
        case 0..<0x80: return false
        // Punctuation in Unicode 8.0, a symbol and a mark now.
        case 0x166D, 0x111C9: return true
        default: break
        }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return assigned(scalar, by: 8)
        default:
            return false
        }
    }

    /// The nonspacing marks (Mn, Unicode 8.0) that BERT's accent stripping removes after NFD.
    static func isNonspacingMark(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0..<0x300: return false
        // Nonspacing marks in Unicode 8.0, spacing ones now.
        case 0x1734, 0x1171E: return true
        // Spacing marks, letters or punctuation in Unicode 8.0, nonspacing marks now.
        case 0x1885, 0x1886, 0xA9BD, 0x111C9: return false
        default: return scalar.properties.generalCategory == .nonspacingMark && assigned(scalar, by: 8)
        }
    }

    /// Characters that Hugging Face's NFD leaves whole although they decompose: its tables
    /// predate Unicode 13.0 (U+11938 DIVES AKURU VOWEL SIGN O is the first such). Only those that
    /// start a combining sequence are told apart, so that cutting the text at them cannot
    /// change how marks are ordered.
    static func isBeyondNormalizationTables(_ scalar: Unicode.Scalar) -> Bool {
        guard let age = scalar.properties.age, age.major >= 13 else { return false }
        return scalar.properties.canonicalCombiningClass == .notReordered
    }

    /// The blocks BERT treats as Chinese characters, each split off as a word.
    static func isChineseCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// `\p{L}` of GPT-2's pattern.
    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x41...0x5A, 0x61...0x7A: return true
        case 0..<0x80: return false
        default: break
        }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return assigned(scalar, by: 16)
        default:
            return false
        }
    }

    /// `\p{N}` of GPT-2's pattern.
    static func isNumber(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x30...0x39: return true
        case 0..<0x80: return false
        default: break
        }
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return assigned(scalar, by: 16)
        default: return false
        }
    }

    /// Rust regex's `\w`, which decides whether an added token stands as a single word.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        if properties.isAlphabetic || properties.isJoinControl { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    /// Whether the character was assigned in Unicode `major`.0 or earlier.
    private static func assigned(_ scalar: Unicode.Scalar, by major: Int) -> Bool {
        guard let age = scalar.properties.age else { return false }
        return age.major < major || (age.major == major && age.minor == 0)
    }
}
