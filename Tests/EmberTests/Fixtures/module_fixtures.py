"""Shared helper for generators of module fixtures, read by NN/ModuleTestSupport.swift
(`Fixtures.checkModule`). Modules run in float64 so one reference serves tight float64
checks; inputs are multiples of 1/64 so they are exact in JSON."""
import torch


def rand(*shape, generator=None):
    return (torch.randn(shape, generator=generator) * 64).round() / 64


def module_case(cases, name, module, inputs, forward=None, outputs_index=None):
    """Records state.<key>, x<i>, y, w, grad.x<i>, grad.<param> and after.<buffer>.
    `forward(module, *inputs)` defaults to module(*inputs); when it returns a tuple,
    `outputs_index` picks the output that is checked."""
    module = module.double()
    entry = {}
    for key, value in module.state_dict().items():
        entry["state." + key] = value.detach().clone()
    xs = []
    for i, x in enumerate(inputs):
        entry["x%d" % i] = x.clone()
        if x.is_floating_point():
            x = x.double().clone().requires_grad_()
        xs.append(x)
    y = forward(module, *xs) if forward else module(*xs)
    if isinstance(y, tuple):
        y = y[outputs_index or 0]
    w = rand(*y.shape).double()
    (y * w).sum().backward()
    entry["y"] = y.detach()
    entry["w"] = w
    for i, x in enumerate(xs):
        if x.is_floating_point() and x.grad is not None:
            entry["grad.x%d" % i] = x.grad
    for key, p in module.named_parameters():
        if p.grad is not None:
            entry["grad." + key] = p.grad
    for key, b in module.named_buffers():
        entry["after." + key] = b.detach().clone()
    cases[name] = entry
