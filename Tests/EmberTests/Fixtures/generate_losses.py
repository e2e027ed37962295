"""Reference values for LossTests and MetricTests, computed with PyTorch and NumPy.

    /work/venv/peers/bin/python Tests/EmberTests/Fixtures/generate_losses.py

writes losses.json beside this script. As in generate_nn.py, inputs are multiples of 1/64
and references are computed in float64; each loss case holds its differentiable inputs
x0, x1, ..., the value y, a random cotangent w and the gradients d0, d1, ... of sum(w * y),
plus the non-differentiable arguments (labels, weight, pos_weight) under their own names.
The options that are not tensors (reduction, ignore index, smoothing, beta) live in the
Swift tests, by case name.
"""
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from fixture_io import write

torch.manual_seed(0)
cases = {}
REDUCTIONS = ["mean", "sum", "none"]


def rand(*shape):
    return (torch.randn(shape) * 64).round() / 64


def unit(*shape):
    """Values in [1/64, 63/64]: probabilities away from 0 and 1."""
    return torch.randint(1, 64, shape).double() / 64


def labels(high, *shape):
    return torch.randint(0, high, shape)


def case(name, inputs, f, **constants):
    """x0, x1, ...: the differentiable inputs; the constants as given; y = f(inputs) in
    float64; w: a random cotangent; d0, d1, ...: the gradients of sum(w * y)."""
    wide = [x.double().requires_grad_() for x in inputs]
    y = f(*wide)
    w = rand(*y.shape)
    grads = torch.autograd.grad(y, wide, w.double())
    entry = {f"x{i}": x for i, x in enumerate(inputs)}
    entry.update(constants)
    entry.update({"y": y.detach(), "w": w})
    entry.update({f"d{i}": g for i, g in enumerate(grads)})
    cases[name] = entry


def each_reduction(name, inputs, f, **constants):
    """One case per reduction, named name_mean, name_sum, name_none; f takes reduction=."""
    for reduction in REDUCTIONS:
        case(f"{name}_{reduction}", inputs, lambda *xs: f(*xs, reduction=reduction), **constants)


def wide(t):
    return None if t is None else t.double()


# MARK: Cross-entropy with class indices

logits, target = rand(6, 5), labels(5, 6)
class_weight = unit(5)
each_reduction("ce", [logits], lambda x, reduction: F.cross_entropy(x, target, reduction=reduction), labels=target)
each_reduction("ce_weight", [logits], lambda x, reduction: F.cross_entropy(x, target, wide(class_weight), reduction=reduction),
               labels=target, weight=class_weight)

# Ignored targets: the default -100, and a class index used as the ignore index.
ignored = target.clone()
ignored[[1, 4]] = -100
each_reduction("ce_ignore", [logits], lambda x, reduction: F.cross_entropy(x, ignored, wide(class_weight), reduction=reduction),
               labels=ignored, weight=class_weight)
each_reduction("ce_ignore_class", [logits], lambda x, reduction: F.cross_entropy(x, target, ignore_index=2, reduction=reduction),
               labels=target)

# Label smoothing alone, and with weights and an ignored target (PyTorch's smoothed term is
# weighted per class and divided, under mean, by the weights of the non-ignored targets).
each_reduction("ce_smooth", [logits], lambda x, reduction: F.cross_entropy(x, target, label_smoothing=0.1, reduction=reduction),
               labels=target)
each_reduction("ce_smooth_ignore", [logits],
               lambda x, reduction: F.cross_entropy(x, ignored, label_smoothing=0.25, reduction=reduction), labels=ignored)
each_reduction("ce_smooth_weight_ignore", [logits],
               lambda x, reduction: F.cross_entropy(x, ignored, wide(class_weight), label_smoothing=0.25, reduction=reduction),
               labels=ignored, weight=class_weight)

