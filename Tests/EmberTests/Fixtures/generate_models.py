"""Reference values for Models/ResNetTests, computed with torchvision's ResNets (and, for the
small CIFAR ResNets, with torchvision's BasicBlock).

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


class CIFARResNet(torch.nn.Module):
    """He et al.'s 6n+2 ResNets for 32x32 images with projection shortcuts, built from
    torchvision's BasicBlock under torchvision's key names (Ember's CIFARResNet)."""

    def __init__(self, depth, classes=10, channels=3):
        super().__init__()
        from torchvision.models.resnet import BasicBlock
        n = (depth - 2) // 6
        self.conv1 = torch.nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(16)
        self.relu = torch.nn.ReLU()
        inplanes = 16
        stages = []
        for planes, stride in [(16, 1), (32, 2), (64, 2)]:
            blocks = []
            for i in range(n):
                s = stride if i == 0 else 1
                down = None
                if s != 1 or inplanes != planes:
                    down = torch.nn.Sequential(torch.nn.Conv2d(inplanes, planes, 1, s, bias=False), torch.nn.BatchNorm2d(planes))
                blocks.append(BasicBlock(inplanes, planes, s, down))
                inplanes = planes
            stages.append(torch.nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(64, classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


cases = {}
for name, make, shape in [
    ("cifar_resnet8", lambda: CIFARResNet(8), [2, 3, 32, 32]),
    ("cifar_resnet20_gray", lambda: CIFARResNet(20, classes=5, channels=1), [2, 1, 28, 28]),
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
