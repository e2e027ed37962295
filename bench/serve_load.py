"""Load on `ember serve` with wrk (Debian's `wrk`): throughput, p50 and p99 latency and
errors for each model at each concurrency, with dynamic batching and without it
(--max-batch-size 1), and the server's resident memory over an endurance run.

    python3 bench/serve_load.py                                  # everything, 20 s per point
    python3 bench/serve_load.py --models resnet18 --seconds 10 --concurrency 1,32
    python3 bench/serve_load.py --endurance 600 --endurance-model minilm

Models: resnet18 and resnet50 (run folders that `ember train` writes after one step on the
32x32 shapes, served at 224x224; the weights do not change the cost), requested as one PPM
image in TF Serving's b64 form; minilm (all-MiniLM-L6-v2 from scripts/fetch-minilm.sh or
$EMBER_MINILM_DIR), requested as one sentence. Every request holds one example, so a
batch forms only from concurrent requests. Prints a Markdown table; --write FILE saves it.
"""
import argparse
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ppm(width, height):
    """A binary PPM (P6) with a gradient and a square. PPM, not PNG: this branch's base has
    the release-build PNG decoding bug (every 8-bit PNG refused with a garbage error) that
    main fixed in c3db352; PNG can come back once that is merged."""
    pixels = bytearray()
    for y in range(height):
        for x in range(width):
            inside = width // 4 <= x < 3 * width // 4 and height // 4 <= y < 3 * height // 4
            pixels += bytes((255, 40, 40) if inside else (x * 255 // width, y * 255 // height, 128))
    return b"P6\n%d %d\n255\n" % (width, height) + bytes(pixels)


def minilm_folder():
    folder = os.environ.get("EMBER_MINILM_DIR") or subprocess.run(
        [os.path.join(ROOT, "scripts/fetch-minilm.sh")], check=True, capture_output=True, text=True).stdout.strip()
    return folder


def make_repository(ember, models, directory):
    """DIRECTORY/NAME/NAME/1/ (a repository per model, so that a server loads only the model
    it is measured on) and the request body of each model."""
    bodies = {}
    for model in models:
        folder = os.path.join(directory, model, model, "1")
        if model in ("resnet18", "resnet50"):
            subprocess.run([ember, "train", "--model", model, "--dataset", "shapes", "--epochs", "1", "--train-size", "8",
                            "--val-size", "8", "--batch-size", "8", "--out", folder], check=True, stdout=subprocess.DEVNULL)
            # shapes are 32x32; the ImageNet ResNets pool adaptively, so the same weights
            # serve 224x224 inputs, the size the load is measured at.
            card_file = os.path.join(folder, "model.json")
            with open(card_file) as f:
                card = json.load(f)
            card["input"]["image"].update(height=224, width=224)
            with open(card_file, "w") as f:
                json.dump(card, f)
            image = base64.b64encode(ppm(224, 224)).decode()
            bodies[model] = ("/v1/models/%s:predict" % model, '{"instances": [{"b64": "%s"}]}' % image)
        elif model == "minilm":
            shutil.copytree(minilm_folder(), folder, copy_function=os.link)
            bodies[model] = ("/v1/models/minilm:predict", '{"instances": ["A man is eating food in a small restaurant by the sea."]}')
        else:
            sys.exit(f"serve_load.py: --models takes resnet18, resnet50, minilm; got '{model}'")
    return bodies


class Server:
    def __init__(self, ember, repository, batch):
        environment = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "passive"))
        self.process = subprocess.Popen(
            [ember, "serve", "--model-dir", repository, "--port", "0", "--log-level", "warning",
             "--max-batch-size", str(batch), "--max-queue-delay-ms", "5" if batch > 1 else "0", "--timeout-seconds", "120"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment)
        line = self.process.stdout.readline()
        match = re.search(r":(\d+)$", line.strip())
        if not match:
            sys.exit(f"serve_load.py: the server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{match.group(1)}"
        for _ in range(600):
            try:
                if urllib.request.urlopen(self.url + "/v2/health/ready").status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)

    def rss_mb(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1)) / 1024

    def metric(self, name, model):
        text = urllib.request.urlopen(self.url + "/metrics").read().decode()
        pattern = r'^%s\{model="%s"\} ([0-9.e+]+)$' % (re.escape(name), re.escape(model))
        values = [float(v) for v in re.findall(pattern, text, re.M)]
        return values[0] if values else 0.0

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=120)


def seconds(text):
    """wrk's latency text in seconds (NaN when no request finished in the run)."""
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not match:
        return float("nan")
    value, unit = match.groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[unit]


def percentile(output, which):
    """A line of wrk's latency distribution in seconds (NaN when wrk printed none)."""
    match = re.search(r"^\s*%s%%\s+(\S+)\s*$" % which, output, re.M)
    return seconds(match.group(1)) if match else float("nan")


