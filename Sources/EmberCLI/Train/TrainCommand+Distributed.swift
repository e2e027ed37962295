import ArgumentParser
import Ember
import EmberDistributed
import Foundation

/// `ember train --nproc N`: the command starts itself N times under mpirun, as torchrun does.
extension Train {
    /// With `--nproc` above 1 outside an MPI job, runs this command as the ranks of one and
    /// returns true when they have finished; false when this process should train itself.
    func launchRanks() throws -> Bool {
        if let nproc, nproc < 1 { throw CommandError("--nproc must be at least 1, got \(nproc)") }
        let hostList = try hosts.map(Self.parseHosts) ?? []
        if !hostList.isEmpty && nproc == nil { throw CommandError("--hosts needs --nproc (the number of processes in all)") }
        guard let nproc, nproc > 1, !MPIProcessGroup.isLaunchedByMPI else { return false }
        guard MPILaunch.mpirunPath() != nil else {
            throw CommandError("--nproc \(nproc) needs Open MPI's mpirun, which is not installed (Debian: apt-get install openmpi-bin libopenmpi-dev)")
        }
        // The ranks must share one output directory: choose it once, here.
        var arguments = Self.removingOptions(["--nproc", "--hosts"], from: Array(CommandLine.arguments.dropFirst()))
        if out == nil { arguments += ["--out", try Self.defaultOutput(resuming: resume)] }
        let program = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let status = try MPILaunch(processes: nproc, hosts: hostList).run(program: program, arguments: arguments)
        if status != 0 { throw ExitCode(status) }
        return true
    }

    /// How the training state of `model` is sharded across the ranks (--zero, --fsdp,
    /// --fsdp-wrap); nil: replicated.
    func sharding(for model: String) throws -> TrainingSharding? {
        if fsdp { return .fullyShard(try fsdpWrap.map(FSDPWrap.parse) ?? FSDPWrap.defaultWrap(for: model)) }
        return zero.flatMap(ZeroStage.init(rawValue:)).map { .zero($0) }
    }

    /// Checks --zero, --fsdp and --fsdp-wrap (against `model` when known), and that the
    /// run's `precision` does not scale the loss.
    func validateSharding(precision: String?, model: String?) throws {
        if let fsdpWrap {
            let wrap = try FSDPWrap.parse(fsdpWrap)
            guard fsdp else { throw CommandError("--fsdp-wrap \(fsdpWrap) needs --fsdp (it chooses the fully sharded units)") }
            if let model { try wrap.check(model: model) }
        }
        if let zero, ZeroStage(rawValue: zero) == nil {
            throw CommandError("--zero must be 1 (shard the optimizer state) or 2 (also the gradients), got \(zero)")
        }
        if fsdp, let zero {
            throw CommandError("--fsdp cannot be combined with --zero \(zero): fully sharded training already shards the optimizer state and the gradients")
        }
        if precision == "fp16", let flag = fsdp ? "--fsdp" : zero.map({ "--zero \($0)" }) {
            throw CommandError("--precision fp16 cannot be combined with \(flag): loss scaling would let each rank skip steps alone; use fp32 or bf16")
        }
    }

    /// "a,b:2" as hosts; each a name with an optional positive slot count.
    static func parseHosts(_ text: String) throws -> [String] {
        let hosts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for host in hosts {
            let parts = host.split(separator: ":", omittingEmptySubsequences: false)
            guard !parts[0].isEmpty, parts.count <= 2, parts.count == 1 || (Int(parts[1]).map { $0 > 0 } ?? false) else {
                throw CommandError("--hosts '\(text)': '\(host)' is not a host name with an optional positive slot count (name or name:slots)")
            }
        }
        return hosts
    }

    /// The arguments without the named options and their values (`--name value` or `--name=value`).
    static func removingOptions(_ names: Set<String>, from arguments: [String]) -> [String] {
        var result = [String]()
        var skipNext = false
        for argument in arguments {
            if skipNext {
                skipNext = false
            } else if names.contains(argument) {
                skipNext = true
            } else if !names.contains(where: { argument.hasPrefix($0 + "=") }) {
                result.append(argument)
            }
        }
        return result
    }

    /// The output directory, the same on every rank: rank 0's choice when --out is not given.
    func agreedOutput(_ group: any ProcessGroup) throws -> String {
        if let out { return out }
        var chosen = group.rank == 0 ? try Self.defaultOutput(resuming: resume) : ""
        if group.worldSize > 1 {
            // The path's UTF-8 bytes, padded to a length all ranks know.
            let length = Tensor([Int64(chosen.utf8.count)], shape: [1])
            try group.broadcast(length, root: 0)
            var bytes = chosen.utf8.map { Int32($0) }
            bytes += [Int32](repeating: 0, count: Int(length.item()) - bytes.count)
            let tensor = Tensor(bytes, shape: [bytes.count])
            try group.broadcast(tensor, root: 0)
            chosen = String(decoding: tensor.scalars(as: Int32.self).map { UInt8($0) }, as: UTF8.self)
        }
        return chosen
    }
}
