import Ember

extension Module {
    /// A Keras-style table of the modules a forward pass on `input` calls: name and type,
    /// output shape and the parameters each module holds directly (so the column adds up to
    /// the total). Runs in evaluation mode without gradients and restores the mode after.
    public func summary(input: Tensor, _ forward: (Tensor) -> Any) -> String {
        let recorder = ModuleCallRecorder()
        let wasTraining = isTraining
        eval()
        ModuleCallRecorder.active = recorder
        _ = noGrad { forward(input) }
        ModuleCallRecorder.active = nil
        train(wasTraining)

        let names = Dictionary(namedModules().map { (ObjectIdentifier($0.1), $0.0) }, uniquingKeysWith: { a, _ in a })
        var rows = [["Layer (type)", "Output shape", "Param #"]]
        for call in recorder.calls {
            let name = names[ObjectIdentifier(call.module)].map { $0.isEmpty ? "(model)" : $0 } ?? "?"
            let indent = String(repeating: "  ", count: call.depth)
            let own = call.module.directParameterCount
            rows.append(["\(indent)\(name) (\(call.module.typeName))",
                         call.outputShapes.map { "\($0)" }.joined(separator: ", "),
                         own == 0 ? "0" : grouped(own)])
        }
        let widths = (0..<3).map { column in rows.map { $0[column].count }.max()! }
        func line(_ row: [String]) -> String {
            row[0].padding(toLength: widths[0] + 2, withPad: " ", startingAt: 0)
                + row[1].padding(toLength: widths[1] + 2, withPad: " ", startingAt: 0)
                + String(repeating: " ", count: widths[2] - row[2].count) + row[2]
        }
        let rule = String(repeating: "=", count: widths.reduce(4, +))
        var text = [line(rows[0]), rule] + rows.dropFirst().map(line) + [rule]
        let total = parameterCount, trainable = trainableParameterCount
        text += ["Total params: \(grouped(total))", "Trainable params: \(grouped(trainable))",
                 "Non-trainable params: \(grouped(total - trainable))"]
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