# Segmentation layout: logits [N, C, H, W], labels [N, H, W].
spatial, spatial_target = rand(2, 3, 4, 5), labels(3, 2, 4, 5)
spatial_target[0, 1, 2] = -100
spatial_target[1, 3, 0] = -100
spatial_weight = unit(3)
each_reduction("ce_spatial", [spatial],
               lambda x, reduction: F.cross_entropy(x, spatial_target, wide(spatial_weight), label_smoothing=0.2,
                                                    reduction=reduction),
               labels=spatial_target, weight=spatial_weight)

# One sample without a batch axis: logits [C], a scalar label.
single, single_target = rand(5), torch.tensor(3)
each_reduction("ce_single", [single], lambda x, reduction: F.cross_entropy(x, single_target, reduction=reduction),
               labels=single_target)

# Large logits: the log-softmax must not overflow.
large = rand(3, 4) * 200
large_target = labels(4, 3)
case("ce_large", [large], lambda x: F.cross_entropy(x, large_target), labels=large_target)

# Every target ignored: mean is 0/0 = nan, sum is 0, and the gradient is zero.
all_ignored = torch.full((4,), -100)
case("ce_all_ignored_mean", [rand(4, 3)], lambda x: F.cross_entropy(x, all_ignored), labels=all_ignored)
case("ce_all_ignored_sum", [rand(4, 3)], lambda x: F.cross_entropy(x, all_ignored, reduction="sum"), labels=all_ignored)

# An empty batch.
empty_target = torch.zeros(0, dtype=torch.int64)
case("ce_empty_mean", [torch.zeros(0, 3)], lambda x: F.cross_entropy(x, empty_target), labels=empty_target)
case("ce_empty_sum", [torch.zeros(0, 3)], lambda x: F.cross_entropy(x, empty_target, reduction="sum"), labels=empty_target)

# MARK: Cross-entropy with class probabilities (the targets are differentiable too)

soft = unit(6, 5)
each_reduction("ce_probs", [logits, soft], lambda x, t, reduction: F.cross_entropy(x, t, reduction=reduction))
each_reduction("ce_probs_weight_smooth", [logits, soft],
               lambda x, t, reduction: F.cross_entropy(x, t, wide(class_weight), label_smoothing=0.3, reduction=reduction),
               weight=class_weight)
spatial_soft = unit(2, 3, 4, 5)
each_reduction("ce_probs_spatial", [spatial, spatial_soft],
               lambda x, t, reduction: F.cross_entropy(x, t, wide(spatial_weight), reduction=reduction), weight=spatial_weight)

# MARK: Negative log-likelihood (any input values: nll_loss only picks and weighs them)

each_reduction("nll", [logits], lambda x, reduction: F.nll_loss(x, target, reduction=reduction), labels=target)
each_reduction("nll_weight_ignore", [logits], lambda x, reduction: F.nll_loss(x, ignored, wide(class_weight), reduction=reduction),
               labels=ignored, weight=class_weight)
each_reduction("nll_spatial", [spatial],
               lambda x, reduction: F.nll_loss(x, spatial_target, wide(spatial_weight), reduction=reduction),
               labels=spatial_target, weight=spatial_weight)

# MARK: Regression losses (inputs and targets both differentiable)

# Differences on the grid, some exactly at the kinks |d| = 0.5 and 1.
prediction = rand(4, 6)
reference = prediction + torch.tensor([0.5, -0.5, 1.0, -1.0, 2.0, 0.25] * 4).reshape(4, 6) * torch.randint(0, 2, (4, 6))
reference = reference + rand(4, 6) * (torch.rand(4, 6) < 0.5)
regression = [prediction, reference]
each_reduction("mse", regression, lambda x, y, reduction: F.mse_loss(x, y, reduction=reduction))
each_reduction("l1", regression, lambda x, y, reduction: F.l1_loss(x, y, reduction=reduction))
each_reduction("smooth_l1", regression, lambda x, y, reduction: F.smooth_l1_loss(x, y, reduction=reduction))
each_reduction("smooth_l1_beta", regression, lambda x, y, reduction: F.smooth_l1_loss(x, y, reduction=reduction, beta=0.5))
case("smooth_l1_beta0", regression, lambda x, y: F.smooth_l1_loss(x, y, beta=0.0))
each_reduction("huber", regression, lambda x, y, reduction: F.huber_loss(x, y, reduction=reduction))
each_reduction("huber_delta", regression, lambda x, y, reduction: F.huber_loss(x, y, reduction=reduction, delta=0.5))

