import ArgumentParser
import Ember
import EmberData
import EmberRuns
import EmberText
import Foundation
import XCTest
@testable import EmberCLI

/// `ember eval`, `predict`, `summary`, `generate`, `tokenize` and `embed` on small runs
/// trained here, through the commands' own entry points.
final class ModelCommandsTests: XCTestCase {
    private func train(_ arguments: [String]) throws -> String {
        let out = try temporaryDirectory().path
        let command = try Train.parse(arguments + ["--out", out, "--workers", "0", "--epochs", "1"])
        try command.run()
        return out
    }

    func testImageRunEvaluatesPredictsFilesAndSummarizes() throws {
        let run = try train(["--model", "linear", "--train-size", "64", "--val-size", "30", "--batch-size", "32"])
        XCTAssertNil(message(Eval.self, [run, "--json"]))
        XCTAssertNil(message(Eval.self, [run + "/checkpoints/last.ckpt", "--confusion"]))

        // Two images of the validation data, written as PNG files and one resized.
        let directory = try temporaryDirectory()
        let circle = ShapesDataset(count: 1, seed: 5)[0].image
        try circle.writePNG(to: directory.appendingPathComponent("a.png"))
        try Resize(48, 40)(circle).writePNG(to: directory.appendingPathComponent("b.png"))
        let output = try Predict.parse([run, directory.path, "--top-k", "2", "--json"]).output()
        let decoded = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: [[String: Any]]]
        let predictions = try XCTUnwrap(decoded["predictions"])
        XCTAssertEqual(predictions.map { ($0["input"] as! String).hasSuffix(".png") }, [true, true])
        for prediction in predictions {
            let top = prediction["top"] as! [[String: Any]]
            XCTAssertEqual(top.count, 2)
            XCTAssertEqual(prediction["label"] as? String, top[0]["label"] as? String)
            XCTAssertTrue(ShapesDataset.classNames.contains(prediction["label"] as! String))
            XCTAssertGreaterThanOrEqual(top[0]["probability"] as! Double, top[1]["probability"] as! Double)
        }
        let text = try Predict.parse([run, directory.appendingPathComponent("a.png").path]).output()
        XCTAssertTrue(text.hasPrefix(directory.appendingPathComponent("a.png").path + ": "), text)

