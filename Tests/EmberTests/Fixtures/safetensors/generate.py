"""Safetensors interoperability fixtures, both directions, checked with the reference
implementation (Hugging Face's `safetensors` package, Rust underneath, via PyTorch).

PyTorch -> Ember:

    /work/venv/peers/bin/python Tests/EmberTests/Fixtures/safetensors/generate.py

writes torch_written.safetensors (with safetensors.torch.save_file: every Ember dtype,
the narrow integer types Ember widens, a scalar, an empty tensor, metadata) and
torch_written.json, the expected values (via ../fixture_io.py). SafeTensorsTests loads
the first and compares it exactly with the second.

Ember -> PyTorch:

    EMBER_REGENERATE_FIXTURES=1 swift test --filter SafeTensorsTests/testEmberWrittenFile
    /work/venv/peers/bin/python Tests/EmberTests/Fixtures/safetensors/generate.py --check-ember

The Swift test writes ember_written.safetensors from tensors defined in the test (without
the variable it compares its encoding with the committed file, byte for byte). The check
loads the committed file with safetensors, compares names, dtypes, shapes and values with
`ember_tensors()` below (the same definitions as the Swift test's), and compares the whole
file byte for byte with what safetensors.torch.save writes for those tensors. It exits
nonzero on any difference.
"""
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from fixture_io import write  # noqa: E402

# Ember loads these file types widened to an integer dtype it has.
WIDENED = {torch.uint8: torch.int32, torch.int8: torch.int32, torch.int16: torch.int32,
           torch.uint16: torch.int32, torch.uint32: torch.int64}

TORCH_METADATA = {"format": "pt", "note": "written by generate.py \u00e9\"\n"}


def torch_tensors():
    g = torch.Generator().manual_seed(0)
    return {
        "f32": torch.cat([torch.randn(10, generator=g), torch.tensor([float("inf"), float("nan")])]).reshape(3, 4),
        "f64": torch.randn(2, 3, generator=g, dtype=torch.float64),
        "f16": torch.cat([torch.randn(4, generator=g), torch.tensor([65504.0, -float("inf")])]).to(torch.float16),
        "bf16": torch.randn(2, 2, generator=g).to(torch.bfloat16),
        "i64": torch.tensor([[-(2 ** 62), -1], [0, 2 ** 40 + 3]], dtype=torch.int64),
        "i32": torch.tensor([-(2 ** 31), -7, 0, 2 ** 31 - 1], dtype=torch.int32),
        "mask": torch.tensor([[True, False, True], [False, False, True]]),
        "scalar": torch.tensor(3.5, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
        "model.layers.0.attn/q_proj.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) / 8,
        "u8": torch.tensor([0, 1, 128, 255], dtype=torch.uint8),
        "i8": torch.tensor([-128, -1, 0, 127], dtype=torch.int8),
        "i16": torch.tensor([[-32768, 32767], [-2, 5]], dtype=torch.int16),
        "u16": torch.tensor([0, 65535, 300], dtype=torch.uint16),
        "u32": torch.tensor([0, 2 ** 32 - 1, 7], dtype=torch.uint32),
    }


def ember_tensors():
    """The tensors SafeTensorsTests.emberTensors() builds (keep the two in step)."""
    return {
        # Ember writes a transposed view; its logical values are these.
        "weight": (torch.arange(12, dtype=torch.float32).reshape(3, 4) / 4 - 1).t().contiguous(),
        "bias": torch.arange(5, dtype=torch.float64) * 0.5,
        "half": ((torch.arange(6, dtype=torch.float32) - 2.5) / 4).to(torch.float16).reshape(2, 3),
        "brain": (torch.arange(4, dtype=torch.float32) * 1.25 - 2).to(torch.bfloat16),
        "index": torch.arange(6, dtype=torch.int64) * 1_000_000_007 - 3,
        "count": (torch.arange(4, dtype=torch.int32) - 2).reshape(2, 2),
        "mask": torch.arange(5) % 2 == 0,
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros(0, 4, dtype=torch.float32),
        "layer.0/odd \"name\"\t\u00fc": torch.tensor([7.0], dtype=torch.float32),
    }


EMBER_METADATA = {"format": "pt"}


def generate():
    tensors = torch_tensors()
    path = os.path.join(HERE, "torch_written.safetensors")
    save_file(tensors, path, metadata=TORCH_METADATA)
    # Expected values as Ember should load them, read back through safetensors itself.
    loaded = load_file(path)
    expected = {name: t.to(WIDENED.get(t.dtype, t.dtype)) for name, t in loaded.items()}
    write(os.path.join(HERE, "torch_written.json"), {"torch_written": expected})
    with open(os.path.join(HERE, "torch_written_metadata.json"), "w") as f:
        json.dump(TORCH_METADATA, f, ensure_ascii=False)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(tensors)} tensors)")


def check_ember():
    path = os.path.join(HERE, "ember_written.safetensors")
    expected = ember_tensors()
    loaded = load_file(path)
    failures = []
    if sorted(loaded) != sorted(expected):
        failures.append(f"names: {sorted(loaded)} != {sorted(expected)}")
    for name in sorted(set(loaded) & set(expected)):
        got, want = loaded[name], expected[name]
        if got.dtype != want.dtype or got.shape != want.shape or not torch.equal(got, want):
            failures.append(f"{name!r}: got {got.dtype} {list(got.shape)} {got.tolist()}, "
                            f"want {want.dtype} {list(want.shape)} {want.tolist()}")
    with safe_open(path, framework="pt") as f:
        if f.metadata() != EMBER_METADATA:
            failures.append(f"metadata {f.metadata()} != {EMBER_METADATA}")
    with open(path, "rb") as f:
        ours = f.read()
    theirs = save(expected, metadata=EMBER_METADATA)
    if ours != theirs:
        failures.append(f"bytes differ from safetensors.torch.save: ours {len(ours)} bytes "
                        f"{ours[:200]!r}..., theirs {len(theirs)} bytes {theirs[:200]!r}...")
    for failure in failures:
        print("FAIL", failure)
    if failures:
        sys.exit(1)
    print(f"ok: {path} ({len(ours)} bytes) loads in safetensors with the expected {len(expected)} tensors "
          "and is byte-identical to safetensors.torch.save")


if __name__ == "__main__":
    check_ember() if "--check-ember" in sys.argv[1:] else generate()
