"""ResNet-18 in plain torch (no torchvision on this machine), in torchvision's layout and
state-dict keys, which Ember's ResNet shares: the weights of an Ember run load by name from
the initializers of its ONNX export (`ember export RUN --out resnet18.onnx`)."""
import onnx
import onnx.numpy_helper
import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, inputs, outputs, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.downsample = None
        if stride != 1 or inputs != outputs:
            self.downsample = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + identity)


class ResNet18(nn.Module):
    def __init__(self, channels, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [64, 128, 256, 512]
        inputs = 64
        for index, width in enumerate(widths):
            stride = 1 if index == 0 else 2
            setattr(self, f"layer{index + 1}", nn.Sequential(BasicBlock(inputs, width, stride), BasicBlock(width, width, 1)))
            inputs = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def from_onnx(path, channels, classes):
    """The model with the ONNX file's initializers loaded by state-dict key (strict: every
    parameter and running statistic must be there; a key prefix such as `model.` is removed)."""
    model = ResNet18(channels, classes)
    wanted = model.state_dict()
    found = {}
    for initializer in onnx.load(path).graph.initializer:
        key = next((initializer.name[i:] for i in range(len(initializer.name) + 1)
                    if initializer.name[i:] in wanted and (i == 0 or initializer.name[i - 1] == ".")), None)
        if key is not None:
            found[key] = torch.from_numpy(onnx.numpy_helper.to_array(initializer).copy())
    for key, value in wanted.items():
        if key.endswith("num_batches_tracked") and key not in found:
            found[key] = value
    model.load_state_dict(found, strict=True)
    return model.eval()
