"""Full-size checks of the ONNX importer against onnxruntime and PyTorch, run by hand (they
need torch and transformers, and minutes):

    /work/venv/peers/bin/python scripts/onnx-import-check.py EMBER_BINARY [resnet50] [minilm] [gpt2]

Each model is exported by torch.onnx.export (opset 17) to $TMPDIR/ember-onnx-check/NAME.onnx,
run by `ember run` and by onnxruntime on the same inputs, and compared with PyTorch; the
largest absolute differences are printed. resnet50: torchvision's ResNet-50 v1.5 layout
(written out here: the module names and graph are torchvision's), random weights, eval mode,
[8, 3, 224, 224]. minilm: all-MiniLM-L6-v2's real weights (scripts/fetch-minilm.sh) with
mean pooling and L2 normalization in the graph, as bench/peers.py exports it for W7; its
export and outputs are also left in $TMPDIR/ember-onnx-minilm/ for
ImportModelTests.testMiniLMExportMatchesOnnxruntimeWhenPresent. gpt2: Hugging Face GPT-2
(124M configuration, random weights), logits of [2, 16] tokens.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

WORK = os.path.join(tempfile.gettempdir(), "ember-onnx-check")


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # v1.5: stride on the 3x3
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet50(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._layer(64, 3, 1)
        self.layer2 = self._layer(128, 4, 2)
        self.layer3 = self._layer(256, 6, 2)
        self.layer4 = self._layer(512, 3, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2048, classes)

    def _layer(self, planes, blocks, stride):
        downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def compare(name, ember, model, inputs, torch_outputs, names, outputs, dynamic=None):
    path = os.path.join(WORK, f"{name}.onnx")
    if not os.path.exists(path):
        torch.onnx.export(model, tuple(torch.from_numpy(inputs[n]) for n in names), path, input_names=names,
                          output_names=outputs, dynamic_axes=dynamic, opset_version=17, dynamo=False)
    feeds = []
    for key, value in inputs.items():
        np.save(os.path.join(WORK, f"{name}.{key}.npy"), value)
        feeds += ["--input", f"{key}={os.path.join(WORK, f'{name}.{key}.npy')}"]
    out = os.path.join(WORK, f"{name}.out.npz")
    subprocess.run([ember, "run", path, "--out", out] + feeds, check=True, capture_output=True)
    ours = np.load(out)
    theirs = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(outputs, inputs)
    for output, reference, expected in zip(outputs, theirs, torch_outputs):
        print(f"{name} {output} {ours[output].shape}: |ember - onnxruntime| = {np.abs(ours[output] - reference).max():.3g}, "
              f"|ember - torch| = {np.abs(ours[output] - expected).max():.3g}, "
              f"|onnxruntime - torch| = {np.abs(reference - expected).max():.3g}")
    return path, ours


def resnet50(ember):
    torch.manual_seed(0)
    model = ResNet50().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    x = np.random.default_rng(0).standard_normal((8, 3, 224, 224), dtype=np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    compare("resnet50", ember, model, {"images": x}, [expected], ["images"], ["logits"], {"images": {0: "batch"}})


def minilm(ember):
    from transformers import AutoModel, AutoTokenizer
    folder = os.environ.get("EMBER_MINILM_DIR") or os.path.expanduser("~/.cache/ember/all-MiniLM-L6-v2")
    tokenizer, bert = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder, attn_implementation="eager").eval()

    class Embed(nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=1)

    sentences = [f"Sentence number {i} for the embedding benchmark." for i in range(32)]
    batch = tokenizer(sentences, padding="max_length", max_length=128, truncation=True, return_tensors="np")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    inputs = {n: batch[n].astype(np.int64) for n in names}
    model = Embed(bert).eval()
    with torch.no_grad():
        expected = model(*(torch.from_numpy(inputs[n]) for n in names)).numpy()
    dynamic = {n: {0: "batch", 1: "sequence"} for n in names}
    path, ours = compare("minilm", ember, model, inputs, [expected], names, ["embeddings"], dynamic)
    keep = os.path.join(tempfile.gettempdir(), "ember-onnx-minilm")
    os.makedirs(keep, exist_ok=True)
    os.replace(path, os.path.join(keep, "minilm.onnx"))
    np.savez(os.path.join(keep, "minilm.npz"), **{f"input.{n}": v for n, v in inputs.items()}, **{"output.embeddings": expected})


def gpt2(ember):
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)

    class Logits(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids):
            # An all-ones mask, as pipelines pass one: without it transformers 5 looks for
            # packed sequences with aten::diff, which the TorchScript exporter cannot write.
            mask = torch.ones_like(input_ids)
            return self.model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits

    model = Logits(GPT2LMHeadModel(GPT2Config(attn_implementation="eager")).eval()).eval()
    ids = np.random.default_rng(0).integers(0, 50257, (2, 16), dtype=np.int64)
    with torch.no_grad():
        expected = model(torch.from_numpy(ids)).numpy()
    compare("gpt2", ember, model, {"input_ids": ids}, [expected], ["input_ids"], ["logits"],
            {"input_ids": {0: "batch", 1: "sequence"}})


if __name__ == "__main__":
    os.makedirs(WORK, exist_ok=True)
    binary = sys.argv[1]
    for check in sys.argv[2:] or ["resnet50", "minilm", "gpt2"]:
        globals()[check](binary)
