"""Reference FLOP counts for NN/FLOPCountTests, from PyTorch's own counter
(torch.utils.flop_counter.FlopCounterMode: matrix products and convolutions, two per
multiply-add).

    /work/venv/peers/bin/python Tests/EmberTests/Fixtures/generate_flops.py

writes flops.json beside this script: {case: {"input_shape": [...], "flops": n}} for the
forward pass of each model in evaluation mode."""
import json
import os

import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode


def count(model, x):
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


def main():
    torch.manual_seed(0)
    # The fused inference path of nn.TransformerEncoderLayer hides its products from the
    # counter; the plain path runs the same ones.
    torch.backends.mha.set_fastpath_enabled(False)
    encoder = torch.nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True)
    cases = {
        "resnet18": (torchvision.models.resnet18(), [1, 3, 224, 224]),
        "resnet50": (torchvision.models.resnet50(), [2, 3, 224, 224]),
        "grouped_conv": (torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), [2, 4, 9, 9]),
        "conv_transpose": (torch.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1), [1, 4, 5, 5]),
        "linear_3d": (torch.nn.Linear(8, 5), [3, 7, 8]),
        "encoder_layer": (encoder, [2, 10, 64]),
    }
    out = {}
    for name, (model, shape) in cases.items():
        out[name] = {"input_shape": shape, "flops": count(model, torch.zeros(shape))}
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "flops.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
