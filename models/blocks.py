"""Building blocks that several generators share.

Layers that hold weights are made by factories passed in (`linear=`, `conv=`), so the same block
serves a trainable model (spectrally normalised layers) and a loaded one (plain layers holding
weights whose spectral norm was baked in at load time by `bake_spectral_norm` or
`bake_power_iteration_norm`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ClassConditioning",
    "ConditionalBatchNorm2d",
    "ConvFactory",
    "LinearFactory",
    "PooledKeyAttention",
    "bake_power_iteration_norm",
    "bake_spectral_norm",
]

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


def bake_spectral_norm(
    weight_orig: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    dim: int = 0,
    power_iterations: int = 0,
    eps: float = 1e-12,
) -> torch.Tensor:
    """The effective weight W / σ of a layer under torch's `spectral_norm` (`weight_orig`, `weight_u`, `weight_v`).

    W is flattened to a matrix with axis `dim` first (torch uses dim 1 for transposed convolutions,
    0 otherwise). In eval mode torch runs no power iteration: σ = uᵀ W v from the stored u and v.
    In train mode it first runs `n_power_iterations` of v ← ‖Wᵀu‖⁻¹ Wᵀu, u ← ‖Wv‖⁻¹ Wv (each norm
    clamped below by `eps`); `power_iterations` reproduces that.
    """
    if not 0 <= power_iterations <= 100:
        raise ValueError(f"power_iterations must be in 0..100, got {power_iterations}")
    weight = weight_orig.detach()
    moved = weight.movedim(dim, 0) if dim else weight
    matrix = moved.reshape(moved.shape[0], -1)  # (out, rest)
    if u.shape != (matrix.shape[0],) or v.shape != (matrix.shape[1],):
        raise ValueError(
            f"u and v must be ({matrix.shape[0]},) and ({matrix.shape[1]},) for a weight of shape "
            f"{tuple(weight.shape)}, got {tuple(u.shape)} and {tuple(v.shape)}"
        )
    for _ in range(power_iterations):
        v = F.normalize(matrix.t() @ u, dim=0, eps=eps)
        u = F.normalize(matrix @ v, dim=0, eps=eps)
    sigma = torch.dot(u, matrix @ v)
    return weight / sigma


def bake_power_iteration_norm(weight: torch.Tensor, u0: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """The effective weight W / σ of a BigGAN-PyTorch `SN` layer (`weight`, `u0`, `sv0` buffers).

    W is flattened to (out, rest). Every forward, eval included, runs one power iteration from the
    stored u0 (1, out): v = normalize(u0 W), u = normalize(v Wᵀ), σ = v Wᵀ uᵀ, each normalize
    with `eps` (the layer's `SN_eps`). In eval u0 is not written back, so `num_itrs` > 1 repeats the
    same iteration. `sv0` only logs the σ of the last training step, so it is not read. σ comes from
    the first singular vector alone (Gram-Schmidt starts from it), so `u1`, `u2`, … do not change it.
    """
    weight = weight.detach()
    matrix = weight.reshape(weight.shape[0], -1)  # (out, rest)
    u0 = u0.reshape(1, -1)
    if u0.shape[1] != matrix.shape[0]:
        raise ValueError(f"u0 must have {matrix.shape[0]} values for a weight of shape {tuple(weight.shape)}")
    v = F.normalize(u0 @ matrix, eps=eps)  # (1, rest)
    u = F.normalize(v @ matrix.t(), eps=eps)  # (1, out)
    sigma = (v @ matrix.t() @ u.t()).squeeze()
    return weight / sigma


class ClassConditioning(nn.Module):
    """A shared class embedding and, optionally, z split into chunks: what BigGAN feeds its blocks.

    With `chunks` > 1 (hierarchical z), z (B, chunks · chunk) splits into equal chunks: the first
    goes to the generator's input layer, and block i's condition is [shared, chunk i+1]. With
    `chunks` = 1, the input layer gets the whole z and every block's condition is [shared, z] when
    `z_in_condition`, else the shared embedding alone. An unconditional model passes
    `num_classes=None`: the conditions are then the z chunks alone.
    """

    def __init__(
        self,
        num_classes: int | None,
        shared_dim: int,
        z_dim: int,
        blocks: int,
        chunks: int = 1,
        z_in_condition: bool = True,
    ) -> None:
        super().__init__()
        if chunks < 1 or z_dim % chunks or chunks not in (1, blocks + 1):
            raise ValueError(f"z ({z_dim}) must split into 1 or blocks + 1 = {blocks + 1} equal chunks, got {chunks}")
        self.shared = None if num_classes is None else nn.Embedding(num_classes, shared_dim)
        self.blocks, self.chunks, self.z_in_condition = blocks, chunks, z_in_condition
        self.chunk_dim = z_dim // chunks

    @property
    def condition_dim(self) -> int:
        shared = 0 if self.shared is None else self.shared.embedding_dim
        if self.chunks > 1:
            return shared + self.chunk_dim
        return shared + (self.chunk_dim if self.z_in_condition else 0)

    def forward(self, z: torch.Tensor, classes: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(the input layer's z, one condition (B, condition_dim) per block)."""
        parts = [] if self.shared is None else [self.shared(classes)]  # (B, shared_dim)
        if self.chunks > 1:
            first, *rest = torch.split(z, self.chunk_dim, dim=1)  # each (B, chunk_dim)
            return first, [torch.cat([*parts, chunk], dim=1) for chunk in rest]
        condition = torch.cat([*parts, z], dim=1) if self.z_in_condition else torch.cat(parts, dim=1)
        return z, [condition] * self.blocks


ConvFactory = Callable[[int, int], nn.Module]  # (in_channels, out_channels) → a bias-free 1×1 convolution


def _plain_conv1x1(in_channels: int, out_channels: int) -> nn.Module:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)


class PooledKeyAttention(nn.Module):
    """BigGAN-style self-attention: out = x + γ · O(G Aᵀ), A = softmax(Θᵀ Φ), Φ and G max-pooled 2×2.

    Θ (C/8, N) on the H×W query grid; Φ (C/8, M) and G (C/2, M) on the H/2×W/2 key grid, M = N/4.
    Row i of A (N × M) is where query cell i looks. The softmax is an explicit submodule so that a
    forward hook on `<layer>.softmax` sees A. Children: `theta`, `phi`, `g`, `o` (1×1 convolutions
    without bias, made by `conv`), `gamma`, `softmax`; a family maps its file's names onto these.
    """

    key_pool = 2

    def __init__(self, channels: int, conv: ConvFactory = _plain_conv1x1) -> None:
        super().__init__()
        if channels % 8:
            raise ValueError(f"attention channels must be a multiple of 8 (Θ and Φ use C/8), got {channels}")
        self.theta = conv(channels, channels // 8)
        self.phi = conv(channels, channels // 8)
        self.g = conv(channels, channels // 2)
        self.o = conv(channels // 2, channels)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        theta = self.theta(x).flatten(2)  # (B, C/8, N), N = H·W, index row·W + col
        phi = F.max_pool2d(self.phi(x), self.key_pool).flatten(2)  # (B, C/8, M)
        attention = self.softmax(torch.bmm(theta.transpose(1, 2), phi))  # (B, N, M); row i sums to 1
        g = F.max_pool2d(self.g(x), self.key_pool).flatten(2)  # (B, C/2, M)
        attended = torch.bmm(g, attention.transpose(1, 2)).view(batch, channels // 2, height, width)
        return x + self.gamma * self.o(attended)
