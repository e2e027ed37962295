"""Reference values for NN/ConvolutionLayerTests, NormalizationLayerTests,
PoolingLayerTests and EmbeddingLayerTests (and the core tests of convTranspose2d, pooling
ceil mode and dilation, and adaptive pooling), computed with PyTorch's layers.

    /work/venv/peers/bin/python Tests/EmberTests/Fixtures/generate_layers.py

writes layers.json beside this script. Each case is a `module_case` (module_fixtures.py):
state before the forward pass, inputs, output, gradients of sum(w * y) and buffers after.
Parameters and running statistics are randomized so that a swapped or ignored one shows.
The layers' settings are repeated in the Swift tests, by case name."""
import os

import torch
import torch.nn as nn

from fixture_io import write
from module_fixtures import module_case, rand

torch.manual_seed(0)
cases = {}


def randomized(module):
    """Random parameters and running statistics (variances positive), multiples of 1/64."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(rand(*p.shape))
        for name, b in module.named_buffers():
            if name.endswith("running_var"):
                b.copy_(rand(*b.shape).abs() + 0.5)
            elif b.is_floating_point():
                b.copy_(rand(*b.shape))
    return module


def distinct(*shape):
    """Distinct values, so that max pooling has no ties."""
    n = 1
    for d in shape:
        n *= d
    return ((torch.randperm(n) - n // 2).float() / 16).reshape(shape)


def case(name, module, *inputs, train=True):
    module_case(cases, name, module.train(train), list(inputs))


# Convolution
case("conv2d", nn.Conv2d(3, 4, 3, stride=2, padding=1), rand(2, 3, 7, 6))
case("conv2d_groups_dilation", nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=2,
                                         bias=False), rand(2, 4, 7, 8))
case("conv2d_valid", nn.Conv2d(2, 3, 3, padding="valid"), rand(2, 2, 5, 6))
# Totals d·(k-1) of 3 and 2: PyTorch pads the odd one's extra row at the bottom.
case("conv2d_same_even", nn.Conv2d(2, 3, (4, 3), padding="same"), rand(2, 2, 6, 5))
case("conv2d_same_dilated", nn.Conv2d(2, 4, (2, 3), padding="same", dilation=(3, 2), groups=2), rand(1, 2, 7, 6))
case("conv2d_unbatched", nn.Conv2d(3, 2, 2), rand(3, 5, 4))
case("conv1d", nn.Conv1d(3, 4, 3, stride=2, padding=1), rand(2, 3, 9))
case("conv1d_same_even", nn.Conv1d(4, 2, 4, padding="same", dilation=1, groups=2), rand(2, 4, 7))
case("conv_transpose2d", nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), rand(2, 3, 4, 5))
case("conv_transpose2d_groups", nn.ConvTranspose2d(4, 6, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2),
                                                   dilation=(2, 1), groups=2, bias=False), rand(2, 4, 3, 4))
# Output padding at or past the stride (allowed below the dilation) reveals rows the padding cropped.
case("conv_transpose2d_dilated_output_padding", nn.ConvTranspose2d(2, 3, 3, stride=1, padding=1, output_padding=1,
                                                                   dilation=2), rand(1, 2, 4, 4))

# Normalization
case("batch_norm2d_train", randomized(nn.BatchNorm2d(3)), rand(4, 3, 5, 5))
case("batch_norm2d_eval", randomized(nn.BatchNorm2d(3)), rand(4, 3, 5, 5), train=False)
cumulative = randomized(nn.BatchNorm2d(3, momentum=None, eps=1e-3))
cumulative.num_batches_tracked.fill_(3)
case("batch_norm2d_cumulative", cumulative, rand(2, 3, 4, 3))
case("batch_norm2d_untracked_eval", randomized(nn.BatchNorm2d(3, track_running_stats=False)), rand(3, 3, 2, 4), train=False)
case("batch_norm1d_2d", randomized(nn.BatchNorm1d(4, momentum=0.3)), rand(6, 4))
case("batch_norm1d_3d", randomized(nn.BatchNorm1d(3, affine=False)), rand(4, 3, 5))
case("batch_norm1d_eval", randomized(nn.BatchNorm1d(3)), rand(4, 3, 5), train=False)
case("layer_norm", randomized(nn.LayerNorm([4, 5])), rand(2, 3, 4, 5))
case("layer_norm_no_bias", randomized(nn.LayerNorm(6, eps=1e-3, bias=False)), rand(3, 6))
case("layer_norm_no_affine", nn.LayerNorm(6, elementwise_affine=False), rand(2, 2, 6))
case("group_norm", randomized(nn.GroupNorm(2, 6)), rand(3, 6, 4, 3))
case("group_norm_no_affine", nn.GroupNorm(3, 3, eps=1e-3, affine=False), rand(2, 3, 5))
case("group_norm_one_group", randomized(nn.GroupNorm(1, 4)), rand(2, 4))

# Pooling
case("max_pool", nn.MaxPool2d(3, 2, 1), distinct(2, 3, 7, 6))
case("max_pool_ceil", nn.MaxPool2d(3, 2, 1, ceil_mode=True), distinct(2, 2, 8, 7))
case("max_pool_dilated", nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 1), dilation=(2, 3)), distinct(2, 2, 9, 8))
case("max_pool_dilated_ceil", nn.MaxPool2d(2, stride=2, padding=1, dilation=2, ceil_mode=True), distinct(1, 2, 7, 8))
case("avg_pool", nn.AvgPool2d(2), rand(2, 3, 6, 6))
case("avg_pool_ceil", nn.AvgPool2d(3, 2, 1, ceil_mode=True), rand(2, 2, 8, 7))
case("avg_pool_ceil_exclude_pad", nn.AvgPool2d((3, 2), stride=(2, 3), padding=(1, 0), ceil_mode=True,
                                               count_include_pad=False), rand(1, 2, 8, 8))
case("adaptive_avg_pool", nn.AdaptiveAvgPool2d((3, 4)), rand(2, 2, 7, 9))
case("adaptive_avg_pool_global", nn.AdaptiveAvgPool2d(1), rand(2, 3, 5, 4))
case("adaptive_avg_pool_divisible", nn.AdaptiveAvgPool2d((2, 3)), rand(1, 2, 6, 9))
case("adaptive_avg_pool_larger", nn.AdaptiveAvgPool2d(5), rand(1, 1, 3, 4))
case("adaptive_avg_pool_unbatched", nn.AdaptiveAvgPool2d((2, 2)), rand(2, 5, 3))

# Embedding
case("embedding", nn.Embedding(10, 4), torch.randint(0, 10, (3, 5)))
padded = nn.Embedding(10, 3, padding_idx=2)
with torch.no_grad():
    padded.weight[2] = rand(3)  # a stored padding row is read as is but still gets no gradient
case("embedding_padding", padded, torch.tensor([[2, 0, 9, 2], [5, 2, 2, 1]]))
case("embedding_negative_padding", nn.Embedding(6, 2, padding_idx=-1), torch.tensor([[[5, 0], [3, 5]], [[1, 1], [5, 4]]]))

write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "layers.json"), cases)