        let missing = directory.appendingPathComponent("missing").path
        XCTAssertEqual(message(Predict.self, [run, missing + ".png"]), "\(missing).png does not exist")
        let notAnImage = directory.appendingPathComponent("c.png")
        try Data("hello".utf8).write(to: notAnImage)
        XCTAssertTrue(message(Predict.self, [run, notAnImage.path])?.contains("c.png") == true)
        XCTAssertEqual(message(Eval.self, [missing]),
                       "\(missing) does not exist: give a run directory written by ember train or a checkpoint file in one")
        XCTAssertNil(message(Summary.self, [run]))
        XCTAssertEqual(message(Summary.self, ["vgg"]),
                       "'vgg' is neither a run directory nor a model (available: \(ModelRegistry.names.joined(separator: ", ")))")
    }

    func testTextRunPredictsTextsAndLanguageModelGenerates() throws {
        let classifier = try train(["--model", "lstm", "--train-size", "48", "--val-size", "16", "--batch-size", "16", "--max-length", "32"])
        let output = try Predict.parse([classifier, "the plot was not clever", "a truly wonderful film", "--top-k", "1"]).output()
        let lines = output.split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines[0].hasPrefix("the plot was not clever: negative") || lines[0].hasPrefix("the plot was not clever: positive"), output)
        XCTAssertEqual(message(Generate.self, [classifier, "--prompt", "the"]),
                       "\(classifier) holds a 'lstm' model; ember generate continues text with a gpt run")
        // A recurrent model has no state to classify a text of no tokens from.
        XCTAssertEqual(message(Predict.self, [classifier, "fine", ""]), "text 2 (\"\") has no tokens: give some text to classify")

        let gpt = try train(["--model", "gpt", "--train-size", "40", "--val-size", "10", "--batch-size", "8", "--max-length", "16"])
        XCTAssertNil(message(Generate.self, [gpt, "--prompt", "the film", "--max-new-tokens", "20", "--top-k", "5", "--seed", "3"]))
        XCTAssertNil(message(Generate.self, [gpt, "--prompt", String(repeating: "long prompt ", count: 10), "--greedy", "--max-new-tokens", "3"]))
        XCTAssertEqual(message(Generate.self, [gpt, "--prompt", ""]), "the prompt is empty: give some text to continue")
        XCTAssertTrue(message(Generate.self, [gpt, "--prompt", "a", "--top-p", "1.5"])?.contains("top") == true)
        XCTAssertEqual(message(Predict.self, [gpt, "hello"]),
                       "\(gpt) holds a language model ('gpt'): continue a prompt with ember generate")
        XCTAssertNil(message(Eval.self, [gpt]))
        XCTAssertNil(message(Summary.self, ["gpt", "--length", "16"]))
        XCTAssertNil(message(Summary.self, [gpt, "--length", "8"]))
        XCTAssertEqual(message(Summary.self, [gpt, "--length", "17"]), "--length 17 is more than the 16 tokens the run's model 'gpt' reads")
    }

    func testTextCSVIsSplitForValidationAndReadWithAHuggingFaceTokenizer() throws {
        let directory = try temporaryDirectory()
        let csv = directory.appendingPathComponent("reviews.csv")
        let rows = (0..<20).map { i in "\"\(i % 2 == 0 ? "dull, slow" : "a clever, moving") film number \(i)\",\(i % 2 == 0 ? "neg" : "pos")" }
        try Data((["text,label"] + rows).joined(separator: "\n").utf8).write(to: csv)
        let run = try train(["--model", "transformer", "--data-dir", csv.path, "--tokenizer", fixtureTokenizer.path,
                             "--batch-size", "4", "--max-length", "16"])
        let card = try ModelCard.read(from: URL(fileURLWithPath: run))
        XCTAssertEqual(card.classNames, ["neg", "pos"])
        guard case .tokens(let folder, let vocabulary, 16, _) = card.input else { return XCTFail("\(card.input)") }
        XCTAssertEqual(folder, fixtureTokenizer.path)
        XCTAssertEqual(vocabulary, try loadTokenizer(folder: fixtureTokenizer).vocabularySize)
        let output = try Predict.parse([run, "a clever film", "--top-k", "1"]).output()
        XCTAssertTrue(output.hasPrefix("a clever film: "), output)
    }

    /// The tokenizer the EmberText tests check against Hugging Face's.
    private var fixtureTokenizer: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("EmberTextTests/Fixtures/Tokenizers/wordpiece-uncased")
    }

    func testTokenizeJSONHoldsTheTokenizersIDsWithSpecialTokens() throws {
        let folder = fixtureTokenizer
        try XCTSkipUnless(FileManager.default.fileExists(atPath: folder.path), "no tokenizer fixture at \(folder.path)")
        let texts = ["Hello, World!", "Café naïve 中文", ""]
        let output = try Tokenize.parse(["--model", folder.path, "--json"] + texts).output()
        let decoded = try JSONDecoder().decode([String: [[Int]]].self, from: Data(output.utf8))
        let tokenizer = try loadTokenizer(folder: folder)
        XCTAssertEqual(Array(decoded.keys), ["input_ids"])
        XCTAssertEqual(decoded["input_ids"], texts.map { tokenizer.encode($0).ids })
        XCTAssertEqual(decoded["input_ids"]?[2], [tokenizer.id(of: "[CLS]")!, tokenizer.id(of: "[SEP]")!])
        XCTAssertEqual(message(Tokenize.self, ["--model", "/nonexistent-folder", "x"])?.contains("/nonexistent-folder"), true)
        XCTAssertEqual(message(Tokenize.self, ["--model", folder.path]), "give at least one text (as arguments or with --file)")
    }

    /// all-MiniLM-L6-v2 from EMBER_MINILM_DIR or the cache that scripts/fetch-minilm.sh fills
    /// (the EmberTests sentence-embedding tests fetch it).
    func testEmbedJSONIsExactlyTheEmbeddings() throws {
        let cache = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache"
        let folder = ProcessInfo.processInfo.environment["EMBER_MINILM_DIR"] ?? cache + "/ember/all-MiniLM-L6-v2"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: folder + "/model.safetensors"),
                          "all-MiniLM-L6-v2 is not available at \(folder); run scripts/fetch-minilm.sh or set EMBER_MINILM_DIR")
        let sentences = ["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome."]
        let output = try Embed.parse(["--model", folder, "--json"] + sentences).output()
        XCTAssertTrue(output.hasPrefix("{\"embeddings\":[["), String(output.prefix(40)))
        let decoded = try JSONDecoder().decode([String: [[Double]]].self, from: Data(output.utf8))
        let rows = try XCTUnwrap(decoded["embeddings"])
        XCTAssertEqual(rows.map(\.count), [384, 384, 384])
        for row in rows { XCTAssertEqual(row.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-5) }
        let similar = zip(rows[0], rows[1]).reduce(0) { $0 + $1.0 * $1.1 }, unrelated = zip(rows[0], rows[2]).reduce(0) { $0 + $1.0 * $1.1 }
        XCTAssertGreaterThan(similar, unrelated)
        let table = try Embed.parse(["--model", folder] + sentences).output()
        XCTAssertTrue(table.contains("cosine similarity"), table)
        XCTAssertEqual(message(Embed.self, ["--model", "/nonexistent-folder", "x"])?.hasPrefix("cannot load the model in /nonexistent-folder"), true)
    }

    /// A copied all-MiniLM-L6-v2 folder whose tokenizer adds an id past the vocabulary (which
    /// used to print garbage, or crash) is refused when it is loaded.
    func testEmbedRefusesATokenizerWhoseIDsPassTheVocabulary() throws {
        let cache = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache"
        let original = URL(fileURLWithPath: ProcessInfo.processInfo.environment["EMBER_MINILM_DIR"] ?? cache + "/ember/all-MiniLM-L6-v2")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: original.appendingPathComponent("tokenizer.json").path),
                          "all-MiniLM-L6-v2 is not available at \(original.path); run scripts/fetch-minilm.sh or set EMBER_MINILM_DIR")
        let folder = try temporaryDirectory()
        for name in try FileManager.default.contentsOfDirectory(atPath: original.path) where name != "tokenizer.json" {
            try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(name), withDestinationURL: original.appendingPathComponent(name))
        }
        let text = try String(contentsOf: original.appendingPathComponent("tokenizer.json"), encoding: .utf8)
        for id in [30600, 100000] {
            let edited = text.replacingOccurrences(of: #""\[CLS\]":\s*\{\s*"id":\s*"\[CLS\]",\s*"ids":\s*\[\s*101\s*\]"#,
                                                   with: #""[CLS]": {"id": "[CLS]", "ids": [\#(id)]"#, options: .regularExpression)
            XCTAssertNotEqual(edited, text, "the fixture's [CLS] entry was found")
            try Data(edited.utf8).write(to: folder.appendingPathComponent("tokenizer.json"))
            XCTAssertEqual(message(Embed.self, ["--model", folder.path, "hello"]),
                           "cannot load the model in \(folder.path): tokenizer \(folder.path)/tokenizer.json, post_processor.special_tokens.[CLS].ids[0]: "
                           + "is \(id), which is not the id of a token of the vocabulary or the added tokens")
        }
    }
}

