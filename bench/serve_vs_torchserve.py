"""`ember serve` and TorchServe side by side on the same ResNet-18 (the same weights), both
with dynamic batching (max 32, 5 ms), under wrk at each concurrency, the two servers
interleaved point by point so that background load falls on both alike.

    python3 bench/serve_vs_torchserve.py --venv /path/to/venv      # 30 s per point, 1/8/32
    python3 bench/serve_vs_torchserve.py --venv V --seconds 10 --rounds 2 --write /tmp/ts.md

The venv needs torch, onnx, torchserve and torch-model-archiver (PyPI; no torchvision), and
TorchServe needs Java 17. The model: an `ember train` ResNet-18 run (one step on shapes,
served at 224x224, as bench/serve_load.py makes it); its ONNX export's initializers load by
state-dict key into a plain-torch ResNet-18 (bench/torchserve/resnet.py), TorchScript'ed and
archived with bench/torchserve/handler.py. Both servers get one 224x224 PPM per request as
raw bytes: TorchServe as the body, Ember as one BYTES element of the Open Inference
Protocol's binary tensor data extension; both decode, scale and normalize with the run's
mean and std. Before the load, both answer the same image and their probabilities are
compared. TorchServe runs one worker (torch uses every core in it), as Ember runs one
forward at a time on every core.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_load  # noqa: E402

ROOT = serve_load.ROOT
HERE = os.path.join(ROOT, "bench/torchserve")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body, headers):
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=300) as answer:
        return answer.read()


class TorchServe:
    def __init__(self, venv, ember, work, run_folder, max_batch):
        python = os.path.join(venv, "bin/python")
        with open(os.path.join(run_folder, "model.json")) as f:
            card = json.load(f)
        onnx_file = os.path.join(work, "resnet18.onnx")
        subprocess.run([ember, "export", run_folder, "--out", onnx_file],
                       check=True, stdout=subprocess.DEVNULL)
        script = os.path.join(work, "resnet18.pt")
        subprocess.run([python, "-c", "import sys, torch; sys.path.insert(0, sys.argv[1]); import resnet; "
                        "model = resnet.from_onnx(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])); "
                        "torch.jit.script(model).save(sys.argv[5])",
                        HERE, onnx_file, str(card["input"]["image"]["channels"]), str(len(card["classNames"])), script], check=True)
        store = os.path.join(work, "store")
        os.makedirs(store)
        subprocess.run([os.path.join(venv, "bin/torch-model-archiver"), "--model-name", "resnet18", "--version", "1.0",
                        "--serialized-file", script, "--handler", os.path.join(HERE, "handler.py"),
                        "--extra-files", os.path.join(run_folder, "model.json"), "--export-path", store], check=True)
        self.port = free_port()
        config = os.path.join(work, "config.properties")
        models = {"resnet18": {"1.0": {"defaultVersion": True, "marName": "resnet18.mar", "minWorkers": 1, "maxWorkers": 1,
                                       "batchSize": max_batch, "maxBatchDelay": 5, "responseTimeout": 120}}}
        with open(config, "w") as f:
            f.write(f"inference_address=http://127.0.0.1:{self.port}\n"
                    f"management_address=http://127.0.0.1:{free_port()}\n"
                    f"metrics_address=http://127.0.0.1:{free_port()}\n"
                    f"model_store={store}\nload_models=resnet18.mar\nmodels={json.dumps(models)}\n"
                    "disable_token_authorization=true\nenable_envvars_config=false\ninstall_py_dep_per_model=false\n"
                    "default_workers_per_model=1\n")
        environment = dict(os.environ, PATH=os.path.join(venv, "bin") + os.pathsep + os.environ["PATH"],
                           OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "passive"))
        self.log = open(os.path.join(work, "torchserve.log"), "w")
        self.process = subprocess.Popen([os.path.join(venv, "bin/torchserve"), "--start", "--foreground", "--ncs",
                                         "--ts-config", config, "--model-store", store, "--disable-token-auth"],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=environment, cwd=work)
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(1200):
            if self.process.poll() is not None:
                sys.exit(f"serve_vs_torchserve.py: torchserve exited {self.process.returncode}; see {self.log.name}")
            try:
                if urllib.request.urlopen(self.url + "/ping", timeout=5).status == 200:
                    post(self.url + "/predictions/resnet18", serve_load.ppm(8, 8), {"Content-Type": "application/octet-stream"})
                    break
            except OSError:
                pass
            time.sleep(0.25)
        else:
            sys.exit(f"serve_vs_torchserve.py: torchserve did not answer within 5 minutes; see {self.log.name}")

    def stop(self):
        subprocess.run([os.path.join(os.path.dirname(self.process.args[0]), "torchserve"), "--stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", required=True, help="a venv with torch, onnx, torchserve and torch-model-archiver")
    parser.add_argument("--ember", default=os.path.join(ROOT, ".build/release/ember"))
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1, help="times each (server, concurrency) point is measured, interleaved")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--write", help="also write the Markdown to this file")
    args = parser.parse_args()
    for tool in ("wrk", "java"):
        if shutil.which(tool) is None:
            sys.exit(f"serve_vs_torchserve.py: needs {tool}")
    work = tempfile.mkdtemp(prefix="ember-vs-torchserve-")
    ember = torchserve = None
    try:
        repository = os.path.join(work, "repo")
        serve_load.make_repository(args.ember, ["resnet18"], repository)
        run_folder = os.path.join(repository, "resnet18", "resnet18", "1")
        image = serve_load.ppm(224, 224)
        # Ember: the PPM as one BYTES element in binary (4-byte length, then the bytes).
        header = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                                         "parameters": {"binary_data_size": 4 + len(image)}}],
                             "outputs": [{"name": "probabilities"}, {"name": "label"}]}).encode()
        ember_body = header + len(image).to_bytes(4, "little") + image
        bodies = {"ember": os.path.join(work, "ember.body"), "torchserve": os.path.join(work, "image.ppm")}
        for name, body in (("ember", ember_body), ("torchserve", image)):
            with open(bodies[name], "wb") as f:
                f.write(body)
        settings = {"ember": ("/v2/models/resnet18/infer", {"EMBER_BENCH_CONTENT_TYPE": "application/octet-stream",
                                                            "EMBER_BENCH_HEADER_LENGTH": str(len(header))}),
                    "torchserve": ("/predictions/resnet18", {"EMBER_BENCH_CONTENT_TYPE": "application/octet-stream"})}

        torchserve = TorchServe(args.venv, args.ember, work, run_folder, args.max_batch)
        ember = serve_load.Server(args.ember, os.path.join(repository, "resnet18"), args.max_batch)
        urls = {"ember": ember.url, "torchserve": torchserve.url}
        # The same image, the same probabilities.
        answer = json.loads(post(ember.url + "/v2/models/resnet18/infer", ember_body,
                                 {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"}))
        ember_probabilities = next(o["data"] for o in answer["outputs"] if o["name"] == "probabilities")
        torch_probabilities = json.loads(post(torchserve.url + "/predictions/resnet18", image, {"Content-Type": "application/octet-stream"}))["probabilities"]
        difference = max(abs(a - b) for a, b in zip(ember_probabilities, torch_probabilities))
        print(f"largest |difference| of the probabilities, Ember vs TorchServe: {difference:.2e}", flush=True)
        if len(ember_probabilities) != len(torch_probabilities) or difference > 1e-3:
            sys.exit(f"serve_vs_torchserve.py: the servers disagree: {ember_probabilities} vs {torch_probabilities}")

        lines = [f"ember serve vs TorchServe, ResNet-18 224x224 ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                 f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; {args.seconds} s per point, "
                 f"one image per request, batching max {args.max_batch} / 5 ms in both; probabilities agree to {difference:.1e})", "",
                 "| server | concurrency | round | req/s | p50 ms | p99 ms | requests | errors | Ember mean batch |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for name in urls:  # warm-up
            serve_load.wrk(urls[name], settings[name][0], bodies[name], 2, 5, settings[name][1])
        results = {}
        for round in range(1, args.rounds + 1):
            for concurrency in [int(c) for c in args.concurrency.split(",")]:
                for name in ("ember", "torchserve") if round % 2 else ("torchserve", "ember"):
                    before = (ember.metric("ember_serve_batch_size_examples_sum", "resnet18"), ember.metric("ember_serve_batch_size_examples_count", "resnet18"))
                    result = serve_load.wrk(urls[name], settings[name][0], bodies[name], concurrency, args.seconds, settings[name][1])
                    after = (ember.metric("ember_serve_batch_size_examples_sum", "resnet18"), ember.metric("ember_serve_batch_size_examples_count", "resnet18"))
                    batch = f"{(after[0] - before[0]) / max(after[1] - before[1], 1):.1f}" if name == "ember" else ""
                    results.setdefault((name, concurrency), []).append(result)
                    line = (f"| {name} | {concurrency} | {round} | {result['rps']:.2f} | {result['p50'] * 1000:.1f} | "
                            f"{result['p99'] * 1000:.1f} | {result['requests']} | {result['errors']} | {batch} |")
                    print(line, flush=True)
                    lines.append(line)
        lines += ["", "| concurrency | Ember/TorchServe req/s | Ember p99 / TorchServe p99 |", "|---|---|---|"]
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            e, t = results[("ember", concurrency)], results[("torchserve", concurrency)]
            ratio = lambda key: sum(r[key] for r in e) / sum(r[key] for r in t) if sum(r[key] for r in t) > 0 else float("nan")
            lines.append(f"| {concurrency} | {ratio('rps'):.2f}x | {ratio('p99'):.2f}x |")
    finally:
        if ember:
            ember.stop()
        if torchserve:
            torchserve.stop()
        if os.environ.get("EMBER_KEEP_BENCH"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    serve_load.report(lines, args.write)


if __name__ == "__main__":
    main()
