#!/usr/bin/env python3
"""Runs Ember and its peers interleaved and prints the comparison as a Markdown table.

    python bench/compare.py [W1 W9 ...] [--reps N] [--rounds R] [--ember PATH] [--write FILE]

Each round runs every workload on every side in turn (W1: ember, torch, jax; W2: ...;
onnxruntime only where it runs: W4, W7),
so machine noise hits all sides alike. Every (workload, side) is its own process:
that keeps the peak RSS figure of W3/W5/W6 the workload's own and isolates crashes.
A figure is the median over rounds of each run's median. Ratios are peer time /
our time, so above 1.0 means Ember is faster.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORKLOADS = [f"W{i}" for i in range(1, 10)]
UNITS = {"W1": "GFLOP/s", "W2": "steps/s", "W3": "images/s", "W4": "images/s",
         "W5": "images/s", "W6": "ms/iter", "W7": "sentences/s", "W8": "ms/iter",
         "W9": "us/op"}
HIGHER_IS_BETTER = {"GFLOP/s", "steps/s", "images/s", "sentences/s"}
RSS_WORKLOADS = ["W3", "W5", "W6"]
# Table column order; a column shows only when some run reported it.
IMPLS = ["ember", "ember-compiled", "ember-padded", "ember-compiled-padded", "torch", "torch-compiled", "jax", "onnxruntime"]
OURS = ["ember", "ember-compiled"]
# Like with like: eager torch against eager Ember, compiled peers (jax.jit,
# torch.compile, onnxruntime's optimized graph) against compiled Ember; each falls back
# to the other of ours.
PAIRING = {"torch": ["ember", "ember-compiled"],
           "torch-compiled": ["ember-compiled", "ember"],
           "jax": ["ember-compiled", "ember"],
           "onnxruntime": ["ember-compiled", "ember"]}
# Peers that run only some workloads, and offer no fp32 peak; the others run all.
PARTIAL_PEERS = {"onnxruntime": {"W4", "W7"}}


class RunFailed(Exception):
    pass


def run_json(command: list, env: dict, timeout: float) -> list:
    """Runs a side and returns its JSON records; other output lines are ignored."""
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=env,
                              timeout=timeout, cwd=REPO)
    except OSError as e:
        raise RunFailed(f"cannot run {command[0]}: {e.strerror}")
    except subprocess.TimeoutExpired:
        raise RunFailed(f"timed out after {timeout:.0f} s")
    records = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    if proc.returncode != 0 and not records:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RunFailed(f"exit status {proc.returncode}: {last}")
    return records


class Results:
    """Every run's record, grouped by (workload, impl)."""

    def __init__(self):
        self.runs = defaultdict(list)
        self.errors = {}
        self.versions = {}

    def add(self, record: dict) -> None:
        key = (record.get("workload"), record.get("impl"))
        if "error" in record:
            self.errors[key] = str(record["error"])
        elif isinstance(record.get("median"), (int, float)):
            self.runs[key].append(record)
            if "version" in record:
                self.versions[key[1].split("-")[0]] = record["version"]

    def figure(self, workload: str, impl: str):
        runs = self.runs.get((workload, impl))
        return statistics.median(r["median"] for r in runs) if runs else None

    def unit(self, workload: str) -> str:
        for impl in IMPLS:
            for run in self.runs.get((workload, impl), []):
                return run.get("unit", UNITS.get(workload, ""))
        return UNITS.get(workload, "")

    def rss(self, workload: str, impl: str):
        values = [r["peak_rss_mb"] for r in self.runs.get((workload, impl), [])
                  if isinstance(r.get("peak_rss_mb"), (int, float))]
        return max(values) if values else None

    def error(self, workload: str, impl: str):
        return self.errors.get((workload, impl))

    def seen(self, impl: str) -> bool:
        return any(i == impl for _, i in list(self.runs) + list(self.errors))


def speedup(unit: str, ours: float, theirs: float) -> float:
    """Peer time / our time: above 1.0 means ours is faster."""
    return ours / theirs if unit in HIGHER_IS_BETTER else theirs / ours


def number(x: float) -> str:
    if x >= 1000:
        return f"{x:,.0f}"
    return f"{x:.1f}" if x >= 100 else f"{x:.2f}" if x >= 10 else f"{x:.3f}"


