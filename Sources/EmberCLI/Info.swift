import ArgumentParser
import Ember
import Foundation

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version, CPU features, threads, oneDNN version and the vector kernels in use.")

    func run() {
        let features = ["avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "fma"]
        let flags = cpuFlags()
        print("Ember \(emberVersion)")
        print("backend: \(defaultBackend.name)")
        print("cpu: \(cpuModel() ?? "unknown")")
        print("cpu features: " + features.map { "\($0)=\(flags.contains($0) ? "yes" : "no")" }.joined(separator: " "))
        print("threads: \(ProcessInfo.processInfo.activeProcessorCount)")
        print("oneDNN: \(oneDNNVersion)")
        // Ember's own vector kernels; EMBER_CPU_DISPATCH=baseline forces the path for any x86-64 CPU.
        print("vector kernels: \(cpuDispatchPath)" + (cpuDispatchWarning.map { " (\($0))" } ?? ""))
    }

    func cpuInfoLines() -> [Substring] {
        ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "").split(separator: "\n")
    }

    func cpuModel() -> String? {
        cpuInfoLines().first { $0.hasPrefix("model name") }.flatMap { $0.split(separator: ":", maxSplits: 1).last }
            .map { $0.trimmingCharacters(in: .whitespaces) }
    }

    func cpuFlags() -> Set<String> {
        guard let line = cpuInfoLines().first(where: { $0.hasPrefix("flags") }) else { return [] }
        return Set(line.split(separator: ":", maxSplits: 1).last!.split(separator: " ").map(String.init))
    }
}
