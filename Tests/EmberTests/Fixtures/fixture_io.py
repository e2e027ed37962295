"""Shared helper for the fixture generators: writes named tensors as JSON that
Tests/EmberTests/TestSupport.swift (struct Fixtures) reads."""
import json
import math


def tensor_entry(t):
    """{"shape", "dtype", "data"} for a torch tensor; non-finite values become strings."""
    import torch
    names = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64",
             torch.int32: "int32", torch.bool: "bool", torch.float16: "float16", torch.bfloat16: "bfloat16"}
    flat = t.detach().reshape(-1)
    if t.dtype in (torch.float16, torch.bfloat16):
        flat = flat.to(torch.float64)
    data = []
    for v in flat.tolist():
        if isinstance(v, float) and not math.isfinite(v):
            data.append("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
        else:
            data.append(v)
    return {"shape": list(t.shape), "dtype": names[t.dtype], "data": data}


def write(path, cases):
    """cases: {case_name: {tensor_name: torch.Tensor}}"""
    out = {name: {k: tensor_entry(v) for k, v in tensors.items()} for name, tensors in cases.items()}
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
