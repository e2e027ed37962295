"""Reference values for the EmberOptim tests (Tests/EmberTests/Optim), computed with
PyTorch's torch.optim and torch.optim.lr_scheduler.

    /work/venv/peers/bin/python Tests/EmberTests/Fixtures/generate_optim.py

writes optim.json beside this script. Optimizer cases run 5 steps over two parameters
(w [3, 4], b [4]) with fixed gradient sequences (g_w, g_b: [steps, ...]) and record the
parameters after every step (w_steps, b_steps); a NaN row in g_b means "no gradient at
that step" (the parameter is skipped). Most cases run in float64 so the comparison can be
tight; *_f32 cases run in float32. Schedule cases record get_last_lr() before the first
step and after each of 30 steps (lr: [31, groups]). The settings of each case live in
the Swift tests, by case name.
"""
import math
import os

import torch
from torch.optim import SGD, Adam, AdamW, RMSprop, Adagrad
from torch.optim import lr_scheduler as S

from fixture_io import write

torch.manual_seed(0)
cases = {}
STEPS = 5


def optimizer_case(name, make, dtype=torch.float64, skip_b=(), groups=None):
    """Runs `make(params)` (or `make(param_groups)` when `groups` splits [w, b]) for STEPS
    steps with random gradients; b has no gradient at the steps in `skip_b`."""
    w = torch.randn(3, 4, dtype=dtype)
    b = torch.randn(4, dtype=dtype)
    g_w = torch.randn(STEPS, 3, 4, dtype=dtype)
    g_b = torch.randn(STEPS, 4, dtype=dtype)
    for s in skip_b:
        g_b[s] = float("nan")
    pw, pb = w.clone().requires_grad_(), b.clone().requires_grad_()
    opt = make(groups([pw, pb]) if groups else [pw, pb])
    w_steps, b_steps = [], []
    for s in range(STEPS):
        pw.grad = g_w[s].clone()
        pb.grad = None if s in skip_b else g_b[s].clone()
        opt.step()
        w_steps.append(pw.detach().clone())
        b_steps.append(pb.detach().clone())
    cases[name] = {"w": w, "b": b, "g_w": g_w, "g_b": g_b,
                   "w_steps": torch.stack(w_steps), "b_steps": torch.stack(b_steps)}


optimizer_case("sgd", lambda p: SGD(p, lr=0.1))
optimizer_case("sgd_momentum", lambda p: SGD(p, lr=0.1, momentum=0.9))
optimizer_case("sgd_dampening_wd", lambda p: SGD(p, lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01))
optimizer_case("sgd_nesterov_wd_maximize",
               lambda p: SGD(p, lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.1, maximize=True))
optimizer_case("sgd_nesterov_f32", lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True), dtype=torch.float32)
optimizer_case("adam", lambda p: Adam(p, lr=0.01))
optimizer_case("adam_wd_amsgrad",
               lambda p: Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True))
optimizer_case("adam_maximize", lambda p: Adam(p, lr=0.01, maximize=True))
optimizer_case("adam_f32", lambda p: Adam(p, lr=0.01), dtype=torch.float32)
optimizer_case("adam_skip", lambda p: Adam(p, lr=0.01), skip_b=(1, 2))
optimizer_case("adamw", lambda p: AdamW(p, lr=0.01, weight_decay=0.1))
optimizer_case("adamw_amsgrad", lambda p: AdamW(p, lr=0.03, betas=(0.85, 0.95), weight_decay=0.5, amsgrad=True))
optimizer_case("rmsprop", lambda p: RMSprop(p, lr=0.01))
optimizer_case("rmsprop_momentum", lambda p: RMSprop(p, lr=0.01, alpha=0.95, momentum=0.5))
optimizer_case("rmsprop_centered_momentum_wd",
               lambda p: RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6, momentum=0.8, centered=True, weight_decay=0.05))
optimizer_case("adagrad", lambda p: Adagrad(p, lr=0.1))
optimizer_case("adagrad_decay_wd_initial",
               lambda p: Adagrad(p, lr=0.1, lr_decay=0.1, weight_decay=0.05, initial_accumulator_value=0.5, eps=1e-6))