def cell_text(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= 80 else text[:77] + "..."


def first_figure(results: Results, workload: str, impls: list):
    for impl in impls:
        value = results.figure(workload, impl)
        if value is not None:
            return value
    return None


def notes(results: Results, workload: str, unit: str, peak) -> str:
    parts = []
    if workload == "W1" and peak:
        shares = [f"{impl} {100 * results.figure(workload, impl) / peak:.0f}%"
                  for impl in IMPLS if results.figure(workload, impl) is not None]
        if shares:
            parts.append("of fp32 peak: " + ", ".join(shares))
    for eager in ("ember", "torch"):
        plain, compiled = results.figure(workload, eager), results.figure(workload,
                                                                          f"{eager}-compiled")
        if plain is not None and compiled is not None:
            parts.append(f"{eager} compiled/eager {speedup(unit, compiled, plain):.2f}x")
    return "; ".join(parts)


def table(results: Results, workloads: list, peak) -> str:
    impls = [i for i in IMPLS if i == "ember" or results.seen(i)]
    peers = [i for i in impls if i in PAIRING]
    header = ["workload", "unit", *impls, *(f"vs {p}" for p in peers), "notes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for w in workloads:
        unit = results.unit(w)
        row = [w, unit]
        for impl in impls:
            value, error = results.figure(w, impl), results.error(w, impl)
            row.append(number(value) if value is not None
                       else f"n/a: {cell_text(error)}" if error else "")
        for peer in peers:
            ours, theirs = first_figure(results, w, PAIRING[peer]), results.figure(w, peer)
            row.append(f"{speedup(unit, ours, theirs):.2f}x"
                       if ours is not None and theirs is not None else "")
        row.append(notes(results, w, unit, peak))
        lines.append("| " + " | ".join(row) + " |")

    rss_rows = [w for w in RSS_WORKLOADS if w in workloads]
    if any(results.rss(w, i) is not None for w in rss_rows for i in IMPLS):
        sides = [i for i in impls if i in ("ember", "torch", "jax")]
        lines += ["", "Peak resident memory (MB, whole process):", "",
                  "| workload | " + " | ".join(sides) + " |", "|" + "---|" * (len(sides) + 1)]
        for w in rss_rows:
            # The eager run comes first in its process, so its figure is its own.
            values = [results.rss(w, side) or results.rss(w, f"{side}-compiled")
                      for side in sides]
            lines.append(f"| {w} | " + " | ".join(f"{v:,.0f}" if v else "" for v in values)
                         + " |")
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def report(results: Results, workloads: list, peak, peak_by, args) -> str:
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(results.versions[k] for k in sorted(results.versions))
    peak_text = (f"{number(peak)} GFLOP/s ({peak_by}, best 4096^3 fp32 matmul)" if peak
                 else "not measured")
    return "\n".join([
        f"- Date: {date}",
        f"- Machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}",
        f"- Peers: {versions or 'none ran'}",
        f"- Machine fp32 peak: {peak_text}",
        f"- Settings: {args.reps} timed reps after 2 warm-ups, {args.rounds} interleaved "
        f"rounds; figure = median over rounds of each run's median"
        + ("; one thread per side, timed by CPU time" if args.cpu_time else ""),
        "- Ratios (vs ...) are peer time / our time: above 1.0 means Ember is faster. "
        "Eager torch is paired with eager Ember, compiled peers (jax.jit, torch.compile, "
        "onnxruntime) with ember-compiled where it exists.",
        "",
        table(results, workloads, peak),
    ])


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workloads", nargs="*", metavar="W", help="W1..W9 (default: all)")
    parser.add_argument("--reps", type=int, default=5, help="timed reps per run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--ember", default=str(REPO / ".build/release/ember"),
                        help="ember binary (default: .build/release/ember)")
    parser.add_argument("--python", help="interpreter for the peers "
                                         "(default: bench/.venv/bin/python, else this one)")
    parser.add_argument("--peers", default="torch,jax,onnxruntime",
                        help="comma-separated (default torch,jax,onnxruntime)")
    parser.add_argument("--minilm", help="all-MiniLM-L6-v2 folder for W7 "
                                         "(default: $EMBER_MINILM_DIR)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--write", metavar="FILE", help="also write the report to FILE")
    parser.add_argument("--cpu-time", action="store_true",
                        help="every side on one thread, timed by CPU time: for comparing on a busy "
                             "machine, not for the results file")
    args = parser.parse_args()
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {WORKLOADS}")
    workloads = args.workloads or WORKLOADS
    venv_python = BENCH / ".venv/bin/python"
    python = args.python or (str(venv_python) if venv_python.exists() else sys.executable)
    peers = [p for p in args.peers.split(",") if p]

    env = dict(os.environ)
    if args.minilm:
        env["EMBER_MINILM_DIR"] = str(Path(args.minilm).resolve())
    ember = [str(Path(args.ember).resolve()), "bench"]
    peer = [python, str(BENCH / "peers.py")]
    if args.cpu_time:
        env.update(EMBER_NUM_THREADS="1", OMP_NUM_THREADS="1")
        ember.append("--cpu-time")
        peer.append("--cpu-time")
    sides = [("ember", ember)] + [(p, peer + ["--impl", p]) for p in peers]

    # The fp32 peak, once: the best rep any side reaches. Ember may not offer --peak.
    peak, peak_by = None, None
    for name, command in sides:
        if name in PARTIAL_PEERS:
            continue
        progress(f"peak: {name}")
        try:
            records = run_json(command + ["--peak", "--json", "--reps", str(args.reps)],
                               env, args.timeout)
        except RunFailed as e:
            progress(f"  no peak from {name}: {e}")
            continue
        for r in records:
            best = r.get("max", r.get("median")) if r.get("workload") == "peak" else None
            if isinstance(best, (int, float)) and (peak is None or best > peak):
                peak, peak_by = best, r.get("impl", name)

    results = Results()
    for round_ in range(1, args.rounds + 1):
        for w in workloads:
            for name, command in sides:
                if w not in PARTIAL_PEERS.get(name, WORKLOADS):
                    continue
                progress(f"round {round_}/{args.rounds}: {w} {name}")
                try:
                    records = run_json(command + [w, "--reps", str(args.reps), "--json"],
                                       env, args.timeout)
                except RunFailed as e:
                    records = [{"workload": w, "impl": name, "error": str(e)}]
                for r in records:
                    results.add(r)

    text = report(results, workloads, peak, peak_by, args)
    print(text)
    if args.write:
        Path(args.write).write_text("# Benchmark results\n\n" + text + "\n")
        progress(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
