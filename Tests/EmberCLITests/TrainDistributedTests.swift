import Foundation
import XCTest
@testable import EmberCLI

/// `ember train --nproc`: its option errors, and two ranks started through mpirun by the
/// built `ember` (skipped, with the reason, without mpirun).
final class TrainDistributedTests: XCTestCase {
    func testBadDistributedOptionsAreOneLineErrors() {
        XCTAssertEqual(message(Train.self, ["--nproc", "0"]), "--nproc must be at least 1, got 0")
        XCTAssertEqual(message(Train.self, ["--hosts", "a,b"]), "--hosts needs --nproc (the number of processes in all)")
        XCTAssertEqual(message(Train.self, ["--nproc", "2", "--hosts", "a,b:0"]),
                       "--hosts 'a,b:0': 'b:0' is not a host name with an optional positive slot count (name or name:slots)")
    }

    func testBadShardingOptionsAreOneLineErrors() {
        XCTAssertEqual(message(Train.self, ["--zero", "3"]), "--zero must be 1 (shard the optimizer state) or 2 (also the gradients), got 3")
        XCTAssertEqual(message(Train.self, ["--nproc", "2", "--zero", "0"]), "--zero must be 1 (shard the optimizer state) or 2 (also the gradients), got 0")
        XCTAssertEqual(message(Train.self, ["--fsdp", "--zero", "1"]),
                       "--fsdp cannot be combined with --zero 1: fully sharded training already shards the optimizer state and the gradients")
        XCTAssertEqual(message(Train.self, ["--zero", "2", "--precision", "fp16"]),
                       "--precision fp16 cannot be combined with --zero 2: loss scaling would let each rank skip steps alone; use fp32 or bf16")
        XCTAssertEqual(message(Train.self, ["--fsdp", "--precision", "fp16"]),
                       "--precision fp16 cannot be combined with --fsdp: loss scaling would let each rank skip steps alone; use fp32 or bf16")
    }

    func testBadFSDPWrapOptionsAreOneLineErrors() {
        let allowed = "block (each transformer block a unit), size:N (each layer of at least N parameters, N a positive whole number) or model (the whole model one unit)"
        XCTAssertEqual(message(Train.self, ["--fsdp", "--fsdp-wrap", "layers"]), "--fsdp-wrap must be \(allowed), got 'layers'")
        XCTAssertEqual(message(Train.self, ["--fsdp", "--fsdp-wrap", "size:0"]), "--fsdp-wrap must be \(allowed), got 'size:0'")
        XCTAssertEqual(message(Train.self, ["--fsdp", "--fsdp-wrap", "size:"]), "--fsdp-wrap must be \(allowed), got 'size:'")
        XCTAssertEqual(message(Train.self, ["--model", "gpt", "--fsdp-wrap", "block"]), "--fsdp-wrap block needs --fsdp (it chooses the fully sharded units)")
        XCTAssertEqual(message(Train.self, ["--fsdp", "--fsdp-wrap", "block", "--model", "mlp"]),
                       "--fsdp-wrap block: model 'mlp' has no transformer blocks that can be units (gpt has); use size:N or model")
        // The default model (resnet8) has no blocks either.
        XCTAssertEqual(message(Train.self, ["--fsdp", "--fsdp-wrap", "block"]),
                       "--fsdp-wrap block: model 'resnet8' has no transformer blocks that can be units (gpt has); use size:N or model")
        XCTAssertEqual(message(Train.self, ["--fsdp", "--fsdp-wrap", "size:1000", "--model", "bert"]),
                       "--fsdp-wrap size:1000: model 'bert' passes padding masks to its layers, which a unit cannot take; use model")
        XCTAssertEqual(try FSDPWrap.parse("size:5000"), .size(5000))
        XCTAssertEqual(FSDPWrap.defaultWrap(for: "gpt"), .block)
        XCTAssertEqual(FSDPWrap.defaultWrap(for: "transformer"), .model)
    }

