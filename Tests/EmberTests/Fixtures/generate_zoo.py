"""Reference values for the model zoo tests (Models/ZooTests, GPTTests, LSTMClassifierTests),
computed with PyTorch, torchvision and Hugging Face transformers.

    /work/venv/peers/bin/python Tests/EmberTests/Fixtures/generate_zoo.py

writes zoo.json and zoo_lenet.safetensors beside this script. Each model is written here in
PyTorch under the same parameter names as Ember's (torchvision.ops.MLP, nn.TransformerEncoder,
nn.LSTM with pack_padded_sequence and a copy of nanoGPT's model.py where they fit), in float64.

Most cases are module_case entries (see module_fixtures.py): state.<key>, inputs x<i>, the
output y, a cotangent w and the gradients grad.<key> of sum(w * y), plus "keys", the state
dict's keys in PyTorch's order. LeNet-5's 62k weights are not stored: every state tensor k
with n elements is filled with 0.1 sin(0.37 i + 1.3 k) for i < n, the input is sin(0.01 j)
over its flat index j, and its parameter and input gradients (too many for JSON) go to
zoo_lenet.safetensors as "<case>.<key>" and "<case>.x0" (fc1.weight's for lenet32 only).

GPT cases also hold a prompt and the tokens nanoGPT's greedy generate loop continues it
with (past block_size, so the context window slides). warp_* cases hold logits and what
Hugging Face's temperature, top-k and top-p warpers make of them; their settings live in
GPTTests, by case name. The model settings live in the Swift tests, by case name too.
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from fixture_io import tensor_entry
from module_fixtures import module_case, rand

torch.manual_seed(0)
here = os.path.dirname(os.path.abspath(__file__))
cases = {}


def randomize(model, scale=0.25, generator=None):
    """Dyadic random weights (exact in JSON): layer norm scales near 1, the rest scaled rand()."""
    with torch.no_grad():
        for key, p in model.named_parameters():
            if "ln" in key.split(".")[-2] or "norm" in key.split(".")[-2]:
                p.copy_((1 if key.endswith("weight") else 0) + rand(*p.shape, generator=generator) / 8)
            else:
                p.copy_(rand(*p.shape, generator=generator) * scale)
    return model


def record(name, model, inputs, forward=None):
    module_case(cases, name, model, inputs, forward=forward)
    cases[name]["keys"] = list(model.state_dict().keys())


def tokens(rows):
    return torch.tensor(rows, dtype=torch.int64)


# MARK: MLP (torchvision.ops.MLP under `layers`, input flattened)


class MLP(nn.Module):
    def __init__(self, inputs, hidden, outputs, activation=nn.ReLU, dropout=0.0):
        super().__init__()
        self.layers = torchvision.ops.MLP(inputs, hidden + [outputs], activation_layer=activation, dropout=dropout)

    def forward(self, x):
        return self.layers(x.flatten(1))


record("mlp_relu", MLP(12, [16, 8], 5), [rand(4, 3, 2, 2).double()])
record("mlp_gelu_dropout_eval", MLP(12, [10], 3, activation=nn.GELU, dropout=0.3).eval(), [rand(4, 12).double()])
record("mlp_tanh", MLP(6, [7], 2, activation=nn.Tanh), [rand(3, 6).double()])
record("mlp_silu", MLP(6, [7, 7], 4, activation=nn.SiLU), [rand(3, 2, 3).double()])
record("mlp_linear", MLP(6, [], 4), [rand(3, 6).double()])

# MARK: LeNet-5 (ReLU, max pooling; first convolution padded for 28x28)


class LeNet5(nn.Module):
    def __init__(self, classes=10, channels=1, size=32):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 6, 5, padding=(32 - size) // 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x.flatten(1))))))


lenet_gradients = {}
for name, model, shape in [("lenet32", LeNet5(), [2, 1, 32, 32]), ("lenet28_rgb", LeNet5(7, 3, 28), [2, 3, 28, 28])]:
    model = model.double()
    with torch.no_grad():
        for k, t in enumerate(model.state_dict().values()):
            t.copy_((0.1 * torch.sin(0.37 * torch.arange(t.numel(), dtype=torch.float64) + 1.3 * k)).reshape(t.shape))
    x = torch.sin(0.01 * torch.arange(math.prod(shape), dtype=torch.float64)).reshape(shape).requires_grad_()
    y = model(x)
    w = rand(*y.shape).double()
    (y * w).sum().backward()
    cases[name] = {"keys": list(model.state_dict().keys()), "shapes": [list(t.shape) for t in model.state_dict().values()],
                   "y": y.detach(), "w": w}
    lenet_gradients[name + ".x0"] = x.grad.contiguous()
    for key, p in model.named_parameters():
        # fc1's 48,000 weights are the same layer in both cases: stored once, to keep the file small.
        if name == "lenet32" or key != "fc1.weight":
            lenet_gradients[name + "." + key] = p.grad.contiguous()
save_file(lenet_gradients, os.path.join(here, "zoo_lenet.safetensors"))

# MARK: Transformer classifier


class TransformerClassifier(nn.Module):
    def __init__(self, vocab, classes, d, heads, layers, ff, max_len, dropout, pad, norm_first, activation):
        super().__init__()
        self.pad = pad
        self.token_embedding = nn.Embedding(vocab, d, padding_idx=pad)
        self.position_embedding = nn.Embedding(max_len, d)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout, activation, batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d) if norm_first else None,
                                             enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def forward(self, tokens, padding_mask=None):
        if padding_mask is None:
            padding_mask = tokens == self.pad
        x = self.dropout(self.token_embedding(tokens) + self.position_embedding(torch.arange(tokens.shape[1])))
        x = self.encoder(x, src_key_padding_mask=padding_mask)
        keep = (~padding_mask).unsqueeze(-1).to(x.dtype)
        return self.head((x * keep).sum(1) / keep.sum(1).clamp(min=1))


def transformer(norm_first, activation):
    model = TransformerClassifier(11, 3, 8, 2, 2, 16, 10, 0.1, 0, norm_first, activation)
    randomize(model)
    with torch.no_grad():
        model.token_embedding.weight[0] = 0
    return model.eval()


padded = tokens([[3, 1, 4, 1, 5, 9, 2], [6, 5, 3, 5, 0, 0, 0], [8, 9, 7, 9, 3, 0, 0]])
record("transformer_pre_gelu", transformer(True, "gelu"), [padded])
record("transformer_post_relu", transformer(False, "relu"), [padded])
# An explicit mask (true at padding) over tokens that hold no padding id.
mask = torch.tensor([[False] * 7, [False] * 5 + [True] * 2, [False] * 3 + [True] * 4])
record("transformer_explicit_mask", transformer(True, "gelu"), [tokens([[3, 1, 4, 1, 5, 9, 2], [6, 5, 3, 5, 8, 9, 7],
                                                                        [8, 9, 7, 9, 3, 2, 1]]), mask])

# MARK: GPT (nanoGPT's model.py, full logits)


class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn = nn.Linear(c["n_embd"], 3 * c["n_embd"], bias=c["bias"])
        self.c_proj = nn.Linear(c["n_embd"], c["n_embd"], bias=c["bias"])
        self.resid_dropout = nn.Dropout(c["dropout"])
        self.n_head, self.n_embd, self.dropout = c["n_head"], c["n_embd"], c["dropout"]

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0, is_causal=True)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C)))


class MLPBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=c["bias"])
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * c["n_embd"], c["n_embd"], bias=c["bias"])
        self.dropout = nn.Dropout(c["dropout"])

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = LayerNorm(c["n_embd"], c["bias"])
        self.attn = CausalSelfAttention(c)
        self.ln_2 = LayerNorm(c["n_embd"], c["bias"])
        self.mlp = MLPBlock(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block_size = c["block_size"]
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c["vocab_size"], c["n_embd"]),
            wpe=nn.Embedding(c["block_size"], c["n_embd"]),
            drop=nn.Dropout(c["dropout"]),
            h=nn.ModuleList([Block(c) for _ in range(c["n_layer"])]),
            ln_f=LayerNorm(c["n_embd"], c["bias"]),
        ))
        self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight

    def forward(self, idx):
        t = self.transformer
        x = t.drop(t.wte(idx) + t.wpe(torch.arange(idx.shape[1])))
        for block in t.h:
            x = block(x)
        return self.lm_head(t.ln_f(x))

    @torch.no_grad()
    def generate_greedy(self, idx, max_new_tokens):
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= self.block_size else idx[:, -self.block_size:]
            next_token = self(idx_cond)[:, -1, :].argmax(-1, keepdim=True)
            idx = torch.cat((idx, next_token), dim=1)
        return idx


# Weight seeds picked so that greedy generation does not settle on one token at once.
for name, bias, seed in [("gpt", True, 2), ("gpt_no_bias", False, 7)]:
    config = dict(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=8, dropout=0.0, bias=bias)
    model = randomize(GPT(config), scale=1.0, generator=torch.Generator().manual_seed(seed)).eval()
    record(name, model, [tokens([[1, 5, 2, 12, 7, 7, 0, 3], [4, 4, 9, 1, 11, 6, 8, 2]])])
    prompt = tokens([[3, 1, 4]])
    cases[name]["prompt"] = tensor_entry(prompt)
    cases[name]["greedy"] = tensor_entry(model.double().generate_greedy(prompt, 12)[0, 3:])

# MARK: Hugging Face's sampling warpers (vocabulary of 13)

logits = torch.randn(3, 13, dtype=torch.float64) * 2
ties = torch.tensor([[1.0, 2.0, 2.0, 2.0, 0.5, -1.0, 3.0, 0.0, -2.0, 1.5, 2.0, -0.5, 0.25]], dtype=torch.float64)
for name, warpers, scores in [
    ("warp_top_k", [TopKLogitsWarper(4)], torch.cat([logits, ties])),
    ("warp_top_k_above_vocabulary", [TopKLogitsWarper(20)], logits),
    ("warp_top_p", [TopPLogitsWarper(0.7)], logits),
    ("warp_top_p_zero", [TopPLogitsWarper(0.0)], logits),
    # Probabilities 1/4 and 1/2, exact: the mass reaches 1 - p exactly, and those tokens go.
    ("warp_top_p_exact_mass", [TopPLogitsWarper(0.5)], torch.tensor([[0.0, 0, 0, 0], [math.log(2), 0, 0, -math.inf]],
                                                                      dtype=torch.float64)),
    ("warp_temperature_top_p", [TemperatureLogitsWarper(1.5), TopPLogitsWarper(0.95)], logits),
    ("warp_temperature_top_k_top_p", [TemperatureLogitsWarper(0.7), TopKLogitsWarper(5), TopPLogitsWarper(0.8)], logits),
]:
    processed = scores.clone()
    for warper in warpers:
        processed = warper(None, processed)
    cases[name] = {"logits": scores, "processed": processed}

# MARK: LSTM classifier (packed sequences) and packed LSTM/GRU layers


class LSTMClassifier(nn.Module):
    def __init__(self, vocab, classes, embedding, hidden, layers, bidirectional, pad):
        super().__init__()
        self.pad, self.bidirectional = pad, bidirectional
        self.embedding = nn.Embedding(vocab, embedding, padding_idx=pad)
        self.lstm = nn.LSTM(embedding, hidden, layers, batch_first=True, bidirectional=bidirectional)
        self.dropout = nn.Dropout(0.0)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), classes)

    def forward(self, tokens, lengths=None):
        if lengths is None:
            lengths = (tokens != self.pad).sum(1)
        packed = pack_padded_sequence(self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        features = torch.cat([h[-2], h[-1]], 1) if self.bidirectional else h[-1]
        return self.head(self.dropout(features))


record("lstm_classifier_bidirectional", randomize(LSTMClassifier(10, 3, 4, 5, 2, True, 0), scale=0.5),
       [tokens([[3, 1, 4, 1, 5, 9], [2, 6, 5, 0, 0, 0], [3, 5, 8, 9, 0, 0]])])
record("lstm_classifier_lengths", randomize(LSTMClassifier(10, 3, 4, 5, 1, False, 0), scale=0.5),
       [tokens([[3, 1, 4, 1, 5], [2, 6, 7, 8, 9], [3, 5, 8, 9, 7]]), tokens([5, 2, 3])],
       forward=lambda m, t, lengths: m(t, lengths))

lengths = [5, 2, 4]


def packed(layer, is_lstm):
    def forward(m, x):
        out, state = m(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=5)
        states = state if is_lstm else (state,)
        return torch.cat([out.reshape(-1)] + [s.reshape(-1) for s in states])
    return forward


record("lstm_packed", nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True), [rand(3, 5, 3).double()],
       forward=packed(nn.LSTM, True))
record("gru_packed", nn.GRU(3, 4, num_layers=2, batch_first=True, bidirectional=True), [rand(3, 5, 3).double()],
       forward=packed(nn.GRU, False))

out = {name: {key: tensor_entry(value) if torch.is_tensor(value) else value for key, value in entries.items()}
       for name, entries in cases.items()}
with open(os.path.join(here, "zoo.json"), "w") as f:
    json.dump(out, f, separators=(",", ":"))

