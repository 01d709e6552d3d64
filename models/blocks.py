"""Building blocks that several generators share.

Layers that hold weights are made by factories passed in (`linear=`), so the same block serves a
trainable model (spectrally normalised linears) and a loaded one (plain linears holding weights
whose spectral norm was baked in at load time).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["ConditionalBatchNorm2d", "LinearFactory"]

LinearFactory = Callable[[int, int], nn.Module]  # (in_features, out_features) → a bias-free linear layer


def _plain_linear(in_features: int, out_features: int) -> nn.Module:
    return nn.Linear(in_features, out_features, bias=False)


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without its own affine, then x̂ · (1 + gain(c)) + bias(c) per sample.

    c (B, condition_dim) is the condition vector: a class embedding, possibly joined with a chunk
    of z. `gain` and `bias` are bias-free linear layers, so a zero condition leaves plain batch norm.
    """

    def __init__(
        self,
        channels: int,
        condition_dim: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        linear: LinearFactory = _plain_linear,
    ) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=eps, momentum=momentum, affine=False)
        self.gain = linear(condition_dim, channels)
        self.bias = linear(condition_dim, channels)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        gain = 1 + self.gain(condition)[:, :, None, None]  # (B, C, 1, 1)
        bias = self.bias(condition)[:, :, None, None]  # (B, C, 1, 1)
        return self.bn(x) * gain + bias
