import EmberIO
/// One record of a CSV file: its fields and the line it starts on (quoted fields may span lines).
struct CSVRecord {
    let line: Int
    let fields: [String]
}

/// Splitting CSV text into records as RFC 4180 defines them: fields separated by the
/// delimiter, records by CRLF or LF, fields in double quotes may hold delimiters, line
/// breaks and doubled quotes (`""` for `"`). Blank lines and a UTF-8 byte order mark are
/// skipped. A quote inside an unquoted field is kept as text, as most writers produce.
enum CSVParser {
    static func records(_ bytes: [UInt8], delimiter: UInt8, source: String) throws(FileError) -> [CSVRecord] {
        let quote = UInt8(ascii: "\""), newline = UInt8(ascii: "\n"), carriageReturn = UInt8(ascii: "\r")
        var records = [CSVRecord]()
        var fields = [String]()
        var field = [UInt8]()
        var line = 1
        var recordLine = 1
        var position = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0

        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        func endRecord() {
            endField()
            if fields != [""] { records.append(CSVRecord(line: recordLine, fields: fields)) }
            fields.removeAll(keepingCapacity: true)
        }

        while position < bytes.count {
            let byte = bytes[position]
            if byte == quote && field.isEmpty {
                let openedOn = line
                position += 1
                while true {
                    guard position < bytes.count else {
                        throw FileError(.csv, path: source, problem: "line \(openedOn), column \(fields.count + 1): the quoted field is never closed")
                    }
                    let inner = bytes[position]
                    if inner == quote {
                        if position + 1 < bytes.count && bytes[position + 1] == quote {
                            field.append(quote)
                            position += 2
                            continue
                        }
                        position += 1
                        break
                    }
                    if inner == newline { line += 1 }
                    field.append(inner)
                    position += 1
                }
                if position < bytes.count, ![delimiter, newline, carriageReturn].contains(bytes[position]) {
                    throw FileError(.csv, path: source, problem: "line \(line), column \(fields.count + 1): unexpected text after a closing quote")
                }
                continue
            }
            switch byte {
            case delimiter:
                endField()
            case newline:
                endRecord()
                line += 1
                recordLine = line
            case carriageReturn where position + 1 < bytes.count && bytes[position + 1] == newline:
                break
            default:
                field.append(byte)
            }
            position += 1
        }
        if !field.isEmpty || !fields.isEmpty { endRecord() }
        return records
    }
}
