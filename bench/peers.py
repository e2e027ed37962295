#!/usr/bin/env python3
"""The peers' side of Ember's benchmark suite: workloads W1-W9 in PyTorch and JAX, and the
inference workloads (W4, W7) in onnxruntime.

    python bench/peers.py --impl torch|jax|onnxruntime [--reps N] [--json] [--peak] [W1 W9 ...]
    python bench/peers.py --impl torch --precision bf16 W4 W5 W6 W7

`--precision bf16` runs each step under torch.autocast("cpu", dtype=torch.bfloat16), the
peer of `ember bench --precision bf16`; its lines carry "precision": "bf16".

Prints one JSON object per line (with --json), shaped like `ember bench --json`:
    {"workload":"W1","impl":"torch","median":..,"min":..,"max":..,"unit":"GFLOP/s"}
or  {"workload":"W7","impl":"jax","error":"why"}.
The workloads are listed in bench/README.md; each one does 2 warm-up calls, then
N timed ones. `--peak` measures the machine's fp32 peak (best GFLOP/s on a
4096^3 matmul) and prints it as workload "peak".

onnxruntime runs models exported from PyTorch to ONNX on first use and cached in
bench/.cache (the ResNet-50 of resnet50_torch.py; the MiniLM encoder with its pooling).

peak_rss_mb is the process's maximum resident set so far, so it is only that
workload's own figure when the workload runs alone in its process (compare.py
runs one workload per process).
"""

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time
import hashlib
from pathlib import Path
from typing import Callable, NamedTuple

WORKLOADS = [f"W{i}" for i in range(1, 10)]
RSS_WORKLOADS = {"W3", "W5", "W6"}
WARMUPS = 2
SEED = 0
CACHE = Path(__file__).resolve().parent / ".cache"
# W7: 32 sentences, each padded to 128 tokens.
MINILM_SENTENCES = [f"Sentence number {i} for the embedding benchmark." for i in range(32)]
MINILM_TOKENS = 128
# --cpu-time: one thread, timed by the process's CPU time (a figure that other processes on
# a busy machine barely disturb); otherwise all cores and the wall clock.
THREADS = os.cpu_count()
CLOCK = time.perf_counter


class Unavailable(Exception):
    """A workload this peer cannot run here; its message becomes the error line."""


class Case(NamedTuple):
    """One timed thing: `step` runs one iteration and returns once its work is done."""

    impl: str
    step: Callable[[], None]
    unit: str
    # Work per step: FLOPs for GFLOP/s, items for the rates, ops for us/op.
    amount: float = 1.0


def figure(unit: str, amount: float, seconds: float) -> float:
    if unit == "GFLOP/s":
        return amount / seconds / 1e9
    if unit in ("steps/s", "images/s", "sentences/s"):
        return amount / seconds
    if unit == "ms/iter":
        return seconds * 1e3
    if unit == "us/op":
        return seconds * 1e6 / amount
    raise ValueError(f"unknown unit {unit}")


def measure(case: Case, reps: int) -> dict:
    for _ in range(WARMUPS):
        case.step()
    figures = []
    for _ in range(reps):
        start = CLOCK()
        case.step()
        figures.append(figure(case.unit, case.amount, CLOCK() - start))
    return {
        "median": statistics.median(figures),
        "min": min(figures),
        "max": max(figures),
        "unit": case.unit,
    }


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_flops(n: int) -> float:
    return 2.0 * n**3


def minilm():
    """all-MiniLM-L6-v2 as a SentenceTransformer (BERT, mean pooling, L2 normalize) on the CPU,
    and the W7 batch tokenized by its own tokenizer, as PyTorch tensors."""
    folder = os.environ.get("EMBER_MINILM_DIR")
    if not folder:
        raise Unavailable("no MiniLM folder: pass --minilm DIR or set EMBER_MINILM_DIR")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise Unavailable("sentence-transformers is not installed (run bench/setup_peers.sh)")
    model = SentenceTransformer(folder, device="cpu").eval()
    batch = model.tokenizer(MINILM_SENTENCES, padding="max_length", max_length=MINILM_TOKENS,
                            truncation=True, return_tensors="pt")
    return model, batch


def onnx_file():
    """The file given with --onnx: W4 and W7 run it instead of their own export."""
    path = os.environ.get("EMBER_BENCH_ONNX")
    return Path(path) if path else None