def wrk(url, path, body_file, concurrency, duration, environment=None):
    """`environment`: more of serve_post.lua's settings (content type, binary header length)."""
    script = os.path.join(ROOT, "bench/serve_post.lua")
    output = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{duration}s", "--timeout", "120s", "--latency", "-s", script, url + path],
                            env=dict(os.environ, EMBER_BENCH_BODY=body_file, **(environment or {})),
                            check=True, capture_output=True, text=True).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1)),
        # Anchored: the thread statistics' "+/- Stdev" column (say 71.50%) also holds "50%".
        "p50": percentile(output, "50"),
        "p99": percentile(output, "99"),
        "requests": requests,
        "errors": errors + (int(non2xx.group(1)) if non2xx else 0),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ember", default=os.path.join(ROOT, ".build/release/ember"))
    parser.add_argument("--models", default="resnet18,resnet50,minilm")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--seconds", type=int, default=20, help="wrk's duration per point")
    parser.add_argument("--max-batch", type=int, default=32, help="the batched server's --max-batch-size")
    parser.add_argument("--endurance", type=int, default=0, help="seconds of an endurance run at concurrency 8 (0: none)")
    parser.add_argument("--endurance-model", default="minilm")
    parser.add_argument("--write", help="also write the Markdown to this file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("serve_load.py: needs wrk (apt-get install wrk)")
    models = args.models.split(",")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    work = tempfile.mkdtemp(prefix="ember-serve-load-")
    lines = []
    try:
        repository = os.path.join(work, "repo")
        bodies = make_repository(args.ember, sorted(set(models + ([args.endurance_model] if args.endurance else []))), repository)
        lines += [f"ember serve under wrk ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
                  f"load average {os.getloadavg()[0]:.1f} at the start; {args.seconds} s per point, one example per request)", "",
                  "| model | batching | concurrency | req/s | p50 ms | p99 ms | requests | errors | mean batch | batched/unbatched req/s |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for model in models:
            path, body = bodies[model]
            body_file = os.path.join(work, model + ".json")
            with open(body_file, "w") as f:
                f.write(body)
            unbatched = {}
            for batch in (1, args.max_batch):
                server = Server(args.ember, os.path.join(repository, model), batch)
                try:
                    warm_up = wrk(server.url, path, body_file, 2, 3)
                    if warm_up["errors"]:
                        sys.exit(f"serve_load.py: {model} answered errors: {urllib.request.urlopen(server.url + '/metrics').read().decode()}")
                    for concurrency in concurrencies:
                        before = (server.metric("ember_serve_batch_size_examples_sum", model), server.metric("ember_serve_batch_size_examples_count", model))
                        result = wrk(server.url, path, body_file, concurrency, args.seconds)
                        after = (server.metric("ember_serve_batch_size_examples_sum", model), server.metric("ember_serve_batch_size_examples_count", model))
                        mean_batch = (after[0] - before[0]) / max(after[1] - before[1], 1)
                        ratio = ""
                        if batch == 1:
                            unbatched[concurrency] = result["rps"]
                        elif unbatched.get(concurrency):
                            ratio = f"{result['rps'] / unbatched[concurrency]:.2f}x"
                        line = (f"| {model} | {f'max {batch}, 5 ms' if batch > 1 else 'off'} | {concurrency} | {result['rps']:.2f} | "
                                f"{result['p50'] * 1000:.1f} | {result['p99'] * 1000:.1f} | {result['requests']} | {result['errors']} | "
                                f"{mean_batch:.1f} | {ratio} |")
                        print(line, flush=True)
                        lines.append(line)
                finally:
                    server.stop()
        if args.endurance:
            model = args.endurance_model
            path, body = bodies[model]
            body_file = os.path.join(work, model + ".json")
            with open(body_file, "w") as f:
                f.write(body)
            server = Server(args.ember, os.path.join(repository, model), args.max_batch)
            try:
                wrk(server.url, path, body_file, 8, 10)  # warm-up
                samples = [server.rss_mb()]
                total, errors, step = 0, 0, 30
                for _ in range(max(args.endurance // step, 1)):
                    result = wrk(server.url, path, body_file, 8, step)
                    total += result["requests"]
                    errors += result["errors"]
                    samples.append(server.rss_mb())
                    print(f"endurance: {len(samples) - 1} x {step} s, RSS {samples[-1]:.0f} MB", flush=True)
                lines += ["", f"Endurance: {model}, batching max {args.max_batch} / 5 ms, concurrency 8, {args.endurance} s after a 10 s warm-up: "
                              f"{total} requests, {errors} errors; server RSS {samples[0]:.0f} MB at the start, "
                              f"{samples[-1]:.0f} MB at the end, {max(samples):.0f} MB at most "
                              f"(every {step} s: {', '.join(f'{s:.0f}' for s in samples)})."]
            finally:
                server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(lines, args.write)


def report(lines, path):
    """Prints the tables, and writes them to `path` when one is given (--write)."""
    text = "\n".join(lines) + "\n"
    print(text)
    if path:
        with open(path, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