optimizer_case("sgd_groups", lambda g: SGD(g, lr=0.1, momentum=0.9),
               groups=lambda p: [{"params": [p[0]], "weight_decay": 0.1},
                                 {"params": [p[1]], "lr": 0.01, "nesterov": True}])
optimizer_case("adam_groups", lambda g: Adam(g, lr=0.01),
               groups=lambda p: [{"params": [p[0]], "weight_decay": 0.2, "amsgrad": True},
                                 {"params": [p[1]], "lr": 0.05, "betas": (0.5, 0.9)}])


def schedule_case(name, make, lrs=(0.1,), momentum=0.0, metrics=None, steps=30):
    """Records get_last_lr() (and each group's momentum) before stepping and after every step."""
    params = [torch.zeros(1, requires_grad=True) for _ in lrs]
    opt = SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], momentum=momentum)
    scheduler = make(opt)
    history = [list(scheduler.get_last_lr())]
    momenta = [[g["momentum"] for g in opt.param_groups]]
    for s in range(steps):
        opt.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[s].item())
        history.append(list(scheduler.get_last_lr()))
        momenta.append([g["momentum"] for g in opt.param_groups])
    cases[name] = {"lr": torch.tensor(history, dtype=torch.float64),
                   "momentum": torch.tensor(momenta, dtype=torch.float64)}
    if metrics is not None:
        cases[name]["metrics"] = metrics


schedule_case("step_lr", lambda o: S.StepLR(o, step_size=7, gamma=0.5), lrs=(0.1, 0.02))
schedule_case("multistep_lr", lambda o: S.MultiStepLR(o, milestones=[12, 5, 20, 20], gamma=0.3))
schedule_case("exponential_lr", lambda o: S.ExponentialLR(o, gamma=0.9), lrs=(0.1, 1.0))
schedule_case("cosine_lr", lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001), lrs=(0.1, 0.05))
schedule_case("onecycle_cos", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=31), momentum=0.9)
schedule_case("onecycle_linear_three_phase",
              lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=30, pct_start=0.25, anneal_strategy="linear",
                                     div_factor=10, final_div_factor=100, three_phase=True,
                                     base_momentum=0.8, max_momentum=0.9),
              momentum=0.9, steps=29)
schedule_case("warmup_cosine",
              lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=5),
                                           S.CosineAnnealingLR(o, T_max=20, eta_min=1e-4)], milestones=[5]),
              lrs=(0.1, 0.01))
schedule_case("warmup_step",
              lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.25, end_factor=0.75, total_iters=4),
                                           S.StepLR(o, step_size=5, gamma=0.5)], milestones=[6]))
plateau_metrics = torch.tensor([1.0, 0.9, 0.95, 0.95, 0.91, 0.89, 0.9, 0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5,
                                0.49, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3],
                               dtype=torch.float64)
schedule_case("plateau_min_rel",
              lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2, threshold=0.05, cooldown=1,
                                            min_lr=0.004),
              lrs=(0.1, 0.01), metrics=plateau_metrics)
schedule_case("plateau_max_abs",
              lambda o: S.ReduceLROnPlateau(o, mode="max", factor=0.2, patience=1, threshold=0.1,
                                            threshold_mode="abs", min_lr=[0.0, 0.001]),
              lrs=(0.1, 0.01), metrics=-plateau_metrics)


def clip_case(name, clip):
    grads = [torch.randn(3, 4, dtype=torch.float64), torch.randn(5, dtype=torch.float64)]
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    total = clip(params)
    cases[name] = {"g0": grads[0], "g1": grads[1],
                   "clipped0": params[0].grad, "clipped1": params[1].grad}
    if total is not None:
        cases[name]["total"] = total


clip_case("clip_norm_2", lambda p: torch.nn.utils.clip_grad_norm_(p, max_norm=1.0))
clip_case("clip_norm_inf", lambda p: torch.nn.utils.clip_grad_norm_(p, max_norm=0.5, norm_type=math.inf))
clip_case("clip_norm_1", lambda p: torch.nn.utils.clip_grad_norm_(p, max_norm=2.0, norm_type=1))
clip_case("clip_norm_unclipped", lambda p: torch.nn.utils.clip_grad_norm_(p, max_norm=100.0))
clip_case("clip_value", lambda p: torch.nn.utils.clip_grad_value_(p, clip_value=0.3))

write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim.json"), cases)
