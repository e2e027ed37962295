"""Reference values for Models/ResNetTests, computed with torchvision's ResNets.

    /work/venv/peers/bin/python Tests/EmberTests/Fixtures/generate_models.py

writes models.json beside this script: for each model, the state dict's keys in order
with their shapes, and the eval-mode logits for deterministic weights and input (so no
weights need to be committed). Every state tensor k with n elements is filled with
value(k, i) = 0.05 sin(0.37 i + 1.3 k) for i < n, except batch-norm running variances,
1 + 0.5 |value(k, i)|; the input is sin(0.01 j) over its flat index j. The ResNetTests
fill Ember's models the same way."""
import json
import math
import os

import torch
import torchvision

torch.set_grad_enabled(False)


def fill(model):
    for k, (key, t) in enumerate(model.state_dict().items()):
        if t.dtype == torch.int64:
            continue
        i = torch.arange(t.numel(), dtype=torch.float64)
        value = 0.05 * torch.sin(0.37 * i + 1.3 * k)
        if key.endswith("running_var"):
            value = 1 + 0.5 * value.abs()
        t.copy_(value.reshape(t.shape))


def cifar_resnet18():
    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model


cases = {}
for name, make, shape in [
    ("resnet18_cifar", cifar_resnet18, [2, 3, 32, 32]),
    ("resnet18", lambda: torchvision.models.resnet18(), [1, 3, 64, 64]),
    ("resnet34", lambda: torchvision.models.resnet34(), [1, 3, 64, 64]),
    ("resnet50", lambda: torchvision.models.resnet50(), [1, 3, 64, 64]),
]:
    model = make().double().eval()
    fill(model)
    n = math.prod(shape)
    x = torch.sin(0.01 * torch.arange(n, dtype=torch.float64)).reshape(shape)
    logits = model(x)
    cases[name] = {
        "keys": list(model.state_dict().keys()),
        "shapes": [list(t.shape) for t in model.state_dict().values()],
        "input_shape": shape,
        "logits": logits.reshape(-1).tolist(),
        "logits_shape": list(logits.shape),
    }

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "models.json"), "w") as f:
    json.dump(cases, f, separators=(",", ":"))
