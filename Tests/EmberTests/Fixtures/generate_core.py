"""Reference values for the core test suite (Elementwise, Reduce, Movement, Indexing,
LinearAlgebra and Tensor tests), computed with PyTorch (and NumPy for subscripts with
negative steps, which PyTorch lacks).

    /work/venv/peers/bin/python Tests/EmberTests/Fixtures/generate_core.py

writes core.json beside this script. Inputs are float32 values, stored exactly; references
are computed in float64 from those same values, so a test can hold Ember's float64 kernels
to ~1e-12 and its float32 kernels to float32 rounding against one reference. Gradients are
vector-Jacobian products with a random cotangent `w` (not just ones), so a derivative rule
that ignores its incoming gradient cannot pass. Tensors are kept small: the file is read by
every test run.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

from fixture_io import write
from module_fixtures import module_case

torch.manual_seed(0)
cases = {}


def f32(values, shape=None):
    t = torch.tensor(values, dtype=torch.float32)
    return t.reshape(shape) if shape is not None else t


def randn(*shape):
    # Rounded to 1/1024 so the JSON stays short; still exact in float32.
    return (torch.randn(shape) * 1024).round() / 1024


def vjp(f, inputs, grad_indices=None):
    """f's value at the float64 versions of `inputs` and the gradients of sum(w * f) for a
    random cotangent w: {"y", "w", "d0", "d1", ...}."""
    grad_indices = list(range(len(inputs))) if grad_indices is None else grad_indices
    wide = [x.double().requires_grad_(i in grad_indices) if x.is_floating_point() else x
            for i, x in enumerate(inputs)]
    y = f(*wide)
    out = {"y": y.detach()}
    if y.is_floating_point() and y.requires_grad:
        w = randn(*y.shape)
        grads = torch.autograd.grad(y, [wide[i] for i in grad_indices], w.double())
        out["w"] = w
        for i, g in zip(grad_indices, grads):
            out[f"d{i}"] = g
    return out


def case(name, inputs, f, grad_indices=None, **extra):
    entry = {f"x{i}": x for i, x in enumerate(inputs)}
    entry.update(vjp(f, inputs, grad_indices))
    entry.update(extra)
    cases[name] = entry


# MARK: Elementwise: unary

generic = randn(2, 3) * 1.5
positive = torch.rand(2, 3) * 3 + 0.1
positive = (positive * 1024).round() / 1024
# Halves (round half to even), integers, zero and values on both sides of zero.
special = f32([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.75, 0.25, 1.75, -1.25, 0.0, 3.0])

unary = {
    "neg": (torch.neg, generic), "abs": (torch.abs, generic), "exp": (torch.exp, generic),
    "log": (torch.log, positive), "sqrt": (torch.sqrt, positive), "rsqrt": (torch.rsqrt, positive),
    "sin": (torch.sin, generic), "cos": (torch.cos, generic), "tanh": (torch.tanh, generic),
    "sigmoid": (torch.sigmoid, generic), "relu": (torch.relu, generic), "erf": (torch.erf, generic),
    "gelu": (F.gelu, generic), "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), generic),
    "silu": (F.silu, generic), "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), generic),
    "clamp": (lambda x: x.clamp(-1.0, 0.5), generic),
    # Piecewise-constant or kinked functions on their special points (PyTorch's conventions:
    # zero gradients; relu and abs have gradient 0 at 0).
    "sign": (torch.sign, special), "floor": (torch.floor, special), "ceil": (torch.ceil, special),
    "round": (torch.round, special), "relu_special": (torch.relu, special), "abs_special": (torch.abs, special),
    # Exactly on the bounds: the gradient is 0 there, as for relu at 0.
    "clamp_bounds": (lambda x: x.clamp(-1.5, 1.5), special),
    # Large magnitudes, where a naive 1 / (1 + exp(-x)) overflows.
    "sigmoid_extreme": (torch.sigmoid, f32([-100.0, -30.0, -5.0, 0.0, 5.0, 30.0, 100.0])),
}
for name, (f, x) in unary.items():
    case(f"unary_{name}", [x], f)
case("unary_logical_not", [f32([0.0, 1.5, -2.0, 0.0])], torch.logical_not)

# MARK: Elementwise: binary

a23, b3 = randn(2, 3), randn(3)
binary = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul,
    "div": torch.div,
    "maximum": torch.maximum, "minimum": torch.minimum,
}
for name, f in binary.items():
    # Divisors kept away from zero.
    b = b3.abs() + 0.5 if name == "div" else b3
    case(f"binary_{name}", [a23, b], f)
# Rank mismatch: [2, 1, 3] with [4, 1] broadcasts to [2, 4, 3].
case("binary_mul_rank", [randn(2, 1, 3), randn(4, 1)], torch.mul)
case("binary_pow", [positive, randn(3)], torch.pow)
# Ties share the gradient; 0^0 = 1 with zero gradients, 0^2 has zero gradients.
case("binary_maximum_ties", [f32([1, 2, 3, 4, 5, 6]), f32([1, 0, 3, 7, 5, 0])], torch.maximum)
case("binary_minimum_ties", [f32([1, 2, 3, 4, 5, 6]), f32([1, 0, 3, 7, 5, 0])], torch.minimum)
case("binary_pow_zero", [f32([0, 0, 2, 1.5, 0]), f32([2, 0, 0, 3, 1])], torch.pow)

fa, fb = f32([7, -7, 7, -7, 5.5, -5.5, 0]), f32([2, 2, -2, -2, 2, 2, 3])
cases["floor_divide"] = {
    "a": fa, "b": fb, "float": torch.floor_divide(fa.double(), fb.double()),
    "int64": torch.floor_divide(fa.long(), fb.long()),
    "int_true_div": fa.long() / fb.long(),
}
la, lb = torch.tensor([True, True, False, False]), torch.tensor([True, False, True, False])
na, nb = f32([1.5, -2, 0, 0]), f32([3, 0, -1, 0])
cases["logical"] = {
    "a": la, "b": lb, "and": la & lb, "or": la | lb, "xor": la ^ lb,
    "na": na, "nb": nb, "nand": torch.logical_and(na, nb), "nor": torch.logical_or(na, nb),
    "nxor": torch.logical_xor(na, nb),
}
nan = float("nan")
ca, cb = f32([1, 2, 3, nan, 2, -1], [2, 3]), f32([2, 2, nan])
cases["compare"] = {
    "a": ca, "b": cb, "eq": ca == cb, "ne": ca != cb, "lt": ca < cb, "le": ca <= cb, "gt": ca > cb, "ge": ca >= cb,
    # int64 against a float: compared in float32.
    "ia": torch.tensor([1, 2, 3]), "ib": f32([1.5]), "ilt": torch.tensor([1, 2, 3]) < f32([1.5]),
}
cond = torch.tensor([[True], [False], [True]])
case("where", [cond, randn(1, 4), randn()], lambda c, a, b: torch.where(c, a, b), grad_indices=[1, 2])

# MARK: Elementwise: dtypes

names = {torch.bool: "bool", torch.int32: "int32", torch.int64: "int64", torch.float16: "float16",
         torch.bfloat16: "bfloat16", torch.float32: "float32", torch.float64: "float64"}
sources = {
    torch.bool: torch.tensor([True, False, True, True, False, False, True, False]),
    torch.int32: torch.tensor([-3, -1, 0, 1, 2, 100, 1000, 7], dtype=torch.int32),
    torch.int64: torch.tensor([-3, -1, 0, 1, 2, 100, 1000, 7]),
}
for t in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
    sources[t] = torch.tensor([-2.75, -0.5, 0.0, 0.3, 1.5, 2.75, 100.3, 1000.7]).to(t)
promotion, casts = {}, {}
for s, x in sources.items():
    casts[f"from_{names[s]}"] = x
    for t in names:
        casts[f"{names[s]}_to_{names[t]}"] = x.to(t)
        # The result's dtype is the promoted type of the two operands.
        promotion[f"{names[s]}_{names[t]}"] = torch.ones(1, dtype=s) + torch.ones(1, dtype=t)
cases["cast"] = casts
cases["promotion"] = promotion
# Round to nearest, ties to even: midpoints between neighbours, overflow, subnormals.
e8, e11 = 2.0 ** -8, 2.0 ** -11
bf_in = f32([1 + e8, 1 + 3 * e8, 1 + e8 + 2 ** -20, 1 + e8 - 2 ** -20, -(1 + e8), 3.4028234663852886e38,
             1e-40, -0.0, float("inf"), nan, 0.1])
f16_in = f32([1 + e11, 1 + 3 * e11, 1 + e11 + 2 ** -20, 65519.0, 65520.0, 2 ** -25, 3 * 2 ** -25, -0.0, 0.1, 1e-8])
cases["rounding"] = {"bf16_in": bf_in, "bf16": bf_in.bfloat16(), "f16_in": f16_in, "f16": f16_in.half()}
si = torch.tensor([1, -2, 3])
cases["scalars"] = {
    "i": si, "i_plus_2_5": si + 2.5, "i_times_3": si * 3, "i32_times_3": si.int() * 3, "ten_div_i": 10 / si,
    "f": f32([1.5, -2, 4]), "two_minus_f": 2 - f32([1.5, -2, 4]), "f_div_4": f32([1.5, -2, 4]) / 4,
    "h": f32([1.5, -2, 4]).half(), "h_times_3": f32([1.5, -2, 4]).half() * 3,
    "bool_plus_1": torch.tensor([True, False]) + 1, "bool_plus_half": torch.tensor([True, False]) + 0.5,
}
# Non-contiguous operands: a transpose, a slice with steps, an expanded column.
base = randn(4, 6)
t, s, e = base.t(), base[::2, 1::2], base[:, :1].expand(4, 6)
cases["views"] = {
    "base": base, "exp_t": t.double().exp(), "exp_s": s.double().exp(), "exp_e": e.double().exp(),
    "t_times_t": t.double() * base.t().double().flip(0),
    "s_plus_e": s.double() + e[:2, :3].double(), "e_minus_base": e.double() - base.double(),
}

# MARK: Reductions

x234 = randn(2, 3, 4)
ties = f32([[1, 3, 3, 2], [5, 5, 5, 0], [-1, -2, -1, -3]])
with_zeros = f32([[1.5, 2, -0.5, 3], [0, 2, 1.5, -1], [0, 2, 0, 1], [2, 0.5, 1.25, 0.75]])
case("sum_1", [x234], lambda x: x.sum(1))
case("sum_02", [x234], lambda x: x.sum((0, 2)))
case("sum_all", [x234], lambda x: x.sum())
case("sum_1_keep", [x234], lambda x: x.sum(1, keepdim=True))
case("mean_02_keep", [x234], lambda x: x.mean((0, 2), keepdim=True))
case("mean_all", [x234], lambda x: x.mean())
case("prod_1", [with_zeros], lambda x: x.prod(1))
case("prod_all", [with_zeros[0]], lambda x: x.prod())
case("amax_1", [ties], lambda x: x.amax(1))
case("amin_1", [ties], lambda x: x.amin(1))
case("amax_all", [ties], lambda x: x.amax())
case("amax_02", [x234], lambda x: x.amax((0, 2)))
case("amin_12_keep", [x234], lambda x: x.amin((1, 2), keepdim=True))
case("var_1", [x234], lambda x: x.var(1))
case("var_02_c0", [x234], lambda x: x.var((0, 2), correction=0))
case("var_all", [x234], lambda x: x.var())
case("std_2_keep", [x234], lambda x: x.std(2, keepdim=True))
case("std_all_c0", [x234], lambda x: x.std(correction=0))
case("logsumexp_2", [x234], lambda x: x.logsumexp(2))
case("logsumexp_01", [x234], lambda x: x.logsumexp((0, 1)))
case("softmax_0", [x234], lambda x: x.softmax(0))
case("softmax_last", [x234], lambda x: x.softmax(-1))
case("log_softmax_1", [x234], lambda x: x.log_softmax(1))
case("prod_02", [x234], lambda x: x.prod(2).prod(0))
# Reductions of views: a transpose, a slice with steps, a permutation with non-adjacent axes.
case("sum_view_t", [x234], lambda x: x.transpose(0, 2).sum(1))
case("amax_view_step", [x234], lambda x: x[:, ::2, 1::2].amax(2))
case("softmax_view_t", [x234], lambda x: x.transpose(1, 2).softmax(1))
case("logsumexp_view_02", [x234], lambda x: x.permute(2, 0, 1).logsumexp((0, 2)))
case("mean_view_expanded", [x234], lambda x: (x[:, :1].expand(2, 3, 4) * x).mean((0, 2)))
big = f32([[1000, 1001, 1002], [-1000, 0, 1000], [-5e4, -5e4, -5e4]])
case("softmax_large", [big], lambda x: x.softmax(-1))
case("log_softmax_large", [big], lambda x: x.log_softmax(-1))
case("logsumexp_large", [big], lambda x: x.logsumexp(-1))
cases["arg"] = {
    "x": ties, "argmax_1": ties.argmax(1), "argmin_1": ties.argmin(1), "argmax_0": ties.argmax(0),
    "argmin_0": ties.argmin(0), "argmax_all": ties.argmax(), "argmin_all": ties.argmin(),
    "x234": x234, "argmax_234_1": x234.argmax(1), "argmin_234_2": x234.argmin(2, keepdim=True),
}

# MARK: Movement

m = randn(2, 3, 4)
case("permute", [m], lambda x: x.permute(2, 0, 1))
case("transpose_reshape", [m], lambda x: x.transpose(0, 2).reshape(4, -1))
case("expand", [randn(3, 1)], lambda x: x.expand(2, 3, 4))
case("narrow", [m], lambda x: x.narrow(2, 1, 2))
case("cat_1", [m, randn(2, 2, 4)], lambda a, b: torch.cat([a, b], 1))
case("stack_1", [m, randn(2, 3, 4)], lambda a, b: torch.stack([a, b], 1))
case("stack_last", [m, randn(2, 3, 4)], lambda a, b: torch.stack([a, b], -1))
case("pad", [m], lambda x: F.pad(x, (2, -1, -1, 1, 1, 0), value=0.5))
case("flip", [m], lambda x: x.flip(0, 2))
case("step_slice", [m], lambda x: x[:, ::2, 1::3])
case("split_1", [m], lambda x: torch.cat([p * (i + 1) for i, p in enumerate(x.split([1, 2], 1))], 1))
case("chunk_2", [randn(7, 2)], lambda x: torch.cat([p * (i + 1) for i, p in enumerate(x.chunk(3, 0))], 0))
# NumPy's basic indexing is the reference for subscripts, negative steps included.
arr = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
subscripts = {
    "s_index": arr[1], "s_neg_index": arr[-1, :, -2], "s_range": arr[1:3, :, 2:],
    "s_step": arr[:, ::2, 1::2], "s_neg_step": arr[::-1], "s_neg_step2": arr[:, 3:0:-2, -1::-3],
    "s_neg_step3": arr[-1:-4:-2, ::-1, 1:4], "s_newaxis": arr[:, None, 1, None], "s_ellipsis": arr[..., 2],
    "s_ellipsis2": arr[1, ..., None, 1:3], "s_empty": arr[:, 3:1], "s_clamped": arr[-10:10, 2:100:3],
    "s_neg_range": arr[:, -3:-1], "s_closed": arr[:, 1:3, -3:],
}
cases["subscripts"] = {"x": torch.from_numpy(arr), **{k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in subscripts.items()}}

# MARK: Indexing

g = randn(3, 4)
case("gather_1", [g, torch.tensor([[0, 3], [1, 1], [2, 0]])], lambda x, i: x.gather(1, i), grad_indices=[0])
case("gather_0", [g, torch.tensor([[2, 0, 1, 2], [2, 2, 0, 0]])], lambda x, i: x.gather(0, i), grad_indices=[0])
case("scatter_add_1", [g, torch.tensor([[0, 3, 0], [1, 1, 1], [3, 0, 2]]), randn(3, 3)],
     lambda x, i, s: x.scatter_add(1, i, s), grad_indices=[0, 2])
case("scatter_add_0", [g, torch.tensor([[2, 0, 1, 2], [2, 2, 0, 0]]), randn(2, 4)],
     lambda x, i, s: x.scatter_add(0, i, s), grad_indices=[0, 2])
case("index_select_1", [g, torch.tensor([3, 0, 3])], lambda x, i: x.index_select(1, i), grad_indices=[0])
case("index_select_0", [randn(4, 2, 3), torch.tensor([1, 1, 0, 3, 2])], lambda x, i: x.index_select(0, i), grad_indices=[0])
case("index_add_0", [g, torch.tensor([2, 0, 2]), randn(3, 4)], lambda x, i, s: x.index_add(0, i, s), grad_indices=[0, 2])
case("index_add_1", [g, torch.tensor([1, 1, 3, 0, 1]), randn(3, 5)], lambda x, i, s: x.index_add(1, i, s), grad_indices=[0, 2])
labels = torch.tensor([[0, 3], [2, 2]])
cases["one_hot"] = {"labels": labels, "y": F.one_hot(labels, 4)}

# MARK: Linear algebra

case("matmul_2d", [randn(3, 4), randn(4, 5)], torch.matmul)
case("matmul_batched", [randn(2, 3, 4), randn(2, 4, 5)], torch.matmul)
case("matmul_broadcast", [randn(2, 1, 3, 4), randn(3, 4, 2)], torch.matmul)
case("matmul_shared_rhs", [randn(2, 3, 4), randn(4, 5)], torch.matmul)
case("matmul_vec_mat", [randn(4), randn(4, 5)], torch.matmul)
case("matmul_mat_vec", [randn(3, 4), randn(4)], torch.matmul)
case("matmul_vec_vec", [randn(4), randn(4)], torch.matmul)
case("matmul_vec_batched", [randn(4), randn(2, 4, 3)], torch.matmul)
case("matmul_batched_vec", [randn(2, 3, 4), randn(4)], torch.matmul)
# Transposed (non-contiguous) operands.
case("matmul_transposed", [randn(4, 3), randn(5, 4)], lambda a, b: a.t() @ b.t())
case("matmul_batched_transposed", [randn(2, 4, 3), randn(2, 4, 5)], lambda a, b: a.transpose(1, 2) @ b)

# MARK: Creation

cases["creation"] = {
    "linspace_7": torch.linspace(-1, 1, 7, dtype=torch.float64), "linspace_1": torch.linspace(2, 5, 1, dtype=torch.float64),
    "linspace_2": torch.linspace(2, 5, 2, dtype=torch.float64),
    "arange_5": torch.arange(5), "arange_tenths": torch.arange(0, 1, 0.1, dtype=torch.float64),
    "arange_halves": torch.arange(1, 2.5, 0.5, dtype=torch.float64), "arange_down": torch.arange(3, -1, -1.5, dtype=torch.float64),
    "eye_3_4": torch.eye(3, 4), "eye_3": torch.eye(3),
}

# MARK: Einsum
# Appended after the cases above so that their random draws keep their values.

einsum_cases = {
    "einsum_matmul": ("ij,jk->ik", [3, 4], [4, 5]),
    "einsum_batched": ("bij,bjk->bik", [2, 3, 4], [2, 4, 5]),
    "einsum_attention_scores": ("nqhd,nkhd->nhqk", [2, 3, 2, 4], [2, 5, 2, 4]),
    "einsum_attention_values": ("nhql,nlhd->nqhd", [2, 2, 3, 5], [2, 5, 2, 4]),
    "einsum_implicit": ("ij,kj", [3, 4], [5, 4]),
    "einsum_trace": ("ii", [4, 4]),
    "einsum_diagonal": ("ii->i", [4, 4]),
    "einsum_outer": ("i,j->ij", [3], [4]),
    "einsum_sum": ("ijk->j", [2, 3, 4]),
    # Batch axes [2, 1] and [5] broadcast to [2, 5].
    "einsum_ellipsis": ("...ij,...jk->...ik", [2, 1, 3, 4], [5, 4, 2]),
    "einsum_three": ("ij,jk,kl->il", [2, 3], [3, 4], [4, 2]),
    "einsum_bilinear": ("bn,anm,bm->ba", [2, 3], [4, 3, 5], [2, 5]),
    # A diagonal of two axes beside a free one.
    "einsum_partial_diagonal": ("iij->ji", [3, 3, 2]),
}
for name, (equation, *shapes) in einsum_cases.items():
    case(name, [randn(*s) for s in shapes], lambda *xs, equation=equation: torch.einsum(equation, *xs))

# MARK: Masking

# The mask is one row, broadcast over the rows of x.
case("masked_fill", [randn(3, 4), torch.tensor([True, False, False, True])],
     lambda x, m: x.masked_fill(m, -1e9), grad_indices=[0])
tri = randn(2, 3, 4)
case("triu_0", [tri], lambda x: x.triu())
case("triu_1", [tri], lambda x: x.triu(1))
case("tril_0", [tri], lambda x: x.tril())
case("tril_m1", [tri], lambda x: x.tril(-1))

# MARK: Scans and sorting


def distinct(*shape):
    # Multiples of 1/4 in random order: no ties, so that sorting has one gradient.
    n = torch.Size(shape).numel()
    return (torch.randperm(n).reshape(shape).float() - n / 2) / 4


case("cumsum_1", [randn(3, 4)], lambda x: torch.cumsum(x, 1))
case("cumsum_0", [randn(3, 4)], lambda x: torch.cumsum(x, 0))
case("sort_1", [distinct(3, 5)], lambda x: torch.sort(x, dim=1).values)
case("sort_desc_0", [distinct(4, 3)], lambda x: torch.sort(x, dim=0, descending=True).values)
case("argsort_1", [distinct(3, 5)], lambda x: torch.argsort(x, dim=1))
case("topk_2", [distinct(3, 5)], lambda x: torch.topk(x, 2, dim=-1).values)
case("topk_smallest", [distinct(2, 6)], lambda x: torch.topk(x, 3, dim=1, largest=False).values)
case("topk_indices", [distinct(3, 5)], lambda x: torch.topk(x, 2, dim=-1).indices)

# MARK: SimpleAttention (Examples/SimpleAttention)


class SelfAttention(torch.nn.Module):
    """The classic multi-head self-attention written with einsum (one Linear per head
    dimension, shared by the heads)."""

    def __init__(self, embed_size, heads):
        super().__init__()
        self.embed_size = embed_size
        self.heads = heads
        self.head_dim = embed_size // heads
        self.values = torch.nn.Linear(self.head_dim, self.head_dim, bias=False)
        self.keys = torch.nn.Linear(self.head_dim, self.head_dim, bias=False)
        self.queries = torch.nn.Linear(self.head_dim, self.head_dim, bias=False)
        self.fc_out = torch.nn.Linear(heads * self.head_dim, embed_size)

    def forward(self, values, keys, query, mask):
        N = query.shape[0]
        value_len, key_len, query_len = values.shape[1], keys.shape[1], query.shape[1]
        values = self.values(values.reshape(N, value_len, self.heads, self.head_dim))
        keys = self.keys(keys.reshape(N, key_len, self.heads, self.head_dim))
        queries = self.queries(query.reshape(N, query_len, self.heads, self.head_dim))
        energy = torch.einsum("nqhd,nkhd->nhqk", queries, keys)
        if mask is not None:
            energy = energy.masked_fill(mask == 0, float("-1e20"))
        attention = torch.softmax(energy / (self.embed_size ** (1 / 2)), dim=3)
        out = torch.einsum("nhql,nlhd->nqhd", attention, values).reshape(N, query_len, self.heads * self.head_dim)
        return self.fc_out(out)


attention = SelfAttention(8, 2)
with torch.no_grad():
    # Parameters exact in float32, so a float32 module can be checked against the same case.
    for p in attention.parameters():
        p.copy_(randn(*p.shape) * 0.5)
causal = torch.tril(torch.ones(3, 3, dtype=torch.int64)).expand(2, 1, 3, 3).contiguous()
module_case(cases, "simple_attention", attention, [randn(2, 3, 8), randn(2, 3, 8), randn(2, 3, 8), causal])

write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "core.json"), cases)
