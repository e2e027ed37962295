"""Reference values for ConvolutionTests, PoolingTests and NormalizationTests, computed
with PyTorch.

    /work/venv/peers/bin/python Tests/EmberTests/Fixtures/generate_nn.py

writes nn.json beside this script. Inputs are multiples of 1/64 (exact in float32 and
short in JSON); references are computed in float64 from those values, so one reference
serves Ember's float64 kernels (tight tolerance) and its float32 kernels (float32
rounding). Gradients are vector-Jacobian products with a random cotangent `w`, so a rule
that ignores its incoming gradient cannot pass. Second derivatives differentiate
<gradients, v> for random v. The operations' settings live in the Swift tests, by case name.
"""
import os

import torch
import torch.nn.functional as F

from fixture_io import write

torch.manual_seed(0)
cases = {}


def rand(*shape):
    return (torch.randn(shape) * 64).round() / 64


def distinct(*shape):
    """Distinct values, so that max pooling has no ties."""
    n = 1
    for d in shape:
        n *= d
    return ((torch.randperm(n) - n // 2).float() / 16).reshape(shape)


def case(name, inputs, f):
    """x0, x1, ...: the inputs (None for absent ones); y = f(inputs) in float64; w: a random
    cotangent; d0, d1, ...: the gradients of sum(w * y) for the floating-point inputs."""
    wide = [None if x is None else x.double().requires_grad_() for x in inputs]
    y = f(*wide)
    w = rand(*y.shape)
    present = [i for i, x in enumerate(wide) if x is not None]
    grads = torch.autograd.grad(y, [wide[i] for i in present], w.double())
    entry = {f"x{i}": inputs[i] for i in present}
    entry.update({"y": y.detach(), "w": w})
    entry.update({f"d{i}": g for i, g in zip(present, grads)})
    cases[name] = entry
    return entry


def second_order(name, inputs, f, wrt):
    """For y = f(inputs) and a random cotangent w, the first-order gradients g_i of
    sum(w * y) for the inputs in `wrt`, and the gradients of s = sum_i <g_i, v_i> for
    random v_i with respect to those inputs (dd{i}) and to w (ddw)."""
    wide = [x.double().requires_grad_() for x in inputs]
    y = f(*wide)
    w = rand(*y.shape).double().requires_grad_()
    grads = torch.autograd.grad(y, [wide[i] for i in wrt], w, create_graph=True)
    vs = [rand(*g.shape) for g in grads]
    s = sum((g * v.double()).sum() for g, v in zip(grads, vs))
    second = torch.autograd.grad(s, [wide[i] for i in wrt] + [w], allow_unused=True, materialize_grads=True)
    entry = {f"x{i}": x for i, x in enumerate(inputs)}
    entry["w"] = w.detach()
    entry.update({f"v{i}": v for i, v in zip(wrt, vs)})
    entry.update({f"d{i}": g.detach() for i, g in zip(wrt, grads)})
    entry.update({f"dd{i}": g for i, g in zip(wrt, second[:-1])})
    entry["ddw"] = second[-1]
    cases[name] = entry


# MARK: Convolution

case("conv_basic", [rand(2, 3, 6, 5), rand(4, 3, 3, 3), rand(4)],
     lambda x, w, b: F.conv2d(x, w, b))
case("conv_stride_padding", [rand(1, 3, 7, 6), rand(4, 3, 3, 2), rand(4)],
     lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2)))
case("conv_dilation", [rand(1, 2, 7, 7), rand(3, 2, 3, 3), None],
     lambda x, w, b: F.conv2d(x, w, None, padding=(2, 1), dilation=(2, 3)))
case("conv_groups", [rand(2, 4, 6, 5), rand(6, 2, 3, 2), rand(6)],
     lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, dilation=(1, 2), groups=2))
case("conv_depthwise", [rand(1, 3, 5, 5), rand(3, 1, 3, 3), None],
     lambda x, w, b: F.conv2d(x, w, None, padding=1, groups=3))
case("conv1d", [rand(2, 3, 9), rand(4, 3, 3), rand(4)],
     lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2))
second_order("conv_second_order", [rand(1, 2, 5, 5), rand(3, 2, 3, 3)],
             lambda x, w: F.conv2d(x, w, stride=2, padding=1), wrt=[0, 1])

# MARK: Pooling

case("max_pool", [distinct(2, 2, 7, 8)],
     lambda x: F.max_pool2d(x, 3, stride=2, padding=1))
case("max_pool_rect", [distinct(1, 3, 6, 7)],
     lambda x: F.max_pool2d(x, (2, 3), stride=(1, 2), padding=(1, 0)))
case("avg_pool_include_pad", [rand(2, 2, 7, 8)],
     lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=True))
case("avg_pool_exclude_pad", [rand(2, 2, 7, 8)],
     lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False))
case("avg_pool_rect", [rand(1, 2, 6, 5)],
     lambda x: F.avg_pool2d(x, (3, 2), stride=(2, 1), padding=(1, 1)))
second_order("max_pool_second_order", [distinct(1, 2, 5, 6)],
             lambda x: F.max_pool2d(x, 2, stride=2, padding=1), wrt=[0])

# MARK: Normalization

running_mean, running_var = rand(3), rand(3).abs() + 0.5
entry = case("batch_norm_train", [rand(4, 3, 3, 2), rand(3), rand(3)],
             lambda x, w, b: F.batch_norm(x, running_mean.double(), running_var.double(), w, b,
                                          training=True, momentum=0.1, eps=1e-5))
updated_mean, updated_var = running_mean.double(), running_var.double()
F.batch_norm(entry["x0"].double(), updated_mean, updated_var, training=True, momentum=0.1, eps=1e-5)
entry.update({"running_mean": running_mean, "running_var": running_var,
              "updated_mean": updated_mean, "updated_var": updated_var})

case("batch_norm_2d", [rand(6, 4)],
     lambda x: F.batch_norm(x, None, None, training=True, eps=1e-3))
entry = case("batch_norm_eval", [rand(2, 3, 4, 2), rand(3), rand(3)],
             lambda x, w, b: F.batch_norm(x, running_mean.double(), running_var.double(), w, b,
                                          training=False, eps=1e-5))
entry.update({"running_mean": running_mean, "running_var": running_var})
second_order("batch_norm_second_order", [rand(3, 2, 2, 2), rand(2), rand(2)],
             lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), wrt=[0, 1, 2])

case("layer_norm", [rand(2, 2, 4, 5), rand(4, 5), rand(4, 5)],
     lambda x, w, b: F.layer_norm(x, (4, 5), w, b, eps=1e-5))
case("layer_norm_last", [rand(3, 6)],
     lambda x: F.layer_norm(x, (6,), eps=1e-3))
second_order("layer_norm_second_order", [rand(2, 3, 4), rand(3, 4), rand(3, 4)],
             lambda x, w, b: F.layer_norm(x, (3, 4), w, b), wrt=[0, 1, 2])

write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "nn.json"), cases)