# MARK: Binary cross-entropy

probabilities, binary = unit(4, 3), torch.randint(0, 5, (4, 3)).double() / 4
sample_weight = unit(4, 1)
each_reduction("bce", [probabilities, binary], lambda x, y, reduction: F.binary_cross_entropy(x, y, reduction=reduction))
each_reduction("bce_weight", [probabilities, binary],
               lambda x, y, reduction: F.binary_cross_entropy(x, y, wide(sample_weight), reduction=reduction),
               weight=sample_weight)
# Probabilities of exactly 0 and 1: the logarithms are clamped at -100 (values only; PyTorch's
# gradient formula there is its own, see LossTests).
saturated = torch.tensor([0.0, 0.0, 1.0, 1.0, 0.5, 1e-50], dtype=torch.float64)
saturated_target = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 1.0], dtype=torch.float64)
cases["bce_saturated"] = {"x0": saturated, "x1": saturated_target,
                          "y": F.binary_cross_entropy(saturated.double(), saturated_target.double(), reduction="none")}

binary_logits = rand(4, 3) * 4
each_reduction("bce_logits", [binary_logits, binary],
               lambda x, y, reduction: F.binary_cross_entropy_with_logits(x, y, reduction=reduction))
positive_weight = unit(3) * 4
each_reduction("bce_logits_weights", [binary_logits, binary],
               lambda x, y, reduction: F.binary_cross_entropy_with_logits(x, y, wide(sample_weight),
                                                                        pos_weight=wide(positive_weight), reduction=reduction),
               weight=sample_weight, pos_weight=positive_weight)
# Logits far beyond exp's float32 range, and exactly 0.
extreme = torch.tensor([[-200.0, -30.0, 0.0], [0.0, 30.0, 200.0]])
case("bce_logits_extreme", [extreme, torch.tensor([[0.0, 1.0, 0.5], [1.0, 0.0, 0.25]])],
     lambda x, y: F.binary_cross_entropy_with_logits(x, y, pos_weight=wide(positive_weight), reduction="none"),
     pos_weight=positive_weight)

# MARK: Kullback-Leibler divergence (targets with zeros contribute 0)

# PyTorch warns that its elementwise 'mean' is not the mathematical KL ('batchmean'); Ember
# keeps today's meaning, and the tests pin it.
warnings.filterwarnings("ignore", message="reduction: 'mean' divides")

kl_input = F.log_softmax(rand(4, 5).double(), dim=1)
kl_target = unit(4, 5) * (torch.rand(4, 5) < 0.7)
each_reduction("kl", [kl_input], lambda x, reduction: F.kl_div(x, kl_target.double(), reduction=reduction), targets=kl_target)
each_reduction("kl_log_target", [kl_input, rand(4, 5)],
               lambda x, t, reduction: F.kl_div(x, t, reduction=reduction, log_target=True))

# MARK: Metrics (NumPy)

metric_logits = rand(40, 6).numpy()
metric_logits[3, :] = 0.5  # a row of ties
metric_labels = np.random.default_rng(0).integers(0, 6, 40)
predicted = metric_logits.argmax(axis=1)  # first maximum, as torch.argmax
chosen = metric_logits[np.arange(40), metric_labels]
# A label is in the top k when fewer than k classes score strictly higher (Keras' in_top_k).
higher = (metric_logits > chosen[:, None]).sum(axis=1)
confusion = np.zeros((6, 6), dtype=np.int64)
np.add.at(confusion, (metric_labels, predicted), 1)
cases["metrics"] = {
    "logits": torch.from_numpy(metric_logits),
    "labels": torch.from_numpy(metric_labels),
    "accuracy": torch.tensor((predicted == metric_labels).mean(), dtype=torch.float64),
    "top3": torch.tensor((higher < 3).mean(), dtype=torch.float64),
    "confusion": torch.from_numpy(confusion),
}

write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "losses.json"), cases)
