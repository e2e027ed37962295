import Foundation

extension FunctionalModel {
    /// The model's layer graph as SVG (Keras's `plot_model`): a box per input and layer with
    /// its name, type and output shape, in rows by depth from the inputs, and an arrow per
    /// connection (a shared layer has one box and an arrow from each call's inputs).
    public func graphSVG() -> String {
        struct Box { var title: String; var shape: String; var depth: Int }
        var boxes: [Box] = zip(inputs, inputNames).map { Box(title: "\($1): Input", shape: "\($0)", depth: 0) }
        var index: [ObjectIdentifier: Int] = [:]  // module or input → box
        for (position, input) in inputs.enumerated() { index[ObjectIdentifier(input)] = position }
        var edges: [(from: Int, to: Int)] = []
        func boxIndex(_ tensor: SymbolicTensor) -> Int {
            index[tensor.node.module.map(ObjectIdentifier.init) ?? ObjectIdentifier(tensor)]!
        }
        for call in calls {
            let module = call.node.module!
            let key = ObjectIdentifier(module)
            let sources = call.node.inputs.map(boxIndex)
            let depth = 1 + sources.map { boxes[$0].depth }.max()!
            if let existing = index[key] {
                boxes[existing].depth = max(boxes[existing].depth, depth)
            } else {
                index[key] = boxes.count
                let name = layers.first { $0.module === module }!.name
                boxes.append(Box(title: "\(name): \(module.typeName)", shape: "\(call)", depth: depth))
            }
            for source in sources where !edges.contains(where: { $0 == (source, index[key]!) }) { edges.append((source, index[key]!)) }
        }

        let width = 250.0, height = 46.0, gapX = 30.0, gapY = 40.0, margin = 20.0
        let rows = Dictionary(grouping: boxes.indices, by: { boxes[$0].depth })
        let widest = rows.values.map(\.count).max() ?? 1
        let canvasWidth = 2 * margin + Double(widest) * width + Double(widest - 1) * gapX
        var origin: [Int: (x: Double, y: Double)] = [:]
        for (depth, members) in rows {
            let rowWidth = Double(members.count) * width + Double(members.count - 1) * gapX
            for (column, box) in members.enumerated() {
                origin[box] = ((canvasWidth - rowWidth) / 2 + Double(column) * (width + gapX), margin + Double(depth) * (height + gapY))
            }
        }
        let canvasHeight = 2 * margin + Double(rows.count) * height + Double(rows.count - 1) * gapY
        func number(_ value: Double) -> String { String(format: "%.1f", value) }
        func escaped(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var svg = [
            #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(number(canvasWidth))" height="\#(number(canvasHeight))" font-family="sans-serif" font-size="12">"#,
            #"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="dimgray"/></marker></defs>"#,
            "<title>\(escaped(name))</title>",
        ]
        for (from, to) in edges {
            let (a, b) = (origin[from]!, origin[to]!)
            svg.append(#"<line x1="\#(number(a.x + width / 2))" y1="\#(number(a.y + height))" x2="\#(number(b.x + width / 2))" y2="\#(number(b.y))" stroke="dimgray" marker-end="url(#arrow)"/>"#)
        }
        for (position, box) in boxes.enumerated() {
            let (x, y) = origin[position]!
            let fill = box.depth == 0 ? "aliceblue" : "whitesmoke"
            svg.append(#"<rect x="\#(number(x))" y="\#(number(y))" width="\#(number(width))" height="\#(number(height))" rx="4" fill="\#(fill)" stroke="black"/>"#)
            svg.append(#"<text x="\#(number(x + width / 2))" y="\#(number(y + 19))" text-anchor="middle">\#(escaped(box.title))</text>"#)
            svg.append(#"<text x="\#(number(x + width / 2))" y="\#(number(y + 36))" text-anchor="middle" fill="dimgray">\#(escaped(box.shape))</text>"#)
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    /// Writes `graphSVG()` to `url` atomically.
    public func writeGraphSVG(to url: URL) throws {
        try Data(graphSVG().utf8).write(to: url, options: .atomic)
    }
}
