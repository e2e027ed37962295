"""Reference values for NN/ModuleTests (Linear and a small nested model), computed with
PyTorch.

    /work/venv/peers/bin/python Tests/EmberTests/Fixtures/generate_modules.py

writes modules.json beside this script."""
import os

import torch
import torch.nn as nn

from fixture_io import write
from module_fixtures import module_case, rand

torch.manual_seed(0)
cases = {}

module_case(cases, "linear", nn.Linear(5, 3), [rand(4, 5)])
module_case(cases, "linear_no_bias", nn.Linear(5, 3, bias=False), [rand(2, 3, 5)])
module_case(cases, "mlp", nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.0), nn.Linear(8, 8), nn.GELU(),
                                        nn.Linear(8, 4), nn.Tanh(), nn.Flatten(0)), [rand(3, 6)])

write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "modules.json"), cases)