    /// gpt in two ranks: --fsdp (one unit per block by default) and --fsdp-wrap size:N log
    /// the metrics of plain data parallelism; the per-block run resumes in one process with
    /// the whole model one unit, and ember eval reads its checkpoint.
    func testFullyShardedGPTPerBlockLogsDataParallelMetricsAndResumes() throws {
        let ember = try emberProgram()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ember-fsdp-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let common = ["--nproc", "2", "--model", "gpt", "--max-length", "16", "--train-size", "32", "--val-size", "8",
                      "--batch-size", "8", "--optimizer", "adam", "--schedule", "none", "--workers", "0", "--epochs", "2"]
        let plain = root.appendingPathComponent("ddp").path
        try run(ember, ["train", "--out", plain] + common)
        let expected = Self.csvValues(plain)
        XCTAssertEqual(expected.count, 2)
        for (flags, banner) in [(["--fsdp"], "one unit per transformer block (5 units)"),
                                (["--fsdp", "--fsdp-wrap", "size:60000"], "one unit per layer of at least 60000 parameters (9 units)")] {
            let out = root.appendingPathComponent(flags.joined()).path
            let output = try run(ember, ["train", "--out", out] + common + flags)
            XCTAssert(output.contains(banner), output)
            let got = Self.csvValues(out)
            XCTAssertEqual(got.count, expected.count, "\(flags)")
            for (row, want) in zip(got, expected) {
                XCTAssertEqual(row.count, want.count)
                for (a, b) in zip(row, want) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b)), "\(flags): \(row) against DDP's \(want)") }
            }
        }
        let resumed = root.appendingPathComponent("resumed").path
        try run(ember, ["train", "--out", resumed, "--fsdp"] + common.dropLast(2) + ["--epochs", "1"])
        let output = try run(ember, ["train", "--resume", "--out", resumed, "--epochs", "2", "--nproc", "1", "--fsdp", "--fsdp-wrap", "model",
                                     "--workers", "0"])
        XCTAssert(output.contains("Resuming \(resumed) after epoch 1 of 2"), output)
        let got = Self.csvValues(resumed)
        XCTAssertEqual(got.count, 2)
        // Epoch 2 trains on the global batch of one rank (8, not 16): only its first epoch equals DDP's.
        for (a, b) in zip(got[0], expected[0]) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b))) }
        let evaluated = try run(ember, ["eval", resumed])
        XCTAssert(evaluated.contains("loss"), evaluated)
    }

    func testTheRelaunchDropsOnlyTheLaunchOptions() {
        XCTAssertEqual(Train.removingOptions(["--nproc", "--hosts"], from: ["--nproc", "2", "--epochs", "3", "--hosts=a:2", "--out", "x"]),
                       ["--epochs", "3", "--out", "x"])
    }

    /// Two ranks with ZeRO stage 2 and with FSDP log the losses and metrics of plain data
    /// parallelism; a ZeRO-1 run saved after one epoch in two ranks resumes in one process.
    func testShardedRunsLogDataParallelMetricsAndResumeInOneProcess() throws {
        let ember = try emberProgram()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ember-zero-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        // 16 validation examples: the padded shares of FSDP equal the exact ones of DDP.
        let common = ["--nproc", "2", "--model", "mlp", "--train-size", "64", "--val-size", "16", "--batch-size", "16",
                      "--optimizer", "adam", "--schedule", "none", "--workers", "0", "--epochs", "2"]
        let plain = root.appendingPathComponent("ddp").path
        try run(ember, ["train", "--out", plain] + common)
        let expected = Self.csvValues(plain)
        XCTAssertEqual(expected.count, 2)
        for (flags, banner) in [(["--zero", "2"], "ZeRO stage 2: optimizer state and gradients sharded across 2 rank(s)"),
                                (["--fsdp"], "Fully sharded: parameters, gradients and optimizer state sharded across 2 rank(s)")] {
            let out = root.appendingPathComponent(flags.joined()).path
            let output = try run(ember, ["train", "--out", out] + common + flags)
            XCTAssert(output.contains(banner), output)
            let got = Self.csvValues(out)
            XCTAssertEqual(got.count, expected.count, "\(flags)")
            for (row, want) in zip(got, expected) {
                XCTAssertEqual(row.count, want.count)
                for (a, b) in zip(row, want) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b)), "\(flags): \(row) against DDP's \(want)") }
            }
        }
        let resumed = root.appendingPathComponent("resumed").path
        try run(ember, ["train", "--out", resumed, "--zero", "1"] + common.dropLast(2) + ["--epochs", "1"])
        XCTAssertEqual(Self.csvValues(resumed).count, 1)
        let output = try run(ember, ["train", "--resume", "--out", resumed, "--epochs", "2", "--nproc", "1", "--zero", "1", "--workers", "0"])
        XCTAssert(output.contains("Resuming \(resumed) after epoch 1 of 2"), output)
        XCTAssertEqual(Self.csvValues(resumed).count, 2)
    }

    /// The built `ember` beside the tests, with mpirun installed (else the test is skipped).
    private func emberProgram() throws -> URL {
        guard getenv("PATH").map({ String(cString: $0) })?.split(separator: ":").contains(where: {
            FileManager.default.isExecutableFile(atPath: "\($0)/mpirun")
        }) == true else { throw XCTSkip("mpirun is not installed (Debian: openmpi-bin; scripts/install-deps.sh installs it)") }
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()].map { $0.appendingPathComponent("ember") }
        guard let ember = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip("ember was not built beside the tests (\(candidates.map(\.path)))")
        }
        return ember
    }

    /// metrics.csv's data rows as numbers, all columns but the epoch's seconds.
    private static func csvValues(_ directory: String) -> [[Double]] {
        csvRows(directory).dropFirst().map { $0.split(separator: ",").compactMap { Double($0) } }
    }

    /// Two ranks train 2 epochs. The same run with rank 1 killed by SIGKILL once the first
    /// epoch's checkpoint is written stops with mpirun's message, keeps that checkpoint, and
    /// resumed gives the same metrics; rank 0 alone writes.
    func testARankKilledMidRunResumesToTheMetricsOfAnUninterruptedRun() throws {
        let ember = try emberProgram()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ember-nproc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let common = ["--nproc", "2", "--model", "mlp", "--train-size", "64", "--val-size", "15", "--batch-size", "16",
                      "--schedule", "none", "--workers", "0", "--epochs", "2"]
        let whole = root.appendingPathComponent("whole").path, killed = root.appendingPathComponent("killed").path
        let output = try run(ember, ["train", "--out", whole] + common)
        XCTAssert(output.contains("Data-parallel on 2 ranks: batch 16 per rank, global batch 32"), output)

        let interrupted = try run(ember, ["train", "--out", killed] + common, expectingSuccess: false) { process in
            // Once epoch 1 is saved, during epoch 2: SIGKILL the rank-1 process.
            let checkpoint = killed + "/checkpoints/last.ckpt"
            while !FileManager.default.fileExists(atPath: checkpoint) && process.isRunning { usleep(20_000) }
            guard let pid = Self.rankProcess(1, mentioning: killed) else { return XCTFail("rank 1 of the run in \(killed) not found") }
            kill(pid, SIGKILL)
        }
        XCTAssert(interrupted.contains("exited on signal 9"), interrupted)
        XCTAssertEqual(Self.csvRows(killed).count, 2, "the killed run should have logged epoch 1 only")
        try run(ember, ["train", "--nproc", "2", "--resume", "--epochs", "2", "--out", killed, "--workers", "0"])
        XCTAssertEqual(Self.csvRows(killed), Self.csvRows(whole))
        XCTAssertEqual(Self.csvRows(whole).count, 3)
    }

    /// metrics.csv's rows, all columns but the last (the epoch's seconds).
    private static func csvRows(_ directory: String) -> [String] {
        let csv = (try? String(contentsOfFile: directory + "/metrics.csv", encoding: .utf8)) ?? ""
        return csv.split(separator: "\n").map { $0.split(separator: ",").dropLast().joined(separator: ",") }
    }

    /// The process of `rank` among those mpirun started with `text` in their arguments.
    private static func rankProcess(_ rank: Int, mentioning text: String) -> pid_t? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry),
                  let arguments = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                  let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
            let argv = arguments.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let variables = environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if argv.first?.hasSuffix("/ember") == true && argv.contains(text) && variables.contains("OMPI_COMM_WORLD_RANK=\(rank)") {
                return pid
            }
        }
        return nil
    }

    /// Runs `program` to its end, calling `whileRunning` once it has started, and returns its
    /// output; an exit status other than the expected (zero, or nonzero) fails the test.
    @discardableResult
    private func run(_ program: URL, _ arguments: [String], expectingSuccess: Bool = true,
                     whileRunning: (Process) -> Void = { _ in }) throws -> String {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        final class Output: @unchecked Sendable { var data = Data() }
        let output = Output()
        let reading = Thread { output.data = pipe.fileHandleForReading.readDataToEndOfFile() }
        reading.start()
        whileRunning(process)
        process.waitUntilExit()
        while !reading.isFinished { usleep(10_000) }
        let text = String(decoding: output.data, as: UTF8.self)
        XCTAssertEqual(process.terminationStatus == 0, expectingSuccess,
                       "ember \(arguments.joined(separator: " ")) exited with \(process.terminationStatus):\n\(text)")
        return text
    }
}
