"""Reference values for AttentionTests, TransformerTests and RecurrentTests, computed with
PyTorch.

    /work/venv/peers/bin/python Tests/EmberTests/Fixtures/generate_sequence_layers.py

writes sequence_layers.json beside this script. Each case is a module_case (see
module_fixtures.py): the module's state, float64 inputs, the output, a cotangent and the
gradients. Where a layer returns several tensors (attention weights, final states), the
checked output is all of them flattened and concatenated, so that every one is compared
and receives gradient. The layers' settings live in the Swift tests, by case name.
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from fixture_io import write
from module_fixtures import module_case, rand

torch.manual_seed(0)
cases = {}


def x(*shape):
    return rand(*shape).double()


def flat(*tensors):
    return torch.cat([t.reshape(-1) for t in tensors])


def attention(masks, need_weights=True, average=True):
    """forward for a MultiheadAttention called on (query, key, value) and the named masks."""
    def forward(m, q, k, v, *values):
        out, w = m(q, k, v, need_weights=need_weights, average_attn_weights=average, **dict(zip(masks, values)))
        return flat(out, w) if need_weights else out
    return forward


def lstm(m, s, *state):
    out, (h, c) = m(s, tuple(state) or None)
    return flat(out, h, c)


def self_attention(forward):
    return lambda m, s, *masks: forward(m, s, s, s, *masks)


# MARK: Attention (embed 8, 2 heads, batch 2, 5 queries, 6 keys)

E, H, B, L, S = 8, 2, 2, 5, 6
padding = torch.tensor([[False, False, True, False, True, False], [False, False, False, False, False, True]])

module_case(cases, "mha_self_batch_first", nn.MultiheadAttention(E, H, batch_first=True), [x(B, L, E)],
            forward=self_attention(attention(masks=[])))
module_case(cases, "mha_cross_seq_first_padding", nn.MultiheadAttention(E, H), [x(L, B, E), x(S, B, E), x(S, B, E), padding],
            forward=attention(need_weights=False, masks=["key_padding_mask"]))
module_case(cases, "mha_float_mask_per_head_weights", nn.MultiheadAttention(E, H, batch_first=True),
            [x(B, L, E), x(L, L), padding[:, :L]],
            forward=self_attention(attention(average=False, masks=["attn_mask", "key_padding_mask"])))
per_head = torch.rand(B * H, L, L) < 0.4
per_head[:, torch.arange(L), torch.arange(L)] = False  # every query keeps itself
module_case(cases, "mha_bool_mask_3d_seq_first", nn.MultiheadAttention(E, H), [x(L, B, E), per_head],
            forward=self_attention(attention(masks=["attn_mask"])))
causal = nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64) < 0  # True above the diagonal
module_case(cases, "mha_causal", nn.MultiheadAttention(E, H, batch_first=True), [x(B, L, E)],
            forward=lambda m, s: m(s, s, s, attn_mask=causal, is_causal=True, need_weights=False)[0])
module_case(cases, "mha_no_bias", nn.MultiheadAttention(E, H, bias=False), [x(L, B, E)],
            forward=self_attention(attention(masks=[])))
module_case(cases, "mha_unbatched", nn.MultiheadAttention(E, H), [x(L, E), padding[1, :L]],
            forward=self_attention(attention(masks=["key_padding_mask"])))
# A batch whose keys are all padding: PyTorch's fused path gives zero attention (the output is
# out_proj's bias) where its need_weights path gives nan; Ember always gives zeros.
all_padding = torch.tensor([[True] * L, [False, True, False, False, True]])
module_case(cases, "mha_fully_masked", nn.MultiheadAttention(E, H, batch_first=True), [x(B, L, E), all_padding],
            forward=self_attention(attention(need_weights=False, masks=["key_padding_mask"])))

# scaled_dot_product_attention has no parameters: an empty module carries it.
attend = torch.rand(L, S) < 0.6
attend[:, 0] = True
module_case(cases, "sdpa_bool_mask", nn.Module(), [x(B, H, L, 4), x(B, H, S, 4), x(B, H, S, 3), attend],
            forward=lambda m, q, k, v, mask: F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
module_case(cases, "sdpa_float_mask_scale", nn.Module(), [x(B, L, 4), x(B, S, 4), x(B, S, 4), x(L, S)],
            forward=lambda m, q, k, v, mask: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3))
module_case(cases, "sdpa_causal", nn.Module(), [x(B, 3, L, 4), x(B, 3, L, 4), x(B, 3, L, 4)],
            forward=lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))

# MARK: Transformer encoder (d_model 8, 2 heads, feed-forward 16)


def encoder_layer(**kwargs):
    return nn.TransformerEncoderLayer(E, H, dim_feedforward=16, **kwargs)


module_case(cases, "encoder_post_relu_eval", encoder_layer(dropout=0.1).eval(), [x(L, B, E), padding[:, :L]],
            forward=lambda m, s, pad: m(s, src_key_padding_mask=pad))
module_case(cases, "encoder_pre_gelu_causal_eval",
            encoder_layer(dropout=0.1, activation="gelu", batch_first=True, norm_first=True).eval(), [x(B, L, E), causal],
            forward=lambda m, s, mask: m(s, src_mask=mask, is_causal=True))
module_case(cases, "encoder_train_dropout0", encoder_layer(dropout=0.0, batch_first=True).train(), [x(B, L, E)])
module_case(cases, "encoder_pre_no_bias", encoder_layer(norm_first=True, bias=False).eval(), [x(L, B, E)])

stack = nn.TransformerEncoder(encoder_layer(activation="gelu", batch_first=True, norm_first=True), 2,
                              norm=nn.LayerNorm(E), enable_nested_tensor=False).eval()
with torch.no_grad():
    # The copies start equal; make them differ so that each must load its own weights.
    for p in list(stack.layers[1].parameters()) + list(stack.norm.parameters()):
        p.add_(rand(*p.shape) / 4)
module_case(cases, "encoder_stack_final_norm", stack, [x(B, L, E), padding[:, :L]],
            forward=lambda m, s, pad: m(s, src_key_padding_mask=pad))

# MARK: Recurrent (input 3, hidden 4, 5 steps, batch 2)

I, HID, T = 3, 4, 5
module_case(cases, "lstm_two_layers_states", nn.LSTM(I, HID, num_layers=2), [x(T, B, I), x(2, B, HID), x(2, B, HID)],
            forward=lstm)
module_case(cases, "lstm_bidirectional_batch_first", nn.LSTM(I, HID, num_layers=2, batch_first=True, bidirectional=True,
                                                            dropout=0.3).eval(), [x(B, T, I)],
            forward=lstm)
module_case(cases, "lstm_no_bias", nn.LSTM(I, HID, bias=False), [x(T, B, I)],
            forward=lstm)
module_case(cases, "lstm_unbatched", nn.LSTM(I, HID, bidirectional=True), [x(T, I), x(2, HID), x(2, HID)],
            forward=lstm)
module_case(cases, "gru_bidirectional_batch_first_state", nn.GRU(I, HID, num_layers=2, batch_first=True, bidirectional=True),
            [x(B, T, I), x(4, B, HID)], forward=lambda m, s, h: flat(*m(s, h)))
module_case(cases, "gru_no_bias", nn.GRU(I, HID, bias=False), [x(T, B, I)], forward=lambda m, s: flat(*m(s)))
module_case(cases, "gru_unbatched", nn.GRU(I, HID, num_layers=2), [x(T, I)], forward=lambda m, s: flat(*m(s)))
module_case(cases, "lstm_cell", nn.LSTMCell(I, HID), [x(B, I), x(B, HID), x(B, HID)],
            forward=lambda m, s, h, c: flat(*m(s, (h, c))))
module_case(cases, "lstm_cell_unbatched", nn.LSTMCell(I, HID, bias=False), [x(I)], forward=lambda m, s: flat(*m(s)))
module_case(cases, "gru_cell", nn.GRUCell(I, HID), [x(B, I), x(B, HID)], forward=lambda m, s, h: m(s, h))
module_case(cases, "gru_cell_unbatched", nn.GRUCell(I, HID), [x(I)], forward=lambda m, s: m(s))

write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sequence_layers.json"), cases)
