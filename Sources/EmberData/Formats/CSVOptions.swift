/// How to read a CSV file.
public struct CSVOptions: Sendable {
    /// Whether the first record names the columns.
    public enum Header: Sendable {
        /// A header when some field of the first record is not a number where the second
        /// record's field in that column is.
        case detect
        case present
        case absent
    }

    /// One ASCII character.
    public var delimiter: Character
    public var header: Header
    public var standardization: Standardization
    /// The classes of a classification file's labels, in order (say, the training file's
    /// `classNames` for its test file); nil to take them from the file itself: non-negative
    /// integer labels are class ids ("0", "1", ... up to the largest), other labels are
    /// numbered in sorted order.
    public var classNames: [String]?

    public init(delimiter: Character = ",", header: Header = .detect, standardization: Standardization = .none,
                classNames: [String]? = nil) {
        precondition(delimiter.isASCII && delimiter != "\"" && !delimiter.isNewline, "CSVOptions: the delimiter must be one ASCII character other than a quote or a line break, got \(delimiter)")
        self.delimiter = delimiter
        self.header = header
        self.standardization = standardization
        self.classNames = classNames
    }
}

/// A column of a CSV file: by its header name, or by its index counted from 0, or the
/// column of that name when the header has one and the last column otherwise.
public enum CSVColumn: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case name(String)
    case index(Int)
    case nameOrLast(String)

    public init(stringLiteral name: String) { self = .name(name) }
    public init(integerLiteral index: Int) { self = .index(index) }
}
