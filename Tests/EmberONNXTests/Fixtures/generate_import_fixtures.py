"""Writes the ONNX import fixtures: small randomly initialized models exported by
torch.onnx.export (a torchvision-layout ResNet, a Hugging Face BERT and GPT-2), with inputs
and the outputs onnxruntime and PyTorch compute for them.

    /work/venv/peers/bin/python Tests/EmberONNXTests/Fixtures/generate_import_fixtures.py

Needs torch, transformers, onnx, onnxruntime and numpy. For each model NAME it writes
NAME.onnx and NAME.npz holding, per case K: K.input.<graph input>, K.output.<graph output>
(onnxruntime's), and for the ResNet K.grad.<initializer>: PyTorch's gradient of
sum(logits * K.cotangent) with respect to that initializer (the Gemm weight and bias, which
the exporter keeps under their PyTorch names).
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
rng = np.random.default_rng(0)


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock (same module names, so the same state-dict keys)."""

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class TinyResNet(nn.Module):
    """torchvision's ResNet layout (7x7 stem, max pool, stages, global average pool, fc), narrow."""

    def __init__(self, widths=(8, 16), classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(widths[0], widths[0], 1))
        self.layer2 = nn.Sequential(BasicBlock(widths[0], widths[1], 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[1], classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def randomize_batch_norm(model):
    # Fresh BatchNorm statistics are 0 and 1: random ones make the folding visible.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)


def export(model, args, names, outputs, dynamic, path):
    torch.onnx.export(model, args, path, input_names=names, output_names=outputs, dynamic_axes=dynamic,
                      opset_version=17, dynamo=False)
    onnx.checker.check_model(onnx.load(path))


def run_cases(path, cases, extra=None):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    arrays = {}
    for key, feeds in cases.items():
        results = session.run(None, feeds)
        for name, value in feeds.items():
            arrays[f"{key}.input.{name}"] = value
        for info, value in zip(session.get_outputs(), results):
            arrays[f"{key}.output.{info.name}"] = value
        if extra:
            arrays.update(extra(key, feeds, dict(zip([o.name for o in session.get_outputs()], results))))
    np.savez(path[:-5] + ".npz", **arrays)


def resnet():
    model = TinyResNet().eval()
    randomize_batch_norm(model)
    path = os.path.join(HERE, "tiny_resnet.onnx")
    export(model, (torch.randn(2, 3, 32, 32),), ["images"], ["logits"], {"images": {0: "batch"}, "logits": {0: "batch"}}, path)
    cases = {f"b{b}": {"images": rng.standard_normal((b, 3, 32, 32), dtype=np.float32)} for b in (1, 3)}

    def gradients(key, feeds, outputs):
        cotangent = rng.standard_normal(outputs["logits"].shape).astype(np.float32)
        model.zero_grad()
        logits = model(torch.from_numpy(feeds["images"]))
        torch_error = float(np.abs(logits.detach().numpy() - outputs["logits"]).max())
        assert torch_error < 1e-4, f"onnxruntime and PyTorch differ by {torch_error}"
        (logits * torch.from_numpy(cotangent)).sum().backward()
        return {f"{key}.cotangent": cotangent, f"{key}.grad.fc.weight": model.fc.weight.grad.numpy().copy(),
                f"{key}.grad.fc.bias": model.fc.bias.grad.numpy().copy()}

    run_cases(path, cases, gradients)


def token_cases(vocab, sizes, with_type_ids):
    cases = {}
    for b, s in sizes:
        feeds = {"input_ids": rng.integers(0, vocab, (b, s), dtype=np.int64)}
        mask = np.ones((b, s), dtype=np.int64)
        mask[0, s // 2:] = 0  # one padded sentence
        feeds["attention_mask"] = mask
        if with_type_ids:
            feeds["token_type_ids"] = (np.arange(s)[None, :] >= s // 2).astype(np.int64).repeat(b, 0)
        cases[f"b{b}s{s}"] = feeds
    return cases


def bert():
    from transformers import BertConfig, BertModel
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, attn_implementation="eager")
    class Encoder(nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state, out.pooler_output

    model = Encoder(BertModel(config).eval()).eval()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    dynamic = {n: {0: "batch", 1: "sequence"} for n in names}
    dynamic.update({"last_hidden_state": {0: "batch", 1: "sequence"}, "pooler_output": {0: "batch"}})
    example = token_cases(100, [(2, 8)], True)["b2s8"]
    path = os.path.join(HERE, "tiny_bert.onnx")
    export(model, tuple(torch.from_numpy(example[n]) for n in names), names, ["last_hidden_state", "pooler_output"], dynamic, path)
    run_cases(path, token_cases(100, [(1, 5), (3, 12)], True))


def gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    class Logits(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

    config = GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2, n_positions=64, attn_implementation="eager")
    model = Logits(GPT2LMHeadModel(config).eval()).eval()
    names = ["input_ids", "attention_mask"]
    dynamic = {n: {0: "batch", 1: "sequence"} for n in names}
    dynamic["logits"] = {0: "batch", 1: "sequence"}
    example = token_cases(100, [(2, 8)], False)["b2s8"]
    path = os.path.join(HERE, "tiny_gpt2.onnx")
    export(model, tuple(torch.from_numpy(example[n]) for n in names), names, ["logits"], dynamic, path)
    run_cases(path, token_cases(100, [(1, 5), (3, 12)], False))


if __name__ == "__main__":
    for build in sys.argv[1:] or ["resnet", "bert", "gpt2"]:
        globals()[build]()
        print("wrote", build)
