"""TorchServe handler for the ResNet-18 of bench/serve_vs_torchserve.py: a request's body is
one binary PPM image, prepared as `ember serve` prepares it for the same run (scaled to
[0, 1], normalized with the model card's mean and std); a batch of requests is one forward;
each answer is the probabilities and the label, as Ember's :predict gives them."""
import json
import os

import numpy as np
import torch

_model = None
_card = None


def _initialize(context):
    global _model, _card
    directory = context.system_properties.get("model_dir")
    _model = torch.jit.load(os.path.join(directory, "resnet18.pt")).eval()
    with open(os.path.join(directory, "model.json")) as f:
        card = json.load(f)
    image = card["input"]["image"]
    _card = {"mean": torch.tensor(image["mean"]).view(-1, 1, 1), "std": torch.tensor(image["std"]).view(-1, 1, 1),
             "classes": card["classNames"]}


def _decode(ppm):
    """A binary PPM (P6, maxval 255) as a [3, H, W] float tensor in [0, 1]."""
    fields, position = [], 0
    while len(fields) < 4:
        while ppm[position:position + 1].isspace():
            position += 1
        end = position
        while not ppm[end:end + 1].isspace():
            end += 1
        fields.append(ppm[position:end])
        position = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ValueError("not a binary PPM with maxval 255")
    width, height = int(fields[1]), int(fields[2])
    pixels = np.frombuffer(ppm, dtype=np.uint8, count=width * height * 3, offset=position + 1)
    return torch.from_numpy(pixels.reshape(height, width, 3).transpose(2, 0, 1).astype(np.float32) / 255)


def handle(data, context):
    if _model is None:
        _initialize(context)
    if data is None:
        return None
    images = [(_decode(bytes(row.get("data") or row.get("body"))) - _card["mean"]) / _card["std"] for row in data]
    with torch.inference_mode():
        probabilities = torch.softmax(_model(torch.stack(images)), dim=-1)
    return [json.dumps({"probabilities": row.tolist(), "label": _card["classes"][int(row.argmax())]}) for row in probabilities]
