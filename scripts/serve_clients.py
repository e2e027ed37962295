"""Speaks to a running `ember serve` with real clients (run by scripts/check-serve.sh):

- NVIDIA's tritonclient (the Open Inference Protocol v2 over HTTP, as KServe and Triton
  clients send it): health, server and model metadata, typed-tensor inference;
- TensorFlow Serving's REST request formats as its documentation writes them, with requests:
  row (`instances`) and columnar (`inputs`) predict, `{"b64": ...}` image bytes, classify;
- Prometheus' own text-format parser (prometheus_client) on /metrics.

and, on an ONNX model, onnxruntime: the served answers against onnxruntime's on the same file.

usage: serve_clients.py PORT ONNX_FILE   (the repository holds tabular/1, shapes/1, sentiment/1
as check-serve.sh trains them, and shapes-onnx/1/ONNX_FILE, the shapes run exported)
"""
import base64
import struct
import sys
import zlib

import numpy as np
import onnxruntime
import requests
import tritonclient.http as triton
from prometheus_client.parser import text_string_to_metric_families

port = int(sys.argv[1])
onnx_file = sys.argv[2]
base = f"http://127.0.0.1:{port}"
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def png(width, height, rgb):
    """A minimal 8-bit RGB PNG of one colour (zlib and struct only)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


# --- Open Inference Protocol v2 with tritonclient -------------------------------------
client = triton.InferenceServerClient(url=f"127.0.0.1:{port}")
check(client.is_server_live(), "tritonclient: server live")
check(client.is_server_ready(), "tritonclient: server ready")
check(client.get_server_metadata()["name"] == "ember", "tritonclient: server metadata")
for model in ["tabular", "shapes", "sentiment", "shapes-onnx"]:
    check(client.is_model_ready(model), f"tritonclient: {model} ready")
    check(client.is_model_ready(model, "1"), f"tritonclient: {model} version 1 ready")
metadata = client.get_model_metadata("tabular")
check([i["name"] for i in metadata["inputs"]] == ["features"] and metadata["inputs"][0]["shape"] == [-1, 3],
      f"tritonclient: tabular metadata {metadata['inputs']}")

rows = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]], dtype=np.float32)
features = triton.InferInput("features", list(rows.shape), "FP32")
features.set_data_from_numpy(rows, binary_data=False)
wanted = [triton.InferRequestedOutput("probabilities", binary_data=False), triton.InferRequestedOutput("label", binary_data=False)]
result = client.infer("tabular", [features], outputs=wanted)
probabilities = result.as_numpy("probabilities")
check(probabilities.shape == (2, 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5),
      f"tritonclient: tabular infer FP32 [2,3] -> probabilities {probabilities.tolist()}")
labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label").tolist()]
check(all(label in ("no", "yes") for label in labels), f"tritonclient: tabular labels {labels}")
# The same rows through TF Serving's row format answer the same probabilities.
v1 = requests.post(f"{base}/v1/models/tabular:predict", json={"instances": rows.tolist()}).json()
check(np.allclose([p["probabilities"] for p in v1["predictions"]], probabilities, atol=1e-6),
      "TF Serving row predict agrees with the OIP answer")

image = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
pixels = triton.InferInput("image", [1, 3, 32, 32], "FP32")
pixels.set_data_from_numpy(image, binary_data=False)
result = client.infer("shapes", [pixels], model_version="1", outputs=[triton.InferRequestedOutput("probabilities", binary_data=False)])
check(result.as_numpy("probabilities").shape == (1, 10), "tritonclient: shapes infer FP32 [1,3,32,32], version 1")

texts = np.array([b"a wonderful film", b"dull and far too long"], dtype=np.object_)
text = triton.InferInput("text", [2], "BYTES")
text.set_data_from_numpy(texts, binary_data=False)
result = client.infer("sentiment", [text], outputs=[triton.InferRequestedOutput("probabilities", binary_data=False)])
check(result.as_numpy("probabilities").shape == (2, 2), "tritonclient: sentiment infer BYTES [2]")

# tritonclient's defaults: binary tensor data in and out (Triton's binary data extension).
binary_rows = triton.InferInput("features", list(rows.shape), "FP32")
binary_rows.set_data_from_numpy(rows)
result = client.infer("tabular", [binary_rows])
check(np.allclose(result.as_numpy("probabilities"), probabilities, atol=1e-6),
      "tritonclient: binary FP32 input and binary outputs agree with the JSON answer")
binary_labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label").tolist()]
check(binary_labels == labels, f"tritonclient: binary BYTES output {binary_labels}")
binary_text = triton.InferInput("text", [2], "BYTES")
binary_text.set_data_from_numpy(texts)
result = client.infer("sentiment", [binary_text], outputs=[triton.InferRequestedOutput("probabilities")])
check(result.as_numpy("probabilities").shape == (2, 2), "tritonclient: binary BYTES input [2]")

try:
    wrong = triton.InferInput("features", [1, 4], "FP32")
    wrong.set_data_from_numpy(np.zeros((1, 4), dtype=np.float32), binary_data=False)
    client.infer("tabular", [wrong])
    check(False, "tritonclient: a wrong shape is refused")
except triton.InferenceServerException as error:
    check(error.status() == "400", f"tritonclient: a wrong shape is refused with 400: {error.message()}")

# --- TensorFlow Serving REST ----------------------------------------------------------
status = requests.get(f"{base}/v1/models/shapes").json()
check(status["model_version_status"][0]["state"] == "AVAILABLE", f"TF Serving status {status}")
signature = requests.get(f"{base}/v1/models/shapes/metadata").json()["metadata"]["signature_def"]["signature_def"]["serving_default"]
check(signature["inputs"]["image"]["dtype"] == "DT_FLOAT", "TF Serving metadata: serving_default signature")

columns = requests.post(f"{base}/v1/models/tabular:predict",
                        json={"signature_name": "serving_default", "inputs": {"a": [0.5, 1.5], "b": [-1.0, 0.0], "c": [2.0, -0.5]}})
check(columns.status_code == 200 and np.allclose(columns.json()["outputs"]["probabilities"], probabilities, atol=1e-6),
      "TF Serving columnar predict (named inputs) agrees")

b64 = base64.b64encode(png(32, 32, (200, 30, 30))).decode()
answer = requests.post(f"{base}/v1/models/shapes/versions/1:predict", json={"instances": [{"b64": b64}, {"b64": b64}]})
predictions = answer.json().get("predictions", [])
check(answer.status_code == 200 and len(predictions) == 2 and predictions[0] == predictions[1],
      f"TF Serving b64 PNG predict: {answer.status_code}")

classify = requests.post(f"{base}/v1/models/sentiment:classify", json={"examples": [{"text": "a wonderful film"}]})
results = classify.json().get("results", [])
check(classify.status_code == 200 and len(results[0]) == 2 and results[0][0][1] >= results[0][1][1],
      f"TF Serving classify: labels most likely first {results}")

bad = requests.post(f"{base}/v1/models/tabular:predict", data=b"{not json", headers={"Content-Type": "application/json"})
check(bad.status_code == 400 and "error" in bad.json(), f"TF Serving: bad JSON is refused with 400: {bad.text}")

# --- An ONNX model: the graph's signature, answers as onnxruntime's -----------------------
metadata = client.get_model_metadata("shapes-onnx")
graph_input, graph_output = metadata["inputs"][0], metadata["outputs"][0]
check(graph_input["datatype"] == "FP32" and graph_input["shape"] == [-1, 3, 32, 32] and graph_output["shape"] == [-1, 10],
      f"tritonclient: ONNX model metadata is the graph's {metadata['inputs']} -> {metadata['outputs']}")
session = onnxruntime.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
batch = np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype(np.float32)
reference = session.run(None, {graph_input["name"]: batch})[0]
for binary in (True, False):
    tensor = triton.InferInput(graph_input["name"], list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch, binary_data=binary)
    result = client.infer("shapes-onnx", [tensor], outputs=[triton.InferRequestedOutput(graph_output["name"], binary_data=binary)])
    check(np.allclose(result.as_numpy(graph_output["name"]), reference, atol=1e-4),
          f"tritonclient: ONNX infer ({'binary' if binary else 'JSON'} data) agrees with onnxruntime")
columns = requests.post(f"{base}/v1/models/shapes-onnx:predict", json={"inputs": {graph_input["name"]: batch.tolist()}})
check(columns.status_code == 200 and np.allclose(columns.json()["outputs"], reference, atol=1e-4),
      "TF Serving columnar predict on the ONNX model agrees with onnxruntime")
rows = requests.post(f"{base}/v1/models/shapes-onnx:predict", json={"instances": batch.tolist()})
check(rows.status_code == 200 and np.allclose(rows.json()["predictions"], reference, atol=1e-4),
      "TF Serving row predict on the ONNX model agrees with onnxruntime")
try:
    wrong = triton.InferInput(graph_input["name"], [1, 3, 32, 32], "FP64")
    wrong.set_data_from_numpy(np.zeros((1, 3, 32, 32)), binary_data=True)
    client.infer("shapes-onnx", [wrong])
    check(False, "tritonclient: an FP64 tensor for the ONNX model's FP32 input is refused")
except triton.InferenceServerException as error:
    check(error.status() == "400" and "datatype" in error.message(), f"tritonclient: a wrong datatype is refused with 400: {error.message()}")

# --- Prometheus -------------------------------------------------------------------------
families = {family.name: family for family in text_string_to_metric_families(requests.get(f"{base}/metrics").text)}
for name in ["ember_serve_requests", "ember_serve_request_duration_seconds", "ember_serve_queue_duration_seconds",
             "ember_serve_compute_duration_seconds", "ember_serve_batch_size_examples", "ember_serve_models_loaded_count"]:
    check(name in families, f"prometheus_client parses /metrics: {name}")

print(f"{len(failures)} failed" if failures else "all client checks passed")
sys.exit(1 if failures else 0)
