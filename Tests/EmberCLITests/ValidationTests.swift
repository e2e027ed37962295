import EmberIO
import EmberRuns
import EmberTrain
import Foundation
import XCTest
@testable import EmberCLI

/// Every option and every value read from a run's files is checked before anything is built:
/// a user's mistake is one line naming the option or the file and field, the value and what
/// is allowed (issue 13's cases, each pinned here or beside the library code that checks it).
final class ValidationTests: XCTestCase {
    /// A finished two-epoch run of the linear model on the built-in shapes, trained once.
    private static let run: Result<String, any Error> = Result {
        let out = try temporaryDirectory().path
        try Train.parse(["--model", "linear", "--train-size", "64", "--val-size", "32", "--batch-size", "32", "--epochs", "2",
                         "--out", out, "--workers", "0"]).run()
        return out
    }

    /// A copy of the run, with `edit` applied to the JSON of its `file`.
    private func copyOfRun(editing file: String = ModelCard.fileName, _ edit: (inout [String: Any]) -> Void) throws -> String {
        let copy = try temporaryDirectory().appendingPathComponent("run")
        try FileManager.default.copyItem(atPath: try Self.run.get(), toPath: copy.path)
        let url = copy.appendingPathComponent(file)
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return copy.path
    }

    /// The run with `input.image.<key>` (or another `input` case) replaced.
    private func runWithInput(_ input: [String: Any]) throws -> String {
        try copyOfRun { $0["input"] = input }
    }

