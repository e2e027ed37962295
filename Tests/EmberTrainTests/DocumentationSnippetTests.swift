import Ember
import EmberData
import EmberIO
import EmberModels
import EmberNN
import EmberOptim
import EmberText
import EmberTrain
import Foundation
import XCTest

/// Every Swift snippet of the DocC catalogs (Sources/<Target>/<Target>.docc) is code a test
/// runs, so the API documentation cannot rot: the snippet's lines, less imports and comment
/// lines, stand in that order in one test file (a snippet may leave out some of a test's lines).
/// Most come from the README's tours (ReadmeTourTests and the like); the others are here.
final class DocumentationSnippetTests: XCTestCase {
    func testEveryCatalogSnippetIsRunByATest() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let testFiles = try swiftFiles(under: root.appendingPathComponent("Tests")).map { file in
            try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let sources = root.appendingPathComponent("Sources")
        var snippets = 0
        for target in try FileManager.default.contentsOfDirectory(atPath: sources.path).sorted() {
            let catalog = sources.appendingPathComponent(target).appendingPathComponent("\(target).docc")
            guard let articles = try? FileManager.default.contentsOfDirectory(atPath: catalog.path) else { continue }
            for article in articles.sorted() where article.hasSuffix(".md") {
                let text = try String(contentsOf: catalog.appendingPathComponent(article), encoding: .utf8)
                for (index, snippet) in swiftBlocks(text).enumerated() {
                    let code = snippet.map { $0.trimmingCharacters(in: .whitespaces) }
                        .filter { !$0.isEmpty && !$0.hasPrefix("//") && !$0.hasPrefix("import ") }
                    XCTAssertTrue(testFiles.contains { contains($0, inOrder: code) },
                                  "\(target).docc/\(article): Swift snippet \(index + 1) (\(code.first ?? "empty")) is run by no test; "
                                  + "copy it verbatim into one (DocumentationSnippetTests)")
                    snippets += 1
                }
            }
        }
        XCTAssertGreaterThanOrEqual(snippets, 11, "the catalogs' Swift snippets were not found under \(sources.path)")
    }

    // MARK: The snippets that no tour test holds

    /// Ember.docc/ComingFromJAX.md
    func testComingFromJAX() {
        // Second derivatives by composition.
        let d2 = grad { (t: Tensor) in grad { (u: Tensor) in (u * u * u).sum() }(t).sum() }
        print(d2(Tensor([1, 2, 3] as [Double])))         // 6x

        // Forward mode.
        let (sine, cosine) = jvp({ $0.sin() }, primal: Tensor([0, 1] as [Float]), tangent: Tensor([1, 1] as [Float]))

        // Tracing and compiling: traced once per input signature, elementwise chains fused.
        let x = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let fast = compile { (t: Tensor) in layerNorm((t * 2 + 1).gelu(), normalizedShape: [3]) }
        print(fast.report(for: [x]))                      // the graph before and after
        let normalized = fast(x)

        // Explicit keys.
        let keys = Key(0).split(into: 2)
        let noise = Tensor.randomNormal([4], source: .key(keys[0]))

        XCTAssertEqual(d2(Tensor([1, 2, 3] as [Double])).doubles, [6, 12, 18])
        XCTAssertLessThan(maxDifference(sine.floats, [0, Float(Foundation.sin(1.0))]), 1e-6)
        XCTAssertLessThan(maxDifference(cosine.floats, [1, Float(Foundation.cos(1.0))]), 1e-6)
        XCTAssertLessThan(maxDifference(normalized.floats, layerNorm((x * 2 + 1).gelu(), normalizedShape: [3]).floats), 1e-5)
        XCTAssertEqual(noise.shape, [4])
    }

    /// EmberIO.docc/EmberIO.md
    /// Ember.docc/MixedPrecision.md: one bf16 autocast training step.
    func testMixedPrecision() {
        let x = Tensor.randomNormal([16, 8], source: .key(Key(1)))
        let y = Tensor((0..<16).map { Int64($0 % 4) }, shape: [16])
        let model = Sequential(Linear(8, 16), ReLU(), Linear(16, 4))
        let before = model.parameters().map(\.floats)
        let optimizer = SGD(model.parameters(), lr: 0.1)
        optimizer.zeroGrad()
        let loss = autocast(.bfloat16) { crossEntropy(logits: model(x), labels: y) }
        loss.backward()
        optimizer.step()
        XCTAssertEqual(loss.dtype, .float32)
        XCTAssertTrue(model.parameters().allSatisfy { $0.dtype == .float32 && $0.grad?.dtype == .float32 })
        XCTAssertNotEqual(model.parameters().map(\.floats), before)
    }