def cached_onnx(name: str, export: Callable[[Path], None]) -> Path:
    """bench/.cache/`name`, written by `export(path)` the first time it is asked for."""
    path = CACHE / name
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        # Written under another name first, so an interrupted export leaves no bad file.
        partial = CACHE / f"partial-{os.getpid()}-{name}"
        export(partial)
        partial.replace(path)
    return path


# --------------------------------------------------------------------------- torch

def torch_peer():
    """Returns (impl, version, {workload: () -> [Case]}, () -> peak Case, or None)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    randn = torch.randn

    def train_step(model, opt, x, y):
        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()

        return step

    from cifar_resnet_torch import CifarResNet18
    from resnet50_torch import ResNet50

    class PreLNBlock(nn.Module):
        def __init__(self, d_model=512, heads=8, ffn=2048):
            super().__init__()
            self.heads = heads
            self.ln1 = nn.LayerNorm(d_model)
            self.qkv = nn.Linear(d_model, 3 * d_model)
            self.proj = nn.Linear(d_model, d_model)
            self.ln2 = nn.LayerNorm(d_model)
            self.ffn = nn.Sequential(nn.Linear(d_model, ffn), nn.GELU(), nn.Linear(ffn, d_model))

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).unbind(2)
            attn = F.scaled_dot_product_attention(
                q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
            x = x + self.proj(attn.transpose(1, 2).reshape(b, t, d))
            return x + self.ffn(self.ln2(x))

    def w1():
        a, b = randn(1024, 1024), randn(1024, 1024)
        return [Case("torch", lambda: a @ b, "GFLOP/s", matmul_flops(1024))]

    def w2():
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                              nn.Linear(256, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x, y = randn(128, 784), torch.randint(0, 10, (128,))
        return [Case("torch", train_step(model, opt, x, y), "steps/s")]

    def w3():
        model = CifarResNet18().train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x, y = randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
        return [Case("torch", train_step(model, opt, x, y), "images/s", 64)]

    def w4():
        model = ResNet50().eval()
        x = randn(8, 3, 224, 224)

        def step():
            with torch.inference_mode():
                model(x)

        return [Case("torch", step, "images/s", 8)]

    def w5():
        model = ResNet50().train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x, y = randn(8, 3, 224, 224), torch.randint(0, 1000, (8,))
        return [Case("torch", train_step(model, opt, x, y), "images/s", 8)]

    def w6():
        block = PreLNBlock()
        x = randn(8, 128, 512).requires_grad_()

        def step_of(fn):
            def step():
                block.zero_grad(set_to_none=True)
                x.grad = None
                fn(x).mean().backward()

            return step

        return [Case("torch", step_of(block), "ms/iter"),
                Case("torch-compiled", step_of(torch.compile(block)), "ms/iter")]

    def w7():
        # sentence-transformers' own pipeline (BERT, mean pooling, L2 normalize) on the
        # pre-tokenized batch.
        model, batch = minilm()

        def step():
            with torch.inference_mode():
                model(dict(batch))["sentence_embedding"]

        return [Case("torch", step, "sentences/s", len(MINILM_SENTENCES))]

    def w8():
        x, w, b = randn(4096, 1024), randn(1024), randn(1024)

        def fused(x, w, b):
            return F.layer_norm(F.gelu(x * w + b), (1024,))

        compiled = torch.compile(fused)
        return [Case("torch", lambda: fused(x, w, b), "ms/iter"),
                Case("torch-compiled", lambda: compiled(x, w, b), "ms/iter")]

    def w9():
        x0, y = randn(16), randn(16)

        def step():
            x = x0
            for _ in range(1000):
                x = x + y

        return [Case("torch", step, "us/op", 1000)]

    def peak():
        a, b, c = randn(4096, 4096), randn(4096, 4096), torch.empty(4096, 4096)
        return Case("torch", lambda: torch.mm(a, b, out=c), "GFLOP/s", matmul_flops(4096))

    workloads = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7,
                 "W8": w8, "W9": w9}
    return "torch", f"torch {torch.__version__}", workloads, peak


# --------------------------------------------------------------------------- jax

def jax_peer():
    """Like torch_peer. XLA's CPU client uses all cores by default."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    keys = iter(jax.random.split(jax.random.PRNGKey(SEED), 1024))

    def randn(*shape):
        return jax.random.normal(next(keys), shape, jnp.float32)

    def cross_entropy(logits, labels):
        logp = jax.nn.log_softmax(logits)
        return -jnp.take_along_axis(logp, labels[:, None], axis=1).mean()

    def layer_norm(x, eps=1e-5):
        mean = x.mean(-1, keepdims=True)
        return (x - mean) * lax.rsqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps)

    def train_case(loss_fn, params, state, x, y, momentum, unit, amount=1):
        """A jitted SGD step; `loss_fn(params, state, x, y) -> (loss, new_state)`.

        Momentum follows torch.optim.SGD: v = momentum * v + g; p -= lr * v.
        """
        lr = 0.01

        @jax.jit
        def update(params, velocity, state):
            grads, state = jax.grad(loss_fn, has_aux=True)(params, state, x, y)
            if momentum:
                velocity = jax.tree.map(lambda v, g: momentum * v + g, velocity, grads)
                grads = velocity
            params = jax.tree.map(lambda p, g: p - lr * g, params, grads)
            return params, velocity, state

        velocity = jax.tree.map(jnp.zeros_like, params) if momentum else None
        carry = [params, velocity, state]

        def step():
            carry[:] = update(*carry)
            jax.block_until_ready(carry)

        return Case("jax", step, unit, amount)

    class ResNet:
        """Functional ResNet in torchvision's layout (v1.5 bottleneck), NCHW like the torch peer.

        `apply(params, stats, x, train)` returns (logits, new BatchNorm running stats).
        """

        def __init__(self, bottleneck, layers, num_classes, cifar):
            self.bottleneck, self.cifar = bottleneck, cifar
            self.params, self.stats, self.blocks = {}, {}, []
            expansion = 4 if bottleneck else 1
            self.conv_bn("stem", 3, 64, 3 if cifar else 7)
            cin = 64
            for i, count in enumerate(layers):
                width = 64 * 2**i
                for j in range(count):
                    name, stride = f"layer{i + 1}.{j}", 2 if i > 0 and j == 0 else 1
                    if bottleneck:
                        self.conv_bn(f"{name}.1", cin, width, 1)
                        self.conv_bn(f"{name}.2", width, width, 3)
                        self.conv_bn(f"{name}.3", width, width * 4, 1)
                    else:
                        self.conv_bn(f"{name}.1", cin, width, 3)
                        self.conv_bn(f"{name}.2", width, width, 3)
                    down = stride != 1 or cin != width * expansion
                    if down:
                        self.conv_bn(f"{name}.down", cin, width * expansion, 1)
                    self.blocks.append((name, stride, down))
                    cin = width * expansion
            self.params["fc"] = {"w": randn(cin, num_classes) / math.sqrt(cin),
                                 "b": jnp.zeros(num_classes)}

        def conv_bn(self, name, cin, cout, k):
            self.params[name] = {"w": randn(cout, cin, k, k) * math.sqrt(2 / (cin * k * k)),
                                 "gamma": jnp.ones(cout), "beta": jnp.zeros(cout)}
            self.stats[name] = {"mean": jnp.zeros(cout), "var": jnp.ones(cout)}

        def apply(self, params, stats, x, train):
            new_stats = {}

            def conv_bn(name, x, stride=1, relu=True):
                p, s = params[name], stats[name]
                k = p["w"].shape[-1]
                x = lax.conv_general_dilated(x, p["w"], (stride, stride), [(k // 2, k // 2)] * 2,
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"))
                if train:
                    mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3))
                    n = x.size / x.shape[1]
                    # Running stats as torch keeps them: momentum 0.1, unbiased variance.
                    new_stats[name] = {"mean": 0.9 * s["mean"] + 0.1 * mean,
                                       "var": 0.9 * s["var"] + 0.1 * var * n / (n - 1)}
                else:
                    mean, var = s["mean"], s["var"]
                scale = p["gamma"] * lax.rsqrt(var + 1e-5)
                x = x * scale[:, None, None] + (p["beta"] - mean * scale)[:, None, None]
                return jax.nn.relu(x) if relu else x

            x = conv_bn("stem", x, 1 if self.cifar else 2)
            if not self.cifar:
                x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 3, 3), (1, 1, 2, 2),
                                      [(0, 0), (0, 0), (1, 1), (1, 1)])
            for name, stride, down in self.blocks:
                skip = conv_bn(f"{name}.down", x, stride, relu=False) if down else x
                if self.bottleneck:
                    h = conv_bn(f"{name}.2", conv_bn(f"{name}.1", x), stride)
                    h = conv_bn(f"{name}.3", h, relu=False)
                else:
                    h = conv_bn(f"{name}.2", conv_bn(f"{name}.1", x, stride), relu=False)
                x = jax.nn.relu(h + skip)
            logits = x.mean((2, 3)) @ params["fc"]["w"] + params["fc"]["b"]
            return logits, new_stats

    def resnet_train(net, batch, classes, momentum):
        x, y = randn(batch, 3, *((32, 32) if net.cifar else (224, 224))), \
            jax.random.randint(next(keys), (batch,), 0, classes)

        def loss_fn(params, stats, x, y):
            logits, stats = net.apply(params, stats, x, train=True)
            return cross_entropy(logits, y), stats

        return [train_case(loss_fn, net.params, net.stats, x, y, momentum, "images/s", batch)]

    def w1():
        a, b = randn(1024, 1024), randn(1024, 1024)
        matmul = jax.jit(jnp.matmul)
        return [Case("jax", lambda: matmul(a, b).block_until_ready(), "GFLOP/s",
                     matmul_flops(1024))]

    def w2():
        sizes = [784, 512, 256, 10]
        params = [{"w": randn(i, o) * math.sqrt(2 / i), "b": jnp.zeros(o)}
                  for i, o in zip(sizes, sizes[1:])]
        x, y = randn(128, 784), jax.random.randint(next(keys), (128,), 0, 10)

        def loss_fn(params, state, x, y):
            h = x
            for layer in params[:-1]:
                h = jax.nn.relu(h @ layer["w"] + layer["b"])
            return cross_entropy(h @ params[-1]["w"] + params[-1]["b"], y), state

        return [train_case(loss_fn, params, {}, x, y, 0.9, "steps/s")]

    def w3():
        return resnet_train(ResNet(False, [2, 2, 2, 2], 10, cifar=True), 64, 10, 0.9)

    def w4():
        net = ResNet(True, [3, 4, 6, 3], 1000, cifar=False)
        x = randn(8, 3, 224, 224)
        infer = jax.jit(lambda params, x: net.apply(params, net.stats, x, train=False)[0])
        return [Case("jax", lambda: infer(net.params, x).block_until_ready(), "images/s", 8)]

    def w5():
        return resnet_train(ResNet(True, [3, 4, 6, 3], 1000, cifar=False), 8, 1000, 0.0)

    def w6():
        d, heads, ffn = 512, 8, 2048

        def linear(i, o):
            return {"w": randn(i, o) / math.sqrt(i), "b": jnp.zeros(o)}

        params = {"ln1": {"g": jnp.ones(d), "b": jnp.zeros(d)}, "qkv": linear(d, 3 * d),
                  "proj": linear(d, d), "ln2": {"g": jnp.ones(d), "b": jnp.zeros(d)},
                  "ffn1": linear(d, ffn), "ffn2": linear(ffn, d)}
        x = randn(8, 128, d)

        def dense(p, x):
            return x @ p["w"] + p["b"]

        def block(x, p):
            b, t, _ = x.shape
            h = layer_norm(x) * p["ln1"]["g"] + p["ln1"]["b"]
            q, k, v = jnp.split(dense(p["qkv"], h).reshape(b, t, 3 * heads, d // heads), 3, 2)
            scores = jnp.einsum("bqnh,bknh->bnqk", q, k) / math.sqrt(d // heads)
            attn = jnp.einsum("bnqk,bknh->bqnh", jax.nn.softmax(scores), v)
            x = x + dense(p["proj"], attn.reshape(b, t, d))
            h = layer_norm(x) * p["ln2"]["g"] + p["ln2"]["b"]
            return x + dense(p["ffn2"], jax.nn.gelu(dense(p["ffn1"], h), approximate=False))

        grads = jax.jit(jax.grad(lambda x, p: block(x, p).mean(), argnums=(0, 1)))
        return [Case("jax", lambda: jax.block_until_ready(grads(x, params)), "ms/iter")]

    def w7():
        raise Unavailable("not implemented for jax")

    def w8():
        x, w, b = randn(4096, 1024), randn(1024), randn(1024)
        fused = jax.jit(lambda x, w, b: layer_norm(jax.nn.gelu(x * w + b, approximate=False)))
        return [Case("jax", lambda: fused(x, w, b).block_until_ready(), "ms/iter")]

    def w9():
        # Eager: every add is dispatched on its own, as a user's Python loop would do.
        x0, y = randn(16), randn(16)

        def step():
            x = x0
            for _ in range(1000):
                x = x + y
            x.block_until_ready()

        return [Case("jax", step, "us/op", 1000)]

    def peak():
        a, b = randn(4096, 4096), randn(4096, 4096)
        matmul = jax.jit(jnp.matmul)
        return Case("jax", lambda: matmul(a, b).block_until_ready(), "GFLOP/s",
                    matmul_flops(4096))

    workloads = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7,
                 "W8": w8, "W9": w9}
    return "jax", f"jax {jax.__version__}", workloads, peak


# --------------------------------------------------------------------------- onnxruntime

def onnxruntime_peer():
    """Like torch_peer, for the inference workloads W4 and W7: PyTorch models exported to ONNX
    once (bench/.cache) and run by an InferenceSession with onnxruntime's default CPU
    settings: all graph optimizations, and its own intra-op thread pool of one thread per
    physical core (2 on the 2-core benchmark machine)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    def session(path: Path):
        options = ort.SessionOptions()
        if THREADS == 1:
            options.intra_op_num_threads = options.inter_op_num_threads = 1
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def w4():
        def export(path):
            from resnet50_torch import ResNet50

            torch.manual_seed(SEED)
            model = ResNet50().eval()
            torch.onnx.export(model, (torch.randn(8, 3, 224, 224),), str(path),
                              input_names=["images"], output_names=["logits"],
                              external_data=False)

        resnet = session(onnx_file() or cached_onnx("resnet50-eval-8x3x224x224.onnx", export))
        run, name = resnet.run, resnet.get_inputs()[0].name
        x = np.random.default_rng(SEED).standard_normal((8, 3, 224, 224), dtype=np.float32)
        return [Case("onnxruntime", lambda: run(None, {name: x}), "images/s", 8)]

    def w7():
        import torch.nn.functional as F

        model, batch = minilm()
        if onnx_file():
            # The given file (`ember bench W7 --onnx FILE` imports the same one), fed by input name.
            given = session(onnx_file())
            feeds = {i.name: batch[i.name].numpy() for i in given.get_inputs()}
            return [Case("onnxruntime", lambda: given.run(None, feeds), "sentences/s", len(MINILM_SENTENCES))]
        names = ["input_ids", "attention_mask", "token_type_ids"]

        class Embed(torch.nn.Module):
            """The encoder with the pooling in the graph: what the torch peer's pipeline computes."""

            def __init__(self, bert):
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask, token_type_ids):
                hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=token_type_ids).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return F.normalize(pooled, dim=1)

        def export(path):
            torch.onnx.export(Embed(model[0].auto_model).eval(), tuple(batch[n] for n in names),
                              str(path), input_names=names, output_names=["embeddings"],
                              external_data=False)

        folder = os.path.realpath(os.environ["EMBER_MINILM_DIR"])
        tag = hashlib.sha1(folder.encode()).hexdigest()[:12]
        run = session(cached_onnx(f"minilm-{tag}-{len(MINILM_SENTENCES)}x{MINILM_TOKENS}.onnx",
                                  export)).run
        feeds = {n: batch[n].numpy() for n in names}
        # The exported graph must compute what sentence-transformers does.
        with torch.inference_mode():
            expected = model(dict(batch))["sentence_embedding"].numpy()
        error = float(np.abs(run(None, feeds)[0] - expected).max())
        if error > 1e-4:
            raise Unavailable(f"the ONNX export differs from sentence-transformers by {error:.2g}")
        return [Case("onnxruntime", lambda: run(None, feeds), "sentences/s",
                     len(MINILM_SENTENCES))]

    def other():
        raise Unavailable("onnxruntime runs the inference workloads only (W4, W7)")

    workloads = {w: other for w in WORKLOADS}
    workloads.update({"W4": w4, "W7": w7})
    return "onnxruntime", f"onnxruntime {ort.__version__}", workloads, None


