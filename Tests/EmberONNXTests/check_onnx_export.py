"""Checks models that Ember exported (Tests/EmberONNXTests/Export*): each DIRECTORY/NAME.onnx
passes onnx.checker (full check, with shape inference), and onnxruntime's outputs for each
DIRECTORY/NAME.caseK.inputs.npz match Ember's in DIRECTORY/NAME.caseK.expected.npz within
the tolerances written in DIRECTORY/NAME.tolerance ("atol rtol").

Prints one line per case, `CASE name max_abs_error`, and one line per problem, `PROBLEM ...`;
exits 1 when there is a problem. One invocation checks every model of a test, so a test pays
for Python's start and onnxruntime's import once."""
import glob
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def check(directory):
    problems = 0
    for model_path in sorted(glob.glob(os.path.join(directory, "*.onnx"))):
        name = os.path.basename(model_path)[: -len(".onnx")]
        try:
            # The path form also checks external data.
            onnx.checker.check_model(model_path, full_check=True)
        except Exception as error:  # noqa: BLE001 - any failure is reported
            print(f"PROBLEM {name}: onnx.checker: {error}".replace("\n", " "))
            problems += 1
            continue
        atol, rtol = (float(v) for v in open(os.path.join(directory, name + ".tolerance")).read().split())
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        try:
            session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001
            print(f"PROBLEM {name}: onnxruntime cannot load it: {error}".replace("\n", " "))
            problems += 1
            continue
        output_names = [o.name for o in session.get_outputs()]
        for inputs_path in sorted(glob.glob(os.path.join(directory, name + ".case*.inputs.npz"))):
            case = inputs_path[len(os.path.join(directory, "")): -len(".inputs.npz")]
            inputs = dict(np.load(inputs_path))
            expected = dict(np.load(inputs_path.replace(".inputs.npz", ".expected.npz")))
            results = dict(zip(output_names, session.run(output_names, inputs)))
            worst = 0.0
            for key, want in expected.items():
                got = results.get(key)
                if got is None or got.shape != want.shape or got.dtype != want.dtype:
                    print(f"PROBLEM {case}: output {key} is {None if got is None else (got.dtype, got.shape)}, "
                          f"expected {(want.dtype, want.shape)}")
                    problems += 1
                    continue
                if want.size == 0:
                    continue
                if want.dtype.kind in "biu":
                    error = float(np.max(np.abs(got.astype(np.int64) - want.astype(np.int64))))
                    if error != 0:
                        print(f"PROBLEM {case}: output {key} differs by {error}")
                        problems += 1
                else:
                    error = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
                    if not np.allclose(got, want, atol=atol, rtol=rtol):
                        print(f"PROBLEM {case}: output {key} differs by up to {error} (atol {atol}, rtol {rtol})")
                        problems += 1
                worst = max(worst, error)
            print(f"CASE {case} {worst:.3g}")
    return problems


if __name__ == "__main__":
    sys.exit(1 if check(sys.argv[1]) else 0)
