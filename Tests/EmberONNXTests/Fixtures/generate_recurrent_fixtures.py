"""Writes the ONNX LSTM and GRU import fixtures: one-node models built with the onnx package
(random float32 W, R, B and P as initializers; X, sequence_lens and the initial states as
graph inputs) and the outputs onnxruntime computes for them.

    $(bash scripts/python-env.sh) Tests/EmberONNXTests/Fixtures/generate_recurrent_fixtures.py

Needs onnx, onnxruntime and numpy. For each model NAME it writes recurrent/NAME.onnx and
recurrent/NAME.npz holding, per case K: K.input.<graph input> and K.output.<graph output>
(onnxruntime's). Cases: every sequence full, unequal lengths, and unequal lengths with an empty
sequence (onnxruntime gives it zero final states). onnxruntime does not run layout 1
(batch-first): those models' outputs are its outputs for the same model in layout 0 on the
transposed inputs, transposed back (the definition of layout 1).
"""
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recurrent")
rng = np.random.default_rng(0)
STEPS, BATCH, INPUT, HIDDEN = 5, 4, 3, 4

# name: (op, direction, layout, attributes, inputs present, outputs present)
MODELS = {
    # Fused in Ember: LSTM without peepholes, GRU with linear_before_reset = 1.
    "lstm_forward": ("LSTM", "forward", 0, {}, "B L h c", "Y Y_h Y_c"),
    "lstm_reverse": ("LSTM", "reverse", 0, {}, "B L h c", "Y Y_h Y_c"),
    "lstm_bidirectional_layout1": ("LSTM", "bidirectional", 1, {}, "B L h c", "Y Y_h Y_c"),
    "lstm_bidirectional_states_only": ("LSTM", "bidirectional", 0, {}, "", "Y_h Y_c"),
    "gru_forward": ("GRU", "forward", 0, {"linear_before_reset": 1}, "B L h", "Y Y_h"),
    "gru_reverse_layout1": ("GRU", "reverse", 1, {"linear_before_reset": 1}, "B L h", "Y Y_h"),
    "gru_bidirectional": ("GRU", "bidirectional", 0, {"linear_before_reset": 1}, "B L h", "Y Y_h"),
    # Unrolled in Ember.
    "lstm_peepholes": ("LSTM", "bidirectional", 0, {}, "B h c P", "Y Y_h Y_c"),
    "gru_bidirectional_reset_first": ("GRU", "bidirectional", 0, {"linear_before_reset": 0}, "B h", "Y Y_h"),
    "gru_reverse_reset_first_layout1": ("GRU", "reverse", 1, {}, "B h", "Y Y_h"),
}


def weights(op, direction):
    gates = 4 if op == "LSTM" else 3
    d = 2 if direction == "bidirectional" else 1
    shapes = {"W": (d, gates * HIDDEN, INPUT), "R": (d, gates * HIDDEN, HIDDEN), "B": (d, 2 * gates * HIDDEN), "P": (d, 3 * HIDDEN)}
    return {k: rng.uniform(-0.6, 0.6, shape).astype(np.float32) for k, shape in shapes.items()}


def build(name, op, direction, layout, attributes, present, outputs, values):
    d = 2 if direction == "bidirectional" else 1
    present = present.split()
    state = [BATCH, d, HIDDEN] if layout else [d, BATCH, HIDDEN]
    initializers = [numpy_helper.from_array(values["W"], "W"), numpy_helper.from_array(values["R"], "R")]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, [BATCH, STEPS, INPUT] if layout else [STEPS, BATCH, INPUT])]
    node_inputs = ["X", "W", "R", "", "", "", "", ""]
    if "B" in present:
        initializers.append(numpy_helper.from_array(values["B"], "B"))
        node_inputs[3] = "B"
    if "L" in present:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [BATCH]))
        node_inputs[4] = "sequence_lens"
    if "h" in present:
        inputs.append(helper.make_tensor_value_info("initial_h", TensorProto.FLOAT, state))
        node_inputs[5] = "initial_h"
    if "c" in present:
        inputs.append(helper.make_tensor_value_info("initial_c", TensorProto.FLOAT, state))
        node_inputs[6] = "initial_c"
    if "P" in present:
        initializers.append(numpy_helper.from_array(values["P"], "P"))
        node_inputs[7] = "P"
    while node_inputs[-1] == "":
        node_inputs.pop()
    names = ["Y", "Y_h", "Y_c"][: 3 if op == "LSTM" else 2]
    node_outputs = [n if n in outputs.split() else "" for n in names]
    while node_outputs[-1] == "":
        node_outputs.pop()
    node = helper.make_node(op, node_inputs, node_outputs, name=name, direction=direction, layout=layout,
                            hidden_size=HIDDEN, **attributes)
    shapes = {"Y": [BATCH, STEPS, d, HIDDEN] if layout else [STEPS, d, BATCH, HIDDEN], "Y_h": state, "Y_c": state}
    graph = helper.make_graph([node], name, inputs, [helper.make_tensor_value_info(n, TensorProto.FLOAT, shapes[n])
                                                     for n in node_outputs if n], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, inputs


def main():
    os.makedirs(HERE, exist_ok=True)
    for name, (op, direction, layout, *rest) in MODELS.items():
        values = weights(op, direction)
        model, inputs = build(name, op, direction, layout, *rest, values)
        reference, _ = build(name, op, direction, 0, *rest, values)
        session = ort.InferenceSession(reference.SerializeToString(), providers=["CPUExecutionProvider"])
        # Batch-first inputs and outputs to and from onnxruntime's time-major ones.
        swap = (lambda a: np.swapaxes(a, 0, 1)) if layout else (lambda a: a)
        batch_first_y = (lambda y: np.transpose(y, (2, 0, 1, 3))) if layout else (lambda y: y)
        has_lengths = any(i.name == "sequence_lens" for i in inputs)
        cases = {"full": [STEPS] * BATCH}
        if has_lengths:
            cases.update({"unequal": [STEPS, 2, 4, 1], "empty": [3, 0, STEPS, 2]})
        arrays = {}
        for key, lengths in cases.items():
            feeds = {}
            for info in inputs:
                dims = [d.dim_value for d in info.type.tensor_type.shape.dim]
                if info.name == "sequence_lens":
                    feeds[info.name] = np.array(lengths, np.int32)
                else:
                    feeds[info.name] = rng.standard_normal(dims).astype(np.float32)
            for feed, value in feeds.items():
                arrays[f"{key}.input.{feed}"] = value
            time_major = {k: v if k == "sequence_lens" else swap(v) for k, v in feeds.items()}
            for output, value in zip([o.name for o in session.get_outputs()], session.run(None, time_major)):
                arrays[f"{key}.output.{output}"] = batch_first_y(value) if output == "Y" else swap(value)
        onnx.save(model, os.path.join(HERE, f"{name}.onnx"))
        np.savez(os.path.join(HERE, f"{name}.npz"), **arrays)
        print(name, sorted(cases))


if __name__ == "__main__":
    main()