PEERS = {"torch": torch_peer, "jax": jax_peer, "onnxruntime": onnxruntime_peer}


# --------------------------------------------------------------------------- driver

def emit(record: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(record), flush=True)
    elif "error" in record:
        print(f"{record['workload']:>4} {record['impl']:<15} error: {record['error']}", flush=True)
    else:
        rss = f"  peak RSS {record['peak_rss_mb']:.0f} MB" if "peak_rss_mb" in record else ""
        print(f"{record['workload']:>4} {record['impl']:<15} {record['median']:10.3f} "
              f"{record['unit']:<12} (min {record['min']:.3f}, max {record['max']:.3f}){rss}",
              flush=True)


def describe(error: Exception) -> str:
    if isinstance(error, Unavailable):
        return str(error)
    return f"{type(error).__name__}: {error}".splitlines()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workloads", nargs="*", metavar="W", help="W1..W9 (default: all)")
    parser.add_argument("--impl", required=True, choices=sorted(PEERS))
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions (default 5)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--peak", action="store_true",
                        help="measure the fp32 peak on a 4096^3 matmul (workload 'peak')")
    parser.add_argument("--minilm", help="all-MiniLM-L6-v2 folder for W7 "
                                         "(default: $EMBER_MINILM_DIR)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="bf16: torch.autocast to bfloat16 (torch only; W4-W7)")
    parser.add_argument("--onnx", help="with --impl onnxruntime: run W4 or W7 on this ONNX file "
                        "(the file `ember bench W4|W7 --onnx FILE` imports)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="one thread, timed by the process's CPU time (jax: CPU time only)")
    args = parser.parse_args()
    if args.cpu_time:
        global THREADS, CLOCK
        THREADS, CLOCK = 1, time.process_time
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {WORKLOADS}")
    workloads = args.workloads or ([] if args.peak else WORKLOADS)
    if args.precision == "bf16":
        if args.impl != "torch" or args.peak:
            parser.error("--precision bf16 is for --impl torch, without --peak")
        workloads = args.workloads or ["W4", "W5", "W6", "W7"]
        if any(w not in ("W4", "W5", "W6", "W7") for w in workloads):
            parser.error("--precision bf16 runs W4, W5, W6 and W7")
    if args.minilm:
        os.environ["EMBER_MINILM_DIR"] = args.minilm
    if args.onnx:
        if args.impl != "onnxruntime" or len(args.workloads) != 1 or args.workloads[0] not in ("W4", "W7"):
            parser.error("--onnx runs W4 or W7 with --impl onnxruntime: name one of them")
        if not os.path.isfile(args.onnx):
            parser.error(f"--onnx {args.onnx}: no such file")
        os.environ["EMBER_BENCH_ONNX"] = os.path.abspath(args.onnx)

    impl, version, table, peak = PEERS[args.impl]()
    if args.peak and peak is None:
        emit({"workload": "peak", "impl": impl, "error": "no fp32 matmul peak measured"},
             args.json)
    elif args.peak:
        emit({"workload": "peak", "impl": impl, **measure(peak(), args.reps),
              "version": version}, args.json)
    for name in workloads:
        try:
            cases = table[name]()
        except Exception as e:
            emit({"workload": name, "impl": impl, "error": describe(e)}, args.json)
            continue
        for case in cases:
            if args.precision == "bf16":
                case = autocast_case(case)
            record = {"workload": name, "impl": case.impl}
            try:
                record.update(measure(case, args.reps))
            except Exception as e:  # a peer failing one case must not hide the others
                record["error"] = describe(e)
            else:
                if name in RSS_WORKLOADS:
                    record["peak_rss_mb"] = round(peak_rss_mb(), 1)
                record["version"] = version
            if args.precision != "fp32":
                record["precision"] = args.precision
            emit(record, args.json)
    return 0


def autocast_case(case: Case) -> Case:
    """`case` with its step run under torch.autocast("cpu", dtype=torch.bfloat16)."""
    import torch

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            case.step()

    return case._replace(step=step)


if __name__ == "__main__":
    sys.exit(main())