    private func image(_ changes: [String: Any]) -> [String: Any] {
        let base: [String: Any] = ["channels": 3, "height": 32, "width": 32, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]]
        return ["image": base.merging(changes) { $1 }]
    }

    func testNegativeNumbersReachEachOptionsOwnCheck() {
        XCTAssertEqual(message(Train.self, ["--epochs", "-1"]), "--epochs must be positive, got -1")
        XCTAssertEqual(message(Train.self, ["--lr", "-0.1"]), "--lr must be a positive number, got -0.1")
        XCTAssertEqual(message(Train.self, ["--checkpoint-every", "-5"]), "--checkpoint-every must not be negative, got -5")
        XCTAssertEqual(message(Train.self, ["--seed", "-1"]),
                       "The value '-1' is invalid for '--seed <seed>': a seed is a whole number from 0 to 18446744073709551615")
        XCTAssertEqual(message(Generate.self, ["/nonexistent", "--prompt", "a", "--top-p", "-1"]), "--top-p must be in [0, 1], got -1.0")
        XCTAssertEqual(message(Generate.self, ["/nonexistent", "--prompt", "a", "--top-k", "0"]), "--top-k must be at least 1, got 0")
        XCTAssertEqual(message(Generate.self, ["/nonexistent", "--prompt", "a", "--temperature", "-2"]),
                       "--temperature must be a positive number, got -2.0 (--greedy takes the most likely token)")
        XCTAssertEqual(message(Generate.self, ["/nonexistent", "--prompt", "a", "--greedy", "--top-k", "3"]),
                       "--greedy takes the most likely token: drop --temperature, --top-k and --top-p, or drop --greedy to sample")
        XCTAssertEqual(message(Generate.self, ["/nonexistent", "--prompt", "a", "--max-new-tokens", "-3"]),
                       "--max-new-tokens must not be negative, got -3")
        XCTAssertEqual(message(Predict.self, ["/nonexistent", "x.png", "--top-k", "-1"]), "--top-k must be positive, got -1")
        XCTAssertEqual(message(Summary.self, ["resnet8", "--classes", "-1"]), "--classes must be positive, got -1")
        XCTAssertEqual(message(Summary.self, ["gpt", "--length", "-4"]), "--length must be positive, got -4")
        XCTAssertEqual(message(Eval.self, ["/nonexistent", "--val-size", "-1"]), "--val-size must be positive, got -1")
        XCTAssertEqual(message(Embed.self, ["--model", "/nonexistent", "x", "--batch-size", "-1"]), "--batch-size must be positive, got -1")
        XCTAssertEqual(message(Bench.self, ["W1", "--reps", "-1"]), "--reps must be positive, got -1")
    }

    func testPrecisionIsValidatedByEveryCommand() {
        XCTAssertEqual(message(Train.self, ["--precision", "bf17"]), "--precision must be one of fp32, bf16, fp16, got 'bf17'")
        XCTAssertEqual(message(Bench.self, ["W4", "--precision", "fp16"]), "--precision fp16: expected fp32 or bf16")
        XCTAssertEqual(message(Bench.self, ["W1", "--precision", "bf16"]), "--precision bf16: runs W4, W5, W6 and W7, not W1")
        XCTAssertEqual(message(Predict.self, ["/nonexistent", "x.png", "--precision", "int8"]), "--precision int8: expected fp32 or bf16")
        XCTAssertEqual(message(Embed.self, ["--model", "/nonexistent", "x", "--precision", "fp16"]), "--precision fp16: expected fp32 or bf16")
        XCTAssertEqual(message(Generate.self, ["/nonexistent", "--prompt", "a", "--precision", "half"]), "--precision half: expected fp32 or bf16")
    }

    func testBenchRefusesAMissingMiniLMFolder() {
        XCTAssertEqual(message(Bench.self, ["W7", "--minilm", "/nonexistent"]),
                       "--minilm /nonexistent: no such folder (give the all-MiniLM-L6-v2 folder that scripts/fetch-minilm.sh fills)")
    }

    /// Sizes are checked against this machine's memory before anything is allocated.
    func testSizesBeyondMemoryAreOneLine() throws {
        try XCTSkipIf(MemoryLimit.physicalBytes > 200_000_000_000, "a machine this large holds the models below")
        let memory = "more than this machine's \(MemoryLimit.formatted(MemoryLimit.physicalBytes)) of memory"
        XCTAssertEqual(message(Summary.self, ["resnet8", "--classes", "1000000000"]),
                       "'resnet8' with --classes 1000000000 is too large: its weights need 256.0 GB, \(memory)")
        XCTAssertEqual(message(Summary.self, ["resnet8", "--input-shape", "3,20000,20000"]),
                       "'resnet8' with --input-shape 3,20000,20000 is too large: one example's activations need 81.6 GB, \(memory)")
        for model in ["transformer", "bert", "gpt"] {
            XCTAssertEqual(message(Summary.self, [model, "--length", "100000"])?.hasPrefix("'\(model)' with --length 100000 is too large: "), true)
        }
        XCTAssertEqual(message(Train.self, ["--train-size", "9000000000000000000"]),
                       "--train-size 9000000000000000000 is too large: the examples of the built-in shapes dataset would need "
                       + "more bytes than can be counted (over 9.2 EB), \(memory)")
    }

    /// A run's model.json that no model can be built from names the field and the value.
    func testAnImpossibleModelDescriptionIsOneLine() throws {
        // What predict and summary say about the run.
        func refusal(_ run: String) -> [String?] {
            [message(Predict.self, [run, "x.png"]), message(Summary.self, [run])]
        }
        func expect(_ input: [String: Any], _ member: String, _ problem: String, line: UInt = #line) throws {
            let run = try runWithInput(input)
            let expected = "run model description \(run)/model.json, \(member): \(problem)"
            XCTAssertEqual(refusal(run), [expected, expected], line: line)
        }
        try expect(image(["channels": 0]), "input.image.channels", "is 0; images have 1 to 4 channels")
        try expect(image(["channels": -1]), "input.image.channels", "is -1; images have 1 to 4 channels")
        try expect(image(["height": 0]), "input.image.height", "is 0; it must be positive")
        try expect(image(["height": -32]), "input.image.height", "is -32; it must be positive")
        try expect(image(["mean": [0.5]]), "input.image.mean", "has 1 values for 3 channels; it needs one per channel")
        try expect(image(["std": [0, 0, 0]]), "input.image.std[0]", "is 0.0; a standard deviation must be positive and finite")
        try expect(image(["std": []]), "input.image.std", "has 0 values for 3 channels; it needs one per channel")

        let noClasses = try copyOfRun { $0["classNames"] = [] }
        let expected = "run model description \(noClasses)/model.json, classNames: is empty; a classifier has at least one class"
        XCTAssertEqual(refusal(noClasses), [expected, expected])

        let huge = try runWithInput(image(["height": 1_000_000, "width": 1_000_000]))
        for text in refusal(huge) {
            XCTAssertEqual(text?.hasPrefix("run model description \(huge)/model.json: the model 'linear' for input [3, 1000000, 1000000] "
                                           + "and 10 outputs is too large: its weights need 120.0 TB, more than this machine's"), true, text ?? "")
        }

        // A language model's description, refused before its checkpoint is read.
        for (key, value) in [("maxLength", 0), ("vocabularySize", 0)] {
            var tokens: [String: Any] = ["vocabularySize": 257, "maxLength": 16, "paddingID": 256]
            tokens[key] = value
            let gpt = try copyOfRun { $0["model"] = "gpt"; $0["classNames"] = []; $0["input"] = ["tokens": tokens] }
            XCTAssertEqual(message(Generate.self, [gpt, "--prompt", "the"]),
                           "run model description \(gpt)/model.json, input.tokens.\(key): is 0; it must be positive")
        }
        let notJSON = try copyOfRun { $0["model"] = 5 }
        XCTAssertEqual(message(Summary.self, [notJSON]), "run model description \(notJSON)/model.json, model: expected a string")
    }

    func testResumingChecksTheRunsFilesBeforeTraining() throws {
        let run = try copyOfRun(editing: "config.json") { _ in }
        XCTAssertEqual(message(Train.self, ["--resume", "--out", run, "--epochs", "1"]),
                       "cannot resume with --epochs 1: the run in \(run) has already trained 2 epochs; give --epochs 2 or more")

        let huge = try copyOfRun(editing: "config.json") { $0["trainSize"] = 1_000_000_000_000_000_000 }
        XCTAssertEqual(message(Train.self, ["--resume", "--out", huge])?.hasPrefix(
            "run configuration \(huge)/config.json: --train-size 1000000000000000000 is too large: the examples of the built-in shapes dataset would need"), true)
        let negative = try copyOfRun(editing: "config.json") { $0["epochs"] = -3 }
        XCTAssertEqual(message(Train.self, ["--resume", "--out", negative]),
                       "run configuration \(negative)/config.json, epochs: is -3; it must be positive")

        // Counts no run writes, in a checkpoint whose checksum is valid.
        let url = URL(fileURLWithPath: run).appendingPathComponent("checkpoints/last.ckpt")
        var checkpoint = try TrainingCheckpoint(contentsOf: url)
        checkpoint.progress.epoch = -1
        try checkpoint.write(to: url)
        XCTAssertEqual(message(Train.self, ["--resume", "--out", run, "--epochs", "3"]),
                       "checkpoint \(url.path), progress.epoch: -1 is negative; counts start at 0")

        // Edited by hand: the checksum covers the header.
        var bytes = try Data(contentsOf: url)
        let range = try XCTUnwrap(bytes.range(of: Data(#"\"epoch\":-1"#.utf8)))
        bytes.replaceSubrange(range, with: Data(#"\"epoch\":01"#.utf8))
        try bytes.write(to: url)
        XCTAssertEqual(message(Train.self, ["--resume", "--out", run, "--epochs", "3"]),
                       "checkpoint \(url.path): corrupt: the header or the tensor data does not match its checksum")
    }

    /// A directory becomes a run with its first checkpoint: `--resume` without `--out` skips
    /// a runs/train-N that a failed start left without one.
    func testResumeSkipsDirectoriesWithoutACheckpoint() throws {
        let directory = try temporaryDirectory()
        let previous = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(directory.path)
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        XCTAssertEqual(message(Train.self, ["--resume"]), "no run to resume: runs/ holds no train-N directory (give --out DIR)")
        try FileManager.default.createDirectory(atPath: "runs/train-2/checkpoints", withIntermediateDirectories: true)
        XCTAssertEqual(message(Train.self, ["--resume"]), "no run to resume: no runs/train-N directory holds a checkpoint yet (give --out DIR)")
        try FileManager.default.copyItem(atPath: try Self.run.get(), toPath: "runs/train-1")
        XCTAssertEqual(try Train.defaultOutput(resuming: true), "runs/train-1")
        XCTAssertEqual(try Train.defaultOutput(resuming: false), "runs/train-3")
        XCTAssertEqual(message(Train.self, ["--resume", "--out", "runs/train-2"]),
                       "cannot resume: \(URL(fileURLWithPath: "runs/train-2").path) holds no checkpoint (checkpoints/last.ckpt); its training never saved one: start it again without --resume")
    }
}
