import Ember
import EmberDistributed
import EmberModels
import EmberNN
import EmberOptim
import Foundation

/// W10, data-parallel scaling: W3's training step (ResNet-18 CIFAR, batch 64 per rank, SGD
/// momentum 0.9) in 1 rank and, data-parallel with DistributedDataParallel, in 2 ranks, each
/// rank one process with one compute thread, started through mpirun by `ember bench W10`
/// itself. The figure is the scaling efficiency: the images/s of 2 ranks over twice the
/// images/s of 1 rank (ideal 1.0); both images/s are reported too, and the bus bandwidth
/// of an allreduce of ResNet-18's gradients between the 2 ranks (ring allreduce moves
/// 2(N-1)/N times the bytes through each rank), for projecting to more ranks.
enum DataParallelScaling {
    static let id = "W10"
    static let name = "data-parallel scaling: W3's step, batch 64 per rank, 2 ranks x 1 thread vs 1 rank x 1 thread"
    static let batchPerRank = 64
    /// Marks the line with the timings that rank 0 prints for the launching process.
    static let marker = "ember-w10-rank-timings"
    static let bandwidthMarker = "ember-w10-allreduce-gb-per-s"

    /// Launches the 1-rank and the 2-rank jobs and returns the result row.
    static func measure(reps: Int) throws -> [String: Any] {
        let program = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var medians = [Int: Double](), extremes = [Int: (min: Double, max: Double)]()
        var bandwidth: Double?
        for ranks in [1, 2] {
            let launch = MPILaunch(processes: ranks, threadsPerProcess: 1)
            let (status, output) = try launch.runCapturingOutput(program: program, arguments: ["bench", id, "--reps", String(reps)])
            guard status == 0, let line = output.split(separator: "\n").first(where: { $0.hasPrefix(marker + " ") }) else {
                throw CommandError("\(id): the \(ranks)-rank job failed (mpirun exit status \(status)):\n\(output)")
            }
            let figures = line.split(separator: " ").dropFirst().compactMap { Double($0) }.sorted()
            guard figures.count == reps else { throw CommandError("\(id): the \(ranks)-rank job printed '\(line)'") }
            if let line = output.split(separator: "\n").first(where: { $0.hasPrefix(bandwidthMarker + " ") }) {
                bandwidth = Double(line.split(separator: " ")[1])
            }
            medians[ranks] = figures[figures.count / 2]
            extremes[ranks] = (figures.first!, figures.last!)
        }
        let one = medians[1]!, two = medians[2]!
        return [
            "workload": id, "impl": "ember", "unit": "efficiency", "name": name,
            "median": two / (2 * one),
            // The least and most the efficiency can be, given the spread of both jobs.
            "min": extremes[2]!.min / (2 * extremes[1]!.max), "max": extremes[2]!.max / (2 * extremes[1]!.min),
            "images_per_s_1_rank": one, "images_per_s_2_ranks": two, "allreduce_bus_gb_per_s": bandwidth ?? Double.nan,
        ]
    }

    /// A rank of a W10 job (under mpirun): 2 warm-up steps, then `reps` timed steps, each
    /// between barriers so that it is the slowest rank's time; rank 0 prints the global
    /// images/s of each. A single rank trains the plain model, several the model wrapped in
    /// DistributedDataParallel, each rank on its own batch.
    static func runRank(reps: Int) throws {
        let group = try MPIProcessGroup.world()
        let model = ResNet.resnet18Cifar()
        let step: any Layer = group.worldSize > 1 ? try DistributedDataParallel(model, group: group) : model
        let optimizer = SGD(model.parameters(), lr: 0.01, momentum: 0.9)
        let x = Tensor.randomNormal([batchPerRank, 3, 32, 32], source: .key(Key(UInt64(2 + 10 * group.rank))))
        let labels = Tensor.randomIntegers([batchPerRank], high: 10, source: .key(Key(UInt64(3 + 10 * group.rank))))
        var figures = [Double]()
        for rep in 0..<(2 + reps) {
            try group.barrier()
            let seconds = elapsed {
                let loss = crossEntropy(logits: step(x), labels: labels)
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
            }
            // The step ends for all when the slowest rank's ends.
            let slowest = Tensor([seconds], shape: [1])
            try group.allReduce(slowest, op: .max)
            if rep >= 2 { figures.append(Double(group.worldSize * batchPerRank) / slowest.item()) }
        }
        if group.rank == 0 { print(([marker] + figures.map { String($0) }).joined(separator: " ")) }
        if group.worldSize > 1 {
            let bandwidth = try allReduceBusBandwidth(elements: model.parameterCount, group: group, reps: reps)
            if group.rank == 0 { print("\(bandwidthMarker) \(bandwidth)") }
        }
    }

    /// The median bus bandwidth in GB/s of allreduces (average) of `elements` float32s.
    static func allReduceBusBandwidth(elements: Int, group: any ProcessGroup, reps: Int) throws -> Double {
        let tensor = Tensor.ones([elements])
        var figures = [Double]()
        for rep in 0..<(1 + reps) {
            try group.barrier()
            let start = DispatchTime.now().uptimeNanoseconds
            try group.allReduce(tensor, op: .average)
            let seconds = Tensor([Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9], shape: [1])
            try group.allReduce(seconds, op: .max)
            let n = Double(group.worldSize)
            if rep > 0 { figures.append(2 * (n - 1) / n * Double(elements * 4) / seconds.item() / 1e9) }
        }
        return figures.sorted()[figures.count / 2]
    }
}
