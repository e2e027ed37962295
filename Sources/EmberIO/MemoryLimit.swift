import Foundation

/// Whether a size read from a file or the command line can be allocated at all: the bytes it
/// needs against the machine's physical memory. Checked before a model or dataset is built,
/// so that an impossible size is an error naming the setting rather than an abort deep in an
/// allocator.
public enum MemoryLimit {
    /// The machine's physical memory in bytes.
    public static let physicalBytes: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return .max }
        return pages.multipliedReportingOverflow(by: pageSize).overflow ? .max : pages * pageSize
    }()

    /// The product of `factors` (element counts and a byte size), or nil when it overflows.
    /// Negative factors are the caller's to refuse first.
    public static func bytes(_ factors: [Int]) -> Int? {
        var product = 1
        for factor in factors {
            let (next, overflow) = product.multipliedReportingOverflow(by: max(factor, 0))
            if overflow { return nil }
            product = next
        }
        return product
    }

    /// The sum of byte counts, nil when one is nil or the sum overflows.
    public static func sum(_ counts: [Int?]) -> Int? {
        var total = 0
        for count in counts {
            guard let count else { return nil }
            let (next, overflow) = total.addingReportingOverflow(count)
            if overflow { return nil }
            total = next
        }
        return total
    }

    /// Nil when `bytes` fit in physical memory; else the size against the memory, for a
    /// message that says what needs it: "3.7 TB, more than this machine's 23.4 GB of memory".
    /// Nil `bytes` (an overflowed count) is too large for any machine.
    public static func problem(bytes: Int?) -> String? {
        guard let bytes else { return "more bytes than can be counted (over 9.2 EB), more than this machine's \(formatted(physicalBytes)) of memory" }
        guard bytes > physicalBytes else { return nil }
        return "\(formatted(bytes)), more than this machine's \(formatted(physicalBytes)) of memory"
    }

    /// Bytes in decimal units: "512 B", "1.5 MB", "3.7 TB".
    public static func formatted(_ bytes: Int) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
        var value = Double(bytes), unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
