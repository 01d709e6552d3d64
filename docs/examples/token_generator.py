"""A small transformer-style generator, to explore with `sagan-attn serve --generator`.

    PYTHONPATH=docs/examples sagan-attn serve --generator token_generator:build --generator-arg heads=4

z becomes an 8×8 grid of tokens; each stage runs two token blocks (multi-head
`scaled_dot_product_attention`, then an MLP) and then doubles the grid (nearest upsampling and a
linear layer on each token): attention on 8×8 and 16×16 tokens, then a linear layer makes each
token of the 32×32 grid a pixel.
Nothing in it knows about the explorer: it is the kind of code a user already has. `build` returns
an object with the small protocol the explorer reads (module, image_size, z_dim, generate).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class TokenBlock(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, count, width = tokens.shape
        qkv = self.qkv(self.norm1(tokens)).view(batch, count, 3, self.heads, width // self.heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, T, width / heads)
        mixed = F.scaled_dot_product_attention(query, key, value)  # (B, heads, T, width / heads)
        tokens = tokens + self.proj(mixed.transpose(1, 2).reshape(batch, count, width))
        return tokens + self.mlp(self.norm2(tokens))


class Upsample(nn.Module):
    """Doubles a side×side token grid: nearest upsampling, then a linear map to the next width."""

    def __init__(self, width: int, out_width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, out_width)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, count, width = tokens.shape
        side = int(count**0.5)
        grid = tokens.transpose(1, 2).reshape(batch, width, side, side)
        grid = F.interpolate(grid, scale_factor=2, mode="nearest")  # (B, width, 2·side, 2·side)
        return self.linear(grid.flatten(2).transpose(1, 2))  # (B, 4·count, out_width)


class TokenGenerator(nn.Module):
    def __init__(self, z_dim: int = 32, width: int = 64, heads: int = 4, start: int = 8, stages: int = 2) -> None:
        super().__init__()
        self.start, self.width = start, width
        self.embed = nn.Linear(z_dim, start * start * width)
        self.position = nn.Parameter(torch.randn(1, start * start, width) * 0.02)
        widths = [width // 2**stage for stage in range(stages + 1)]
        self.stages = nn.ModuleList(
            nn.Sequential(TokenBlock(stage_width, heads), TokenBlock(stage_width, heads)) for stage_width in widths[:-1]
        )
        self.upsamples = nn.ModuleList(Upsample(a, b) for a, b in itertools.pairwise(widths))
        self.to_rgb = nn.Linear(widths[-1], 3)
        self.image_size = start * 2**stages

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(z).view(z.shape[0], self.start * self.start, self.width) + self.position
        for stage, upsample in zip(self.stages, self.upsamples, strict=True):
            tokens = upsample(stage(tokens))
        side = self.image_size
        return torch.tanh(self.to_rgb(tokens)).transpose(1, 2).reshape(z.shape[0], 3, side, side)


@dataclass
class Explorable:
    """What `sagan-attn --generator` reads from a factory's result."""

    module: nn.Module
    image_size: int
    z_dim: int

    def generate(self, z: torch.Tensor, classes: torch.Tensor | None, truncation: float | None) -> torch.Tensor:
        return self.module(z)


def build(heads: int = 4, width: int = 64, seed: int = 0) -> Explorable:
    """An untrained TokenGenerator with fixed random weights (`seed`); its attention is already non-uniform."""
    torch.manual_seed(seed)
    generator = TokenGenerator(z_dim=32, width=width, heads=heads).eval()
    return Explorable(generator, generator.image_size, 32)
