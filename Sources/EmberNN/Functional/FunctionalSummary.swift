import Ember

extension FunctionalModel {
    /// Keras's summary of a functional model: each input and layer with its output shape,
    /// parameters and the layers it reads ("Connected to"; a shared layer's calls are
    /// separated by ";"), then the parameter totals.
    public func summary() -> String {
        var names: [ObjectIdentifier: String] = [:]
        for (input, name) in zip(inputs, inputNames) { names[ObjectIdentifier(input)] = name }
        for call in calls { names[ObjectIdentifier(call)] = layers.first { $0.module === call.node.module! }!.name }

        var rows = [["Layer (type)", "Output Shape", "Param #", "Connected to"]]
        for (input, name) in zip(inputs, inputNames) {
            rows.append(["\(name) (InputLayer)", "\(input)", "0", "-"])
        }
        for (name, module) in layers {
            let moduleCalls = calls.filter { $0.node.module === module }
            let sources = moduleCalls.map { call in call.node.inputs.map { names[ObjectIdentifier($0)]! }.joined(separator: ", ") }
            let shapes = Array(Set(moduleCalls.map(\.description))).sorted()
            rows.append(["\(name) (\(module.typeName))", shapes.joined(separator: ", "), grouped(module.parameterCount),
                         sources.joined(separator: "; ")])
        }
        let widths = (0..<4).map { column in rows.map { $0[column].count }.max()! }
        func line(_ row: [String]) -> String {
            row[0].padding(toLength: widths[0] + 2, withPad: " ", startingAt: 0)
                + row[1].padding(toLength: widths[1] + 2, withPad: " ", startingAt: 0)
                + String(repeating: " ", count: widths[2] - row[2].count) + row[2] + "  " + row[3]
        }
        let rule = String(repeating: "-", count: widths.reduce(6, +))
        let trainable = namedParameters().filter { $0.1.requiresGrad }.reduce(0) { $0 + $1.1.count }
        return ([#"Model: "\#(name)""#, rule, line(rows[0]), rule] + rows.dropFirst().map(line) + [
            rule,
            "Total params: \(grouped(parameterCount))",
            "Trainable params: \(grouped(trainable))",
            "Non-trainable params: \(grouped(parameterCount - trainable))",
        ]).joined(separator: "\n")
    }
}
