import Foundation

/// A recorded profile: the events of `profile { }`, as a Chrome trace (for Perfetto and
/// chrome://tracing) and as torch.profiler's key-averages table.
public struct Profile: Sendable {
    public let events: [ProfileEvent]

    public init(events: [ProfileEvent]) { self.events = events }

    /// The kernels alone.
    public var kernels: [ProfileEvent] { events.filter { $0.category == .kernel } }

    /// How `keyAverages` groups events.
    public enum Grouping: Sendable {
        /// Kernels by kind (`matmul`, `conv2d`, ...).
        case op
        /// Kernels by kind and input shapes (torch's `group_by_input_shape`).
        case opAndShape
        /// Module calls by path (`layer1.0.conv1`), their submodules' time included in total.
        case module
    }

    /// One row of the key-averages table.
    public struct Row: Sendable {
        public var key: String
        public var calls = 0
        /// Nanoseconds in the rows' events, what runs inside them included.
        public var totalTime: UInt64 = 0
        /// Nanoseconds not spent in a nested range: a module's own kernels and overhead, without
        /// its submodules'; for kernels, all of it.
        public var selfTime: UInt64 = 0
        /// Of every kernel inside.
        public var flops = 0
        public var bytes = 0
    }

    /// Totals per key, the largest self time first.
    public func keyAverages(groupBy grouping: Grouping = .op) -> [Row] {
        var rows: [String: Row] = [:]
        var childTime = [UInt64](repeating: 0, count: events.count)
        for event in events where event.category != .kernel {
            if let parent = event.parent { childTime[parent] += event.duration }
        }
        // Work of the kernels inside each range, its nested ranges included.
        var inside = [(flops: Int, bytes: Int)](repeating: (0, 0), count: events.count)
        for event in events where event.category == .kernel {
            var parent = event.parent
            while let index = parent {
                inside[index].flops += event.flops
                inside[index].bytes += event.bytes
                parent = events[index].parent
            }
        }
        for (index, event) in events.enumerated() {
            let key: String
            switch (grouping, event.category) {
            case (.op, .kernel): key = event.name
            case (.opAndShape, .kernel): key = event.name + " " + event.inputShapes.map { "\($0)" }.joined(separator: ", ")
            case (.module, .module): key = event.name
            default: continue
            }
            var row = rows[key] ?? Row(key: key)
            row.calls += 1
            row.totalTime += event.duration
            row.selfTime += event.duration - min(childTime[index], event.duration)
            row.flops += event.category == .kernel ? event.flops : inside[index].flops
            row.bytes += event.category == .kernel ? event.bytes : inside[index].bytes
            rows[key] = row
        }
        return rows.values.sorted { ($0.selfTime, $1.key) > ($1.selfTime, $0.key) }
    }

    /// The key-averages table as text: calls, self and total time, FLOP/s and, given the
    /// machine's peak (FLOP/s), each row's share of it.
    public func table(groupBy grouping: Grouping = .op, peakFLOPS: Double? = nil, limit: Int = 20) -> String {
        let rows = keyAverages(groupBy: grouping)
        let selfTotal = max(1, rows.reduce(0) { $0 + $1.selfTime })
        func milliseconds(_ ns: UInt64) -> String { String(format: "%.3f", Double(ns) / 1e6) }
        var header = ["Name", "Calls", "Self ms", "Self %", "Total ms", "Avg ms", "GFLOP/s"]
        if peakFLOPS != nil { header.append("% peak") }
        var lines = [header]
        for row in rows.prefix(limit) {
            let rate = row.totalTime > 0 ? Double(row.flops) / Double(row.totalTime) : 0  // GFLOP/s
            var line = [row.key, "\(row.calls)", milliseconds(row.selfTime),
                        String(format: "%.1f", 100 * Double(row.selfTime) / Double(selfTotal)), milliseconds(row.totalTime),
                        milliseconds(row.totalTime / UInt64(max(1, row.calls))), row.flops > 0 ? String(format: "%.1f", rate) : "-"]
            if let peakFLOPS { line.append(row.flops > 0 ? String(format: "%.1f", 100 * rate * 1e9 / peakFLOPS) : "-") }
            lines.append(line)
        }
        let widths = header.indices.map { column in lines.map { $0[column].count }.max()! }
        let rendered = lines.map { line in
            line.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }
        let rule = String(repeating: "-", count: rendered[0].count)
        var text = ([rule, rendered[0], rule] + rendered.dropFirst() + [rule]).joined(separator: "\n")
        if rows.count > limit { text += "\n(\(rows.count - limit) more rows)" }
        return text + "\nSelf time total: \(milliseconds(selfTotal)) ms"
    }

    /// The Chrome trace event format: complete ("X") events in microseconds with the kernel's
    /// shapes, dtypes, FLOPs, bytes, module and whether it ran on float32 copies in `args`.
    public func chromeTrace() -> Data {
        var trace: [[String: Any]] = [["name": "process_name", "ph": "M", "pid": Int(getpid()), "args": ["name": "ember"]]]
        for event in events {
            var args: [String: Any] = [:]
            if !event.scope.isEmpty { args["module"] = event.scope }
            if event.category == .kernel {
                args["op"] = event.detail
                args["input_shapes"] = event.inputShapes
                args["input_dtypes"] = event.inputDTypes.map { "\($0)" }
                args["flops"] = event.flops
                args["bytes"] = event.bytes
                if event.float32Copies { args["float32_copies"] = true }
            }
            trace.append(["name": event.name, "cat": event.category.rawValue, "ph": "X", "pid": Int(getpid()), "tid": event.thread,
                          "ts": Double(event.start) / 1000, "dur": Double(event.duration) / 1000, "args": args])
        }
        let document: [String: Any] = ["traceEvents": trace, "displayTimeUnit": "ms"]
        return try! JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
    }

    /// Writes `chromeTrace()` to `url` atomically.
    public func writeChromeTrace(to url: URL) throws {
        try chromeTrace().write(to: url, options: .atomic)
    }
}
