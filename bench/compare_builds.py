#!/usr/bin/env python3
"""Compares two builds of Ember (a baseline and a candidate) on the benchmark workloads,
interleaved, and prints a Markdown table of the candidate's figures relative to the
baseline's.

    python3 bench/compare_builds.py BASELINE_EMBER CANDIDATE_EMBER [W1 W9 ...] [--rounds R] [--reps N]

Each round runs every workload with each binary in turn, each in its own process, so
machine noise hits both alike. By default every run is one thread timed by CPU time
(`ember bench --cpu-time`), which other processes on a busy machine barely disturb: the
way to see what a change of build costs. A figure is the median over rounds of each run's
median; "change" is the candidate's speed relative to the baseline's (negative: slower).
"""

import argparse
import os
import statistics
import sys
from collections import defaultdict

from compare import HIGHER_IS_BETTER, REPO, WORKLOADS, RunFailed, run_json


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", help="the baseline ember binary")
    parser.add_argument("candidate", help="the candidate ember binary")
    parser.add_argument("workloads", nargs="*", metavar="W", help="W1..W9 (default: all)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--reps", type=int, default=5, help="timed reps per run (default 5)")
    parser.add_argument("--wall-clock", action="store_true", help="all cores, wall clock, instead of --cpu-time")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    args = parser.parse_args()
    workloads = args.workloads or WORKLOADS
    env = dict(os.environ)
    flags = []
    if not args.wall_clock:
        env.update(EMBER_NUM_THREADS="1", OMP_NUM_THREADS="1")
        flags = ["--cpu-time"]

    figures = defaultdict(list)   # (workload, impl, build) -> medians
    units = {}
    for round_index in range(args.rounds):
        for workload in workloads:
            for build, binary in (("baseline", args.baseline), ("candidate", args.candidate)):
                try:
                    records = run_json([binary, "bench", workload, "--reps", str(args.reps), "--json"] + flags, env, args.timeout)
                except RunFailed as failure:
                    print(f"{workload} {build}: {failure}", file=sys.stderr)
                    continue
                for record in records:
                    if "median" in record:
                        figures[(workload, record["impl"], build)].append(record["median"])
                        units[(workload, record["impl"])] = record["unit"]
        print(f"round {round_index + 1} of {args.rounds} done", file=sys.stderr)

    mode = "all cores, wall clock" if args.wall_clock else "one thread, CPU time"
    print(f"| workload | impl | unit | baseline | candidate | change |  ({mode}, {args.rounds} rounds)")
    print("|---|---|---|---:|---:|---:|")
    for (workload, impl), unit in sorted(units.items(), key=lambda item: (WORKLOADS.index(item[0][0]), item[0][1])):
        base, cand = figures[(workload, impl, "baseline")], figures[(workload, impl, "candidate")]
        if not base or not cand:
            continue
        b, c = statistics.median(base), statistics.median(cand)
        speed = c / b if unit in HIGHER_IS_BETTER else b / c
        print(f"| {workload} | {impl} | {unit} | {b:.4g} | {c:.4g} | {100 * (speed - 1):+.1f}% |")


if __name__ == "__main__":
    main()
