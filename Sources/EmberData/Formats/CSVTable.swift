import EmberIO
import Foundation

/// A CSV file parsed into records of equal length, with its column names, for the CSV
/// datasets to pick feature and target columns from. Errors name the file, line and column.
struct CSVTable {
    let source: String
    /// Header names, or `column 1`, `column 2`, ... without a header.
    let columnNames: [String]
    let rows: [CSVRecord]

    init(contentsOf url: URL, options: CSVOptions) throws(FileError) {
        source = url.path
        var records = try CSVParser.records(DataFile.contents(of: url, format: .csv), delimiter: options.delimiter.asciiValue!, source: url.path)
        guard let first = records.first else { throw FileError(.csv, path: url.path, problem: "the file is empty: no records") }
        for record in records where record.fields.count != first.fields.count {
            throw FileError(.csv, path: url.path, problem: "line \(record.line): ragged row with \(record.fields.count) fields, line \(first.line) has \(first.fields.count)")
        }
        let hasHeader: Bool
        switch options.header {
        case .present: hasHeader = true
        case .absent: hasHeader = false
        case .detect:
            let second = records.dropFirst().first?.fields ?? []
            hasHeader = first.fields.indices.contains { column in
                Self.number(first.fields[column]) == nil && (second.isEmpty || Self.number(second[column]) != nil)
            }
        }
        if hasHeader {
            columnNames = first.fields.map { $0.trimmingCharacters(in: .whitespaces) }
            records.removeFirst()
        } else {
            columnNames = (1...first.fields.count).map { "column \($0)" }
        }
        guard !records.isEmpty else { throw FileError(.csv, path: url.path, problem: "the file is empty: a header and no data rows") }
        rows = records
    }

    /// The index of `column`, or an error listing the columns there are.
    func index(of column: CSVColumn) throws(FileError) -> Int {
        switch column {
        case .index(let index):
            guard columnNames.indices.contains(index) else {
                throw FileError(.csv, path: source, problem: "missing column: index \(index) is out of range, the file has \(columnNames.count) columns")
            }
            return index
        case .name(let name):
            guard let index = columnNames.firstIndex(of: name) else {
                throw FileError(.csv, path: source, problem: "missing column \"\(name)\": the columns are \(columnNames.map { "\"\($0)\"" }.joined(separator: ", "))")
            }
            return index
        case .nameOrLast(let name):
            return columnNames.firstIndex(of: name) ?? columnNames.count - 1
        }
    }

    /// The values of `columns`, row after row, as Floats.
    func numbers(columns: [Int]) throws(FileError) -> [Float] {
        var values = [Float]()
        values.reserveCapacity(rows.count * columns.count)
        for row in rows {
            for column in columns {
                guard let value = Self.number(row.fields[column]) else { throw fail(row, column, "is not a number") }
                // NaN and infinity would poison the standardization and every weight they touch.
                guard value.isFinite else { throw fail(row, column, "is not a finite number") }
                values.append(value)
            }
        }
        return values
    }

    /// The class of each row from its `column`: with `classNames`, the index of the row's
    /// label among them; otherwise, when all labels are non-negative integers, the integers
    /// (class names "0", "1", ... up to the largest), else each distinct label is a class,
    /// numbered in sorted order.
    func labels(column: Int, classNames given: [String]?) throws(FileError) -> (classNames: [String], labels: [Int]) {
        let texts = rows.map { $0.fields[column].trimmingCharacters(in: .whitespaces) }
        if let empty = texts.firstIndex(where: \.isEmpty) { throw fail(rows[empty], column, "is not a label") }
        if let given {
            let ids = Dictionary(given.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
            var labels = [Int]()
            for (row, text) in zip(rows, texts) {
                guard let id = ids[text] else {
                    throw fail(row, column, "is not one of the \(given.count) classes (\(given.prefix(10).joined(separator: ", "))\(given.count > 10 ? ", ..." : ""))")
                }
                labels.append(id)
            }
            return (given, labels)
        }
        let integers = texts.compactMap { Int($0) }
        if integers.count == texts.count {
            if let negative = integers.firstIndex(where: { $0 < 0 }) {
                throw fail(rows[negative], column, "is a negative label: integer labels are class ids 0, 1, ...")
            }
            // Every id up to the largest is a class: a stray huge id would ask for billions (found by fuzzing).
            if let huge = integers.firstIndex(where: { $0 >= Self.maximumClasses }) {
                throw fail(rows[huge], column, "is a class id past \(Self.maximumClasses - 1): integer labels are class ids 0, 1, ... of at most \(Self.maximumClasses) classes")
            }
            return ((0...(integers.max() ?? 0)).map(String.init), integers)
        }
        let names = Set(texts).sorted()
        let ids = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        return (names, texts.map { ids[$0]! })
    }

    /// The most classes integer labels may number.
    static let maximumClasses = 1 << 20

    /// An error at a row's field: "line 7, column 3 ("age"): "abc" is not a number".
    func fail(_ row: CSVRecord, _ column: Int, _ problem: String) -> FileError {
        let value = row.fields[column].isEmpty ? "the empty value (missing values are not supported)" : "\"\(row.fields[column])\""
        return FileError(.csv, path: source, member: "line \(row.line), column \(column + 1) (\"\(columnNames[column])\")", problem: "\(value) \(problem)")
    }

    static func number(_ field: String) -> Float? {
        Float(field.trimmingCharacters(in: .whitespaces))
    }
}
