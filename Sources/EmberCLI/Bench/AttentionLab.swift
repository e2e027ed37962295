import Ember
import Foundation

/// `ember bench --attention-lab`: fused scaled-dot-product attention against the unfused
/// formula (matmul, softmax, matmul, which holds the [L, S] scores) on one head of width 64,
/// L = S = 1024, 2048, 4096, plain and causal, forward and forward + backward. Each line has
/// the median time and the process's peak resident memory after it (Linux's VmHWM, reset
/// through /proc/self/clear_refs before each measurement where the kernel honours that; where
/// it does not, as in some containers, the figure only grows over the run, and the fused lines,
/// which come first for each length, are the ones to compare).
enum AttentionLab {
    static let lengths = [1024, 2048, 4096]
    static let width = 64

    static func run(reps: Int, json: Bool, seconds: (() -> Void) -> Double) {
        for length in lengths {
            let shape = [1, 1, length, width]
            let (q, k, v) = (Tensor.randomNormal(shape, source: .key(Key(1))), Tensor.randomNormal(shape, source: .key(Key(2))),
                             Tensor.randomNormal(shape, source: .key(Key(3))))
            let w = Tensor.randomNormal(shape, source: .key(Key(4)))
            let causalMask = Tensor.where(Tensor.arange(length).unsqueezed(axis: 0) .> Tensor.arange(length).unsqueezed(axis: 1),
                                          Tensor.scalar(-Double.infinity), Tensor.scalar(0))
            for causal in [false, true] {
                let implementations: [(String, ([Tensor]) -> Tensor)] = [
                    ("fused", { x in scaledDotProductAttention(x[0], x[1], x[2], isCausal: causal, kernel: .fused) }),
                    ("unfused", { x in
                        var scores = matmul(x[0] * (1 / Double(width).squareRoot()), x[1].transposed())
                        if causal { scores = scores + causalMask }
                        return matmul(scores.softmax(axis: -1), x[2])
                    }),
                ]
                for (name, f) in implementations {
                    for backward in [false, true] {
                        let body = {
                            if backward {
                                _ = vjp(f, [q, k, v]).pullback(w)
                            } else {
                                _ = noGrad { f([q, k, v]) }
                            }
                        }
                        for _ in 0..<2 { body() }
                        resetPeakMemory()
                        let times = (0..<reps).map { _ in seconds(body) }.sorted()
                        let row: [String: Any] = [
                            "workload": "attention-lab", "impl": name, "length": length, "head_dim": width, "causal": causal,
                            "pass": backward ? "forward+backward" : "forward", "median_ms": times[times.count / 2] * 1000,
                            "min_ms": times.first! * 1000, "peak_rss_mb": peakMemoryMegabytes(),
                        ]
                        report(row, json: json)
                    }
                }
            }
        }
    }

    static func report(_ row: [String: Any], json: Bool) {
        if json {
            let data = try! JSONSerialization.data(withJSONObject: row, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print(String(format: "L=S=%d d=%d %@ %@ %@: median %.2f ms (min %.2f), peak RSS %.0f MB", row["length"] as! Int, width,
                     (row["causal"] as! Bool) ? "causal" : "plain", row["impl"] as! String, row["pass"] as! String,
                     row["median_ms"] as! Double, row["min_ms"] as! Double, row["peak_rss_mb"] as! Double))
    }

    /// Resets the process's peak resident set (VmHWM) to its current size (Linux 4.0 and later).
    static func resetPeakMemory() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    static func peakMemoryMegabytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return 0 }
        return kilobytes / 1024
    }
}
