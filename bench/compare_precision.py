#!/usr/bin/env python3
"""bf16 autocast against fp32, Ember and PyTorch, interleaved, as a Markdown table.

    python bench/compare_precision.py [W4 W5 W6 W7] [--reps N] [--rounds R] [--ember PATH]
                                      [--baseline PATH] [--no-torch] [--cpu-time]

Each round runs every workload as `ember bench` in fp32 and with `--precision bf16`, and
as bench/peers.py's torch in fp32 and under torch.autocast(bfloat16), each in its own
process, so machine noise hits all four alike. A figure is the median over rounds of each
run's median; the table shows each side's bf16/fp32 speed-up and Ember bf16 against
PyTorch bf16 (above 1.0: Ember is faster). `--baseline PATH` runs a second ember binary
(another build, say) in the same rounds; its rows are marked "(baseline)". Each run's
1-minute load average is recorded, and the table gives its range per row.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HIGHER_IS_BETTER = {"images/s", "sentences/s"}


def run(command: list, timeout: float) -> list:
    """The JSON lines a benchmark command printed (an error line if it failed)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [{"error": f"timed out after {timeout:.0f} s"}]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 and not rows:
        rows = [{"error": (done.stderr.strip().splitlines() or ["exit status %d" % done.returncode])[-1]}]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workloads", nargs="*", default=["W4", "W5", "W6", "W7"])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ember", default=str(REPO / ".build/release/ember"))
    parser.add_argument("--baseline", help="a second ember binary, run alongside")
    parser.add_argument("--no-torch", action="store_true", help="Ember only")
    parser.add_argument("--python", default="/work/venv/peers/bin/python")
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--cpu-time", action="store_true",
                        help="one thread per side, timed by CPU time (for a busy machine)")
    args = parser.parse_args()
    if args.cpu_time:
        os.environ.update(EMBER_NUM_THREADS="1", OMP_NUM_THREADS="1")
    bad = [w for w in args.workloads if w not in ("W4", "W5", "W6", "W7")]
    if bad:
        parser.error(f"--precision bf16 runs W4-W7, not {bad}")

    figures = defaultdict(list)   # (workload, impl, precision) -> medians
    loads = defaultdict(list)     # the same keys -> 1-minute load averages after each run
    units = {}
    for round_index in range(args.rounds):
        for workload in args.workloads:
            for precision in ("fp32", "bf16"):
                ember = lambda binary: [binary, "bench", workload, "--json", "--reps", str(args.reps), "--precision", precision]
                sides = [("", ember(args.ember))]
                if args.baseline:
                    sides.append((" (baseline)", ember(args.baseline)))
                if not args.no_torch:
                    sides.append(("", [args.python, str(BENCH / "peers.py"), "--impl", "torch", workload, "--json",
                                       "--reps", str(args.reps), "--precision", precision]))
                for suffix, command in sides:
                    if args.cpu_time:
                        command = command + ["--cpu-time"]
                    for row in run(command, args.timeout):
                        if "error" in row:
                            print(f"round {round_index + 1} {workload} {precision}: {row}", file=sys.stderr)
                            continue
                        key = (workload, row["impl"] + suffix, precision)
                        load = os.getloadavg()[0]
                        figures[key].append(row["median"])
                        loads[key].append(load)
                        units[workload] = row["unit"]
                        print(f"round {round_index + 1}: {workload} {key[1]} {precision} {row['median']:.3f} {row['unit']} "
                              f"(load {load:.1f})", file=sys.stderr, flush=True)

    def median(key):
        return statistics.median(figures[key]) if figures.get(key) else None

    def speedup(unit, faster, slower):
        if faster is None or slower is None:
            return ""
        return f"{(faster / slower) if unit in HIGHER_IS_BETTER else (slower / faster):.2f}x"

    def load_range(workload, impl):
        values = loads[(workload, impl, "fp32")] + loads[(workload, impl, "bf16")]
        return f"{min(values):.1f}-{max(values):.1f}" if values else ""

    print("| workload | unit | impl | fp32 | bf16 | bf16 / fp32 | vs torch bf16 | load |")
    print("|---|---|---|---|---|---|---|---|")
    for workload in args.workloads:
        unit = units.get(workload, "")
        impls = sorted({impl for (w, impl, _) in figures if w == workload})
        torch_bf16 = median((workload, "torch", "bf16"))
        for impl in impls:
            fp32, bf16 = median((workload, impl, "fp32")), median((workload, impl, "bf16"))
            cells = [f"{v:.4g}" if v is not None else "" for v in (fp32, bf16)]
            versus = speedup(unit, bf16, torch_bf16) if impl.startswith("ember") else ""
            print(f"| {workload} | {unit} | {impl} | {cells[0]} | {cells[1]} | {speedup(unit, bf16, fp32)} | {versus} "
                  f"| {load_range(workload, impl)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