    func testEmberIO() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tensors.safetensors")
        try SafeTensors.write(["x": Tensor([1, 2, 3] as [Float])], metadata: ["format": "pt"], to: url)
        let tensors = try SafeTensors.load(contentsOf: url)      // ["x": Tensor]
        let specs = try SafeTensors.header(contentsOf: url)      // names, shapes and dtypes only

        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertEqual(tensors["x"]?.floats, [1, 2, 3])
        XCTAssertEqual(specs.count, 1)
    }

    /// EmberOptim.docc/EmberOptim.md
    func testEmberOptim() {
        let model = Sequential(Linear(784, 128), ReLU(), Linear(128, 10))
        let optimizer = AdamW(model.parameters(), lr: 1e-3)
        let scheduler = LRScheduler(optimizer, schedule: CosineAnnealingLR(tMax: 100))
        let images = Tensor.randomNormal([32, 784]), labels = Tensor.randomIntegers([32], high: 10)
        for _ in 0..<3 {
            let loss = crossEntropy(logits: model(images), labels: labels)
            optimizer.zeroGrad()
            loss.backward()
            _ = clipGradNorm(model.parameters(), maxNorm: 1)
            optimizer.step()
            scheduler.step()
        }

        // The functional form: an update computed from gradients of a parameter tree.
        let params = model.parameterTree()
        let lossOf = { (p: TensorTree) in model.applying(p) { crossEntropy(logits: model(images), labels: labels) } }
        let adamStep = adam(learningRate: 1e-3)
        let (updates, _) = adamStep.update(grad(lossOf)(params), adamStep.initialize(params), params)
        let updated = applyUpdates(params, updates)

        XCTAssertLessThan(lossOf(updated).item(), lossOf(params).item())
    }

    /// EmberText.docc/EmberText.md (needs all-MiniLM-L6-v2: scripts/fetch-minilm.sh, which
    /// scripts/test.sh runs).
    func testEmberText() throws {
        let folder = URL(fileURLWithPath: NSHomeDirectory() + "/.cache/ember/all-MiniLM-L6-v2")  // scripts/fetch-minilm.sh
        try XCTSkipUnless(FileManager.default.fileExists(atPath: folder.path), "no \(folder.path): run scripts/fetch-minilm.sh")
        let tokenizer = try loadTokenizer(folder: folder)        // WordPiece, as Hugging Face's
        let batch = tokenizer.encode(batch: ["Hello, world!", "Ember reads BERT."]).tensors()
        print(batch.inputIDs, batch.attentionMask)

        XCTAssertEqual(batch.inputIDs.shape[0], 2)
        XCTAssertEqual(batch.attentionMask.shape, batch.inputIDs.shape)
    }

    /// EmberTrain.docc/EmberTrain.md
    func testEmberTrain() throws {
        // A fresh run directory: the data tour's test writes checkpoints in the same one.
        try? FileManager.default.removeItem(at: FileManager.default.temporaryDirectory.appendingPathComponent("shapes-run"))
        let train = DataLoader(ShapesDataset(count: 64, seed: 0).map(images: Compose { ToTensor() }),
                               batchSize: 32, shuffle: true, seed: 0)
        let validation = DataLoader(ShapesDataset(count: 32, seed: 1).map(images: Compose { ToTensor() }), batchSize: 32)
        let net = CIFARResNet(depth: 8)
        let runDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("shapes-run")
        let trainer = Trainer(model: net, optimizer: AdamW(net.parameters(), lr: 3e-3), loss: CrossEntropyLoss(),
                              metrics: [Accuracy()],
                              callbacks: [ModelCheckpoint(directory: runDirectory, monitor: Monitor("val_accuracy")),
                                          TensorBoardLogger(logDirectory: runDirectory.appendingPathComponent("tb")),
                                          ProgressLogger()])
        let history = try trainer.fit(train, epochs: 2, validation: validation)
        print(history["val_accuracy"]!, trainer.evaluate(validation))

        XCTAssertEqual(history.epochs, [0, 1])
        XCTAssertTrue(FileManager.default.fileExists(atPath: runDirectory.appendingPathComponent("last.ckpt").path))
        try? FileManager.default.removeItem(at: runDirectory)
    }

    // MARK: Reading the catalogs

    private func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        a.count == b.count ? zip(a, b).map { abs($0 - $1) }.max() ?? 0 : .infinity
    }

    private func swiftFiles(under directory: URL) throws -> [URL] {
        let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)
        return (walker?.allObjects as? [URL] ?? []).filter { $0.pathExtension == "swift" }
    }

    /// The lines of each fenced ```swift block of a Markdown text.
    private func swiftBlocks(_ text: String) -> [[String]] {
        var blocks: [[String]] = [], current: [String]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if current == nil {
                if line.trimmingCharacters(in: .whitespaces) == "```swift" { current = [] }
            } else if line.trimmingCharacters(in: .whitespaces) == "```" {
                blocks.append(current!)
                current = nil
            } else {
                current!.append(line)
            }
        }
        return blocks
    }

    /// Whether `lines` holds every line of `wanted`, in that order.
    private func contains(_ lines: [String], inOrder wanted: [String]) -> Bool {
        var next = wanted.startIndex
        for line in lines where next < wanted.endIndex && line == wanted[next] { next += 1 }
        return next == wanted.endIndex
    }
}
