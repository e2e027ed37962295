#!/usr/bin/env python3
"""W10's peer: PyTorch DDP over gloo, W3's training step (the CIFAR ResNet-18 of cifar_resnet_torch.py,
batch 64 per rank, SGD with momentum) in 1 process (no DDP) and in 2 processes x 1 thread,
each step timed between barriers; prints the same JSON fields as `ember bench W10`.

    python3 bench/w10_torch_ddp.py [--steps 10] [--reps 5]
"""

import argparse
import json
import os
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from cifar_resnet_torch import CifarResNet18


def images_per_second(rank, world, steps, reps, results):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if world > 1:
        dist.init_process_group("gloo", rank=rank, world_size=world)
    model = CifarResNet18().train()
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    rates = []
    for _ in range(reps):
        if world > 1:
            dist.barrier()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        if world > 1:
            dist.barrier()
        rates.append(world * 64 * steps / (time.perf_counter() - start))
    if rank == 0:
        results.extend(rates)
    if world > 1:
        dist.destroy_process_group()


def run(world, steps, reps):
    manager = mp.Manager()
    results = manager.list()
    if world == 1:
        images_per_second(0, 1, steps, reps, results)
    else:
        mp.spawn(images_per_second, args=(world, steps, reps, results), nprocs=world)
    return list(results)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed rep")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29517")
    one = run(1, args.steps, args.reps)
    two = run(2, args.steps, args.reps)
    efficiencies = [b / (2 * a) for a, b in zip(one, two)]
    print(json.dumps({
        "workload": "W10", "impl": "torch-ddp-gloo", "unit": "efficiency",
        "median": statistics.median(efficiencies), "min": min(efficiencies), "max": max(efficiencies),
        "images_per_s_1_rank": statistics.median(one), "images_per_s_2_ranks": statistics.median(two),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
