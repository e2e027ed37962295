import Ember
import Foundation

extension Module {
    /// A Keras-style table of the modules a forward pass on `input` calls: name and type,
    /// output shape, FLOPs per example and the parameters each module holds directly. FLOPs
    /// count matrix products and convolutions as PyTorch's flop counter does (two per
    /// multiply-add); a row shows those its module runs itself, outside its submodules, so
    /// both columns add up to the totals. `input`'s first axis is the batch. Runs in
    /// evaluation mode without gradients and restores the mode after.
    public func summary(input: Tensor, _ forward: (Tensor) -> Any) -> String {
        let recorder = ModuleCallRecorder()
        let wasTraining = isTraining
        eval()
        ModuleCallRecorder.active = recorder
        let totalFLOPs = countingFLOPs { _ = noGrad { forward(input) } }.flops
        ModuleCallRecorder.active = nil
        train(wasTraining)
        let batch = max(input.shape.first ?? 1, 1)

        let names = Dictionary(namedModules().map { (ObjectIdentifier($0.1), $0.0) }, uniquingKeysWith: { a, _ in a })
        var rows = [["Layer (type)", "Output shape", "FLOPs", "Param #"]]
        let calls = recorder.calls
        for (i, call) in calls.enumerated() {
            let name = names[ObjectIdentifier(call.module)].map { $0.isEmpty ? "(model)" : $0 } ?? "?"
            let indent = String(repeating: "  ", count: call.depth)
            let own = call.module.directParameterCount
            // The calls directly inside this one follow it, one level deeper, until the depth
            // returns to this call's.
            let inside = calls[(i + 1)...].prefix { $0.depth > call.depth }.filter { $0.depth == call.depth + 1 }
            let ownFLOPs = call.flops - inside.reduce(0) { $0 + $1.flops }
            rows.append(["\(indent)\(name) (\(call.module.typeName))",
                         call.outputShapes.map { "\($0)" }.joined(separator: ", "),
                         ownFLOPs == 0 ? "0" : abbreviated(Double(ownFLOPs) / Double(batch)),
                         own == 0 ? "0" : grouped(own)])
        }
        let widths = (0..<4).map { column in rows.map { $0[column].count }.max()! }
        func line(_ row: [String]) -> String {
            row[0].padding(toLength: widths[0] + 2, withPad: " ", startingAt: 0)
                + row[1].padding(toLength: widths[1] + 2, withPad: " ", startingAt: 0)
                + String(repeating: " ", count: widths[2] - row[2].count) + row[2] + "  "
                + String(repeating: " ", count: widths[3] - row[3].count) + row[3]
        }
        let rule = String(repeating: "=", count: widths.reduce(4, +))
        var text = [line(rows[0]), rule] + rows.dropFirst().map(line) + [rule]
        let total = parameterCount, trainable = trainableParameterCount
        text += ["Total params: \(grouped(total))", "Trainable params: \(grouped(trainable))",
                 "Non-trainable params: \(grouped(total - trainable))",
                 "FLOPs per example: \(grouped(totalFLOPs / batch)) (\(abbreviated(Double(totalFLOPs) / Double(batch))))"]
        return text.joined(separator: "\n")
    }

    /// Parameters held by this module itself, not its submodules.
    var directParameterCount: Int {
        let below = Set(namedChildren().flatMap { $0.1.parameters().map(ObjectIdentifier.init) })
        return parameters().filter { !below.contains(ObjectIdentifier($0)) }.reduce(0) { $0 + $1.count }
    }
}

extension Layer {
    /// The summary of this layer called on `input`.
    public func summary(input: Tensor) -> String {
        summary(input: input) { self($0) }
    }
}

/// 8.18e9 → "8.18G", 1500 → "1.50K", 12 → "12".
func abbreviated(_ value: Double) -> String {
    for (scale, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")] where value >= scale {
        return String(format: "%.2f", value / scale) + suffix
    }
    return String(format: "%.0f", value)
}

/// 1234567 → "1,234,567".
func grouped(_ value: Int) -> String {
    let digits = String(value)
    var result = ""
    for (i, digit) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { result.append(",") }
        result.append(digit)
    }
    return result
}
