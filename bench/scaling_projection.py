#!/usr/bin/env python3
"""Data-parallel scaling at scale, on paper: for each model of Ember's zoo, the bytes one
training step allreduces (its float32 gradients), the time a ring allreduce of them takes
on N ranks over a network of a given bandwidth, 2(N-1)/N x bytes / bandwidth (latency
ignored), and the efficiency it allows when the allreduce overlaps the backward pass
(about two thirds of a step), as DistributedDataParallel's buckets let it:

    efficiency = step / (step + max(0, allreduce - overlapped backward))

The bandwidth is the network's; with `--cap`, also at most the allreduce bus bandwidth
measured on this machine between 2 ranks (`ember bench W10` reports it), as a rank that
reduces with one core as here cannot feed a faster network. `--step-seconds` is a step of ResNet-18 CIFAR (batch 64, one thread) as W10
measured it; for the other models, whose step times were not measured here, the table gives
the shortest step that still reaches 90% efficiency.

    python3 bench/scaling_projection.py --step-seconds 1.2 --allreduce-gb-per-s 3.1

Standard library only.
"""

import argparse

# Trainable parameters of each zoo model at its usual input (`ember summary MODEL`).
ZOO = {
    "lenet5": 61_706,
    "resnet8": 78_042,
    "lstm": 217_674,
    "mlp": 235_146,
    "resnet20": 272_474,
    "transformer": 447_370,
    "bert": 464_138,
    "gpt": 842_624,
    "resnet18-cifar": 11_173_962,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
}
RANKS = [8, 64, 512]
NETWORKS_GBIT = [25, 100]
BACKWARD_SHARE = 2 / 3


def allreduce_seconds(nbytes: float, ranks: int, bytes_per_second: float) -> float:
    return 2 * (ranks - 1) / ranks * nbytes / bytes_per_second


def efficiency(step: float, comm: float) -> float:
    return step / (step + max(0.0, comm - BACKWARD_SHARE * step))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step-seconds", type=float, required=True,
                        help="one ResNet-18 CIFAR step, batch 64, one thread (W10's 1-rank figure: 64 / images/s)")
    parser.add_argument("--allreduce-gb-per-s", type=float, required=True,
                        help="the allreduce bus bandwidth measured here (W10's allreduce_bus_gb_per_s)")
    parser.add_argument("--cap", action="store_true", help="cap the network bandwidth at the measured allreduce bandwidth")
    args = parser.parse_args()
    cap = args.allreduce_gb_per_s * 1e9 if args.cap else float("inf")

    def bandwidth(gbit: int) -> float:
        return min(gbit * 1e9 / 8, cap)

    header = ["model", "MB/step"] + [f"{n} ranks, {g} Gb/s" for n in RANKS for g in NETWORKS_GBIT]
    print(f"Allreduce bus bandwidth measured here (2 ranks, shared memory): {args.allreduce_gb_per_s:.2f} GB/s"
          + (" (the cap)" if args.cap else " (not a cap; --cap applies it)") + "\n")
    print("Allreduce ms per step (ring, latency ignored):\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, parameters in ZOO.items():
        nbytes = parameters * 4
        cells = [f"{allreduce_seconds(nbytes, n, bandwidth(g)) * 1e3:.2f}" for n in RANKS for g in NETWORKS_GBIT]
        print(f"| {name} | {nbytes / 1e6:.2f} | " + " | ".join(cells) + " |")

    print(f"\nShortest step (ms) that reaches 90% efficiency with the allreduce overlapping backward:\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    # 0.9 = step / (step + comm - b step)  <=>  step = comm / (1/0.9 - 1 + b)
    for name, parameters in ZOO.items():
        nbytes = parameters * 4
        cells = [f"{allreduce_seconds(nbytes, n, bandwidth(g)) / (1 / 0.9 - 1 + BACKWARD_SHARE) * 1e3:.1f}"
                 for n in RANKS for g in NETWORKS_GBIT]
        print(f"| {name} | {nbytes / 1e6:.2f} | " + " | ".join(cells) + " |")

    step = args.step_seconds
    nbytes = ZOO["resnet18-cifar"] * 4
    print(f"\nResNet-18 CIFAR, batch 64 per rank, step {step:.3f} s (one thread, measured here), projected efficiency:\n")
    print("| network | " + " | ".join(f"{n} ranks" for n in RANKS) + " |")
    print("|---|" + "---|" * len(RANKS))
    for g in NETWORKS_GBIT:
        cells = [f"{efficiency(step, allreduce_seconds(nbytes, n, bandwidth(g))) * 100:.1f}%" for n in RANKS]
        print(f"| {g} Gb/s | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
