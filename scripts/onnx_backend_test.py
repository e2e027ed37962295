"""Runs the ONNX backend node test suite (onnx.backend.test.case.node.collect_testcases(),
which the onnx wheel builds in memory) through `ember run`, and the same cases through
onnxruntime for comparison; prints the pass rate of each and per operator.

    python scripts/onnx_backend_test.py EMBER_BINARY [--work DIR] [--jobs N] [--only SUBSTRING] [--markdown FILE]

A case passes when every output has the expected shape and its values are within the
case's rtol/atol (as onnx's backend runner checks: numpy.testing.assert_allclose); integer
types Ember widens (uint8 -> int32) are compared by value, and so are the narrow types it
holds widened (float8, float4 -> float32, int4, int2 -> int32, bfloat16 outputs saved as
float32). Every case is run and counted; a case whose inputs are not tensors (sequences,
optionals) fails. Types NumPy lacks (ml_dtypes' float8, int4, bfloat16) are saved as their
raw records, which `ember run` reads as the type the model declares for the input.
"""
import argparse
import collections
import concurrent.futures
import os
import subprocess
import sys
import warnings

import numpy as np
import onnx
import onnx.numpy_helper

warnings.filterwarnings("ignore")


def array(value):
    """A data set's value as NumPy: some cases give TensorProtos or NumPy scalars."""
    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    if isinstance(value, np.generic):
        return np.asarray(value)
    return value


def dump(case, directory):
    """Writes model.onnx and, per data set, the inputs as .npy files; returns the runs."""
    os.makedirs(directory, exist_ok=True)
    onnx.save(case.model, os.path.join(directory, "model.onnx"))
    initializers = {i.name for i in case.model.graph.initializer}
    names = [i.name for i in case.model.graph.input if i.name not in initializers]
    outputs = [o.name for o in case.model.graph.output]
    runs = []
    for index, (inputs, expected) in enumerate(case.data_sets):
        files = []
        for name, value in zip(names, map(array, inputs)):
            if not isinstance(value, np.ndarray):
                return None  # sequences, optionals: not tensors
            path = os.path.join(directory, f"{index}.{len(files)}.npy")
            np.save(path, value)
            files.append((name, path))
        runs.append((files, dict(zip(outputs, map(array, expected))), os.path.join(directory, f"{index}.out.npz")))
    return runs


def close(actual, expected, rtol, atol):
    expected = array(expected)
    if not isinstance(expected, np.ndarray):
        return False
    if actual.shape != expected.shape:
        return False
    if expected.dtype.kind in "iub" or expected.dtype == object:
        return np.array_equal(actual.astype(np.float64), expected.astype(np.float64)) if expected.dtype != object else False
    try:
        np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol)
        return True
    except AssertionError:
        return False


def run_ember(binary, case, runs):
    for files, expected, out in runs:
        command = [binary, "run", os.path.join(os.path.dirname(out), "model.onnx"), "--out", out]
        for name, path in files:
            command += ["--input", f"{name}={path}"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            return (result.stderr.strip().splitlines() or ["exit %d" % result.returncode])[-1]
        got = np.load(out)
        for name, value in expected.items():
            if name not in got.files or not close(got[name], value, case.rtol, case.atol):
                return f"output {name} differs"
    return None


def run_onnxruntime(case):
    import onnxruntime as ort
    try:
        session = ort.InferenceSession(case.model.SerializeToString(), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        for inputs, expected in case.data_sets:
            results = session.run(None, dict(zip(names, map(array, inputs))))
            if not all(close(np.asarray(a), e, case.rtol, case.atol) for a, e in zip(results, expected)):
                return "differs"
    except Exception as error:  # noqa: BLE001 - any failure is a failed case
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    return None


def operator(case):
    ops = [n.op_type for n in case.model.graph.node]
    return ops[0] if len(ops) == 1 else (ops[0] if ops else "?")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ember")
    parser.add_argument("--work", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "ember-onnx-backend"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--only", default="")
    parser.add_argument("--markdown")
    parser.add_argument("--no-onnxruntime", action="store_true")
    args = parser.parse_args()

    from onnx.backend.test.case.node import collect_testcases
    cases = [c for c in collect_testcases() if args.only in c.name]

    def check(case):
        runs = dump(case, os.path.join(args.work, case.name))
        ours = "inputs are not tensors" if runs is None else run_ember(args.ember, case, runs)
        theirs = None if args.no_onnxruntime else run_onnxruntime(case)
        return case, ours, theirs

    per_op = collections.defaultdict(lambda: [0, 0, 0])
    failures = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for case, ours, theirs in pool.map(check, cases):
            entry = per_op[operator(case)]
            entry[0] += 1
            entry[1] += ours is None
            entry[2] += theirs is None
            if ours is not None:
                failures.append((case.name, ours))
    total = len(cases)
    ember_passed = sum(e[1] for e in per_op.values())
    ort_passed = sum(e[2] for e in per_op.values())
    lines = [f"| operator | cases | Ember | onnxruntime |", "|---|---:|---:|---:|"]
    for op in sorted(per_op):
        cases_, ours, theirs = per_op[op]
        lines.append(f"| {op} | {cases_} | {ours} | {'-' if args.no_onnxruntime else theirs} |")
    summary = f"Ember passes {ember_passed} of {total} cases ({100 * ember_passed / max(total, 1):.1f}%)"
    if not args.no_onnxruntime:
        summary += f"; onnxruntime passes {ort_passed} ({100 * ort_passed / max(total, 1):.1f}%)"
    for name, why in sorted(failures):
        print(f"FAIL {name}: {why}")
    print("\n".join(lines))
    print(summary)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(summary + ".\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
