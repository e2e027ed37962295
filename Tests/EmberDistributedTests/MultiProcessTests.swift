import Foundation
import XCTest

/// Runs the checks of Tests/DistributedChecks in two processes under Open MPI's mpirun, one
/// compute thread each (the machine may have two cores), and alone as a world of one.
/// Skipped, with the reason, where mpirun is not installed (scripts/install-deps.sh
/// installs it).
final class MultiProcessTests: XCTestCase {
    func testCollectivesInTwoProcesses() throws { try runUnderMPI("collectives") }
    func testCollectivesInOneProcessWithoutMPI() throws { try runAlone("collectives") }
    func testRanksThatDisagreeAllThrowNamingTheMismatch() throws {
        let output = try runUnderMPI("mismatch")
        XCTAssert(output.contains("rank 0: allreduce #1: the ranks disagree: rank 0 called allreduce(sum) of float32 [4] as collective #1; rank 1 called allreduce(sum) of float32 [5] as collective #1"), output)
    }
    func testARankThatWaitsPastTheTimeoutNamesTheCollectiveAndTheJobStops() throws {
        let output = try runUnderMPI("timeout", expectingSuccess: false)
        XCTAssert(output.contains("timeout seen: rank 0: allreduce #1: timed out after 0.5 seconds"), output)
        XCTAssertFalse(output.contains("rank 1 woke"), output)
    }
    func testDataParallelMLPEqualsOneProcessOnTheWholeBatch() throws { try runUnderMPI("ddp-mlp") }
    func testDataParallelTransformerEqualsOneProcessOnTheWholeBatch() throws { try runUnderMPI("ddp-transformer") }
    func testUnevenInputsUnderJoinDoNotHangAndMatchOneProcess() throws { try runUnderMPI("ddp-join") }
    func testJoinInOneProcessWithoutMPI() throws { try runAlone("ddp-join") }
    func testDataParallelMLPInOneProcessWithoutMPI() throws { try runAlone("ddp-mlp") }
    func testGradientAccumulationAndUnusedParameters() throws { try runUnderMPI("ddp-accumulate") }
    func testResNet8WithSyncBatchNormEqualsOneProcessOnTheWholeBatch() throws { try runUnderMPI("ddp-resnet8-syncbn") }
    func testZeroStagesOneAndTwoEqualOneProcessInTwoAndThreeRanks() throws {
        try runUnderMPI("zero")
        try runUnderMPI("zero", ranks: 3)
    }
    func testZeroInOneProcessWithoutMPI() throws { try runAlone("zero") }
    func testFullyShardedEqualsDataParallelInTwoAndThreeRanks() throws {
        try runUnderMPI("fsdp")
        try runUnderMPI("fsdp", ranks: 3)
    }
    func testFullyShardedInOneProcessWithoutMPI() throws { try runAlone("fsdp") }
    func testPipelineEqualsOneProcessInTwoAndThreeStages() throws {
        try runUnderMPI("pipeline")
        try runUnderMPI("pipeline", ranks: 3)
    }
    func testPipelineAndPmapInOneProcessWithoutMPI() throws {
        try runAlone("pipeline")
        try runAlone("pmap")
    }
    func testPmapCollectivesAndDataParallelStepEqualDDPInTwoAndThreeRanks() throws {
        try runUnderMPI("pmap")
        try runUnderMPI("pmap", ranks: 3)
    }
    func testFitDataParallelEqualsFitAloneAndOnlyRankZeroWrites() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-fit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try runUnderMPI("fit", directory.path)
    }

    func testFitWithShardedStateCheckpointsResumesExactlyAndAtOtherWorldSizes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-fit-sharded-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // Saved in two ranks (ZeRO-1, ZeRO-2, FSDP), resumed in three and in one.
        try runUnderMPI("fit-sharded", directory.path)
        try runUnderMPI("fit-resume", directory.path, ranks: 3)
        try runAlone("fit-resume", directory.path)
    }

    // MARK: Launching

    static let ranks = 2

    /// The checks program, built beside the test bundle.
    private func checksProgram() throws -> URL {
        let directories = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent(),
                           Bundle(for: Self.self).bundleURL.deletingLastPathComponent()]
        for directory in directories {
            let candidate = directory.appendingPathComponent("ember-distributed-checks")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw XCTSkip("ember-distributed-checks was not built beside the tests (looked in \(directories.map(\.path)))")
    }

    private func mpirun() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/mpirun"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw XCTSkip("mpirun is not installed (Debian: openmpi-bin; scripts/install-deps.sh installs it)")
    }

    /// Runs a check in `ranks` ranks (two unless stated: three give uneven shards); unless
    /// `expectingSuccess` is false, every rank must pass it.
    @discardableResult
    private func runUnderMPI(_ check: String, _ extra: String..., ranks: Int = MultiProcessTests.ranks, expectingSuccess: Bool = true) throws -> String {
        let arguments = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-n", String(ranks),
                         "-x", "EMBER_NUM_THREADS=1", "-x", "OMP_NUM_THREADS=1", try checksProgram().path, check] + extra
        let output = try run(try mpirun(), arguments, expectingSuccess: expectingSuccess)
        if !expectingSuccess { return output }
        for rank in 0..<ranks {
            XCTAssert(output.contains("ok \(check) rank \(rank) of \(ranks)"), "rank \(rank) did not finish:\n\(output)")
        }
        return output
    }

    private func runAlone(_ check: String, _ extra: String...) throws {
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("OMPI_") || key.hasPrefix("PMIX_") || key.hasPrefix("PMI_") {
            environment[key] = nil
        }
        let output = try run(try checksProgram().path, [check] + extra, environment: environment)
        XCTAssert(output.contains("ok \(check) rank 0 of 1"), output)
    }

    /// Runs a program to its end (killed after two minutes) and returns its output; an exit
    /// status other than the expected (zero, or nonzero) fails the test with the output.
    private func run(_ program: String, _ arguments: [String], environment: [String: String]? = nil,
                     expectingSuccess: Bool = true) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let timer = DispatchSource.makeTimerSource()
        timer.schedule(deadline: .now() + 120)
        timer.setEventHandler { process.terminate() }
        timer.resume()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        timer.cancel()
        let output = String(decoding: data, as: UTF8.self)
        XCTAssertEqual(process.terminationStatus == 0, expectingSuccess,
                       "\(program) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus):\n\(output)")
        return output
    }
}
