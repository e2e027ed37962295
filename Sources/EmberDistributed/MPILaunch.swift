import Foundation

/// Starts a program as the ranks of an MPI job through Open MPI's `mpirun`, as `torchrun`
/// does for PyTorch: `ember train --nproc N` and `ember bench W10` relaunch themselves so.
///
/// Each rank gets `threadsPerProcess` compute threads (EMBER_NUM_THREADS and
/// OMP_NUM_THREADS), by default the machine's cores divided among the ranks of one host, so
/// that ranks do not fight over cores; ranks are not bound to cores and may outnumber them.
/// `hosts` lists other machines ("name" or "name:slots") reachable by ssh with the same
/// program at the same path.
public struct MPILaunch {
    public var processes: Int
    public var hosts: [String]
    public var threadsPerProcess: Int?
    /// More options for mpirun, before the program (`--mca btl tcp,self`).
    public var mpiArguments: [String]

    public init(processes: Int, hosts: [String] = [], threadsPerProcess: Int? = nil, mpiArguments: [String] = []) {
        self.processes = processes
        self.hosts = hosts
        self.threadsPerProcess = threadsPerProcess
        self.mpiArguments = mpiArguments
    }

    /// Where mpirun is on the PATH, if installed.
    public static func mpirunPath() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Compute threads per rank: the given number, else the cores shared by the ranks of
    /// the busiest host (at least one).
    public var threads: Int {
        if let threadsPerProcess { return threadsPerProcess }
        let hostCount = max(1, hosts.count)
        let ranksPerHost = (processes + hostCount - 1) / hostCount
        return max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, ranksPerHost))
    }

    /// mpirun's arguments to start `program` with `arguments` on every rank.
    public func mpirunArguments(program: String, arguments: [String]) -> [String] {
        var result = ["-n", String(processes), "--oversubscribe", "--bind-to", "none"]
        if getuid() == 0 { result.append("--allow-run-as-root") }
        if !hosts.isEmpty { result += ["--host", hosts.joined(separator: ",")] }
        result += ["-x", "EMBER_NUM_THREADS=\(threads)", "-x", "OMP_NUM_THREADS=\(threads)"]
        return result + mpiArguments + [program] + arguments
    }

    /// Runs the job to its end, its output going to this process's, and returns mpirun's
    /// exit status (nonzero when a rank failed or died; mpirun then stops the others).
    public func run(program: String, arguments: [String]) throws -> Int32 {
        let process = try makeProcess(program: program, arguments: arguments)
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Runs the job to its end and returns mpirun's exit status and the ranks' standard
    /// output (their standard error goes to this process's).
    public func runCapturingOutput(program: String, arguments: [String]) throws -> (status: Int32, output: String) {
        let process = try makeProcess(program: program, arguments: arguments)
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    private func makeProcess(program: String, arguments: [String]) throws -> Process {
        guard let mpirun = Self.mpirunPath() else {
            throw LaunchError(description: "Open MPI's mpirun is not installed (Debian: apt-get install openmpi-bin libopenmpi-dev)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mpirun)
        process.arguments = mpirunArguments(program: program, arguments: arguments)
        return process
    }
}

/// A job that cannot be started.
public struct LaunchError: Error, CustomStringConvertible, Equatable {
    public var description: String
}
