"""Small generators written the way users write theirs, for the interception tests (imported as test code)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class InlineAttention(nn.Module):
    """BigGAN-PyTorch's attention: θ, φ, g, o convolutions, φ and g max-pooled 2×2, softmax inline."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.theta = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.phi = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.g = nn.Conv2d(channels, channels // 2, 1, bias=False)
        self.o = nn.Conv2d(channels // 2, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.tensor(0.5))

    def theta_phi(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, channels = x.shape[:2]
        theta = self.theta(x).view(batch, channels // 8, -1)  # (B, C/8, N)
        phi = F.max_pool2d(self.phi(x), 2).view(batch, channels // 8, -1)  # (B, C/8, N/4)
        return theta, phi

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        theta, phi = self.theta_phi(x)
        g = F.max_pool2d(self.g(x), 2).view(batch, channels // 2, -1)  # (B, C/2, N/4)
        beta = F.softmax(torch.bmm(theta.transpose(1, 2), phi), -1)  # (B, N, N/4)
        o = self.o(torch.bmm(g, beta.transpose(1, 2)).view(batch, channels // 2, height, width))
        return x + self.gamma * o


class InlineGenerator(nn.Module):
    def __init__(self, z_dim: int = 8, channels: int = 16) -> None:
        super().__init__()
        self.channels = channels
        self.linear = nn.Linear(z_dim, channels * 8 * 8)
        self.up = nn.Upsample(scale_factor=2)
        self.attention = InlineAttention(channels)
        self.to_rgb = nn.Conv2d(channels, 3, 3, padding=1)

    def before_attention(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.linear(z).view(z.shape[0], self.channels, 8, 8))  # (B, C, 16, 16)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.to_rgb(self.attention(self.before_attention(z))))  # (B, 3, 16, 16)


class HeadsAttention(nn.Module):
    """Multi-head attention over tokens with F.scaled_dot_product_attention; an optional mask and scale."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.mask: torch.Tensor | None = None
        self.scale: float | None = None
        self.is_causal = False

    def qkv_heads(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, count, width = tokens.shape
        qkv = self.qkv(tokens).view(batch, count, 3, self.heads, width // self.heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, T, D)
        return query, key, value

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        query, key, value = self.qkv_heads(tokens)
        mixed = F.scaled_dot_product_attention(
            query, key, value, attn_mask=self.mask, is_causal=self.is_causal, scale=self.scale
        )
        return tokens + mixed.transpose(1, 2).flatten(2)


class TokenGenerator(nn.Module):
    """z → 8×8 tokens → one attention layer (SDPA or nn.MultiheadAttention) → 8×8 image."""

    def __init__(self, z_dim: int = 8, width: int = 16, heads: int = 4, builtin: bool = False) -> None:
        super().__init__()
        self.width = width
        self.embed = nn.Linear(z_dim, 64 * width)
        self.attention = (
            nn.MultiheadAttention(width, heads, batch_first=True) if builtin else HeadsAttention(width, heads)
        )
        self.to_rgb = nn.Linear(width, 3)

    def tokens(self, z: torch.Tensor) -> torch.Tensor:
        return self.embed(z).view(z.shape[0], 64, self.width)  # (B, 64, width)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        tokens = self.tokens(z)
        if isinstance(self.attention, nn.MultiheadAttention):
            mixed, _ = self.attention(tokens, tokens, tokens, average_attn_weights=False)
            tokens = tokens + mixed
        else:
            tokens = self.attention(tokens)
        return torch.tanh(self.to_rgb(tokens)).transpose(1, 2).reshape(z.shape[0], 3, 8, 8)


class Plain(nn.Module):
    def __init__(self, z_dim: int = 8) -> None:
        super().__init__()
        self.linear = nn.Linear(z_dim, 3 * 8 * 8)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(z)).view(z.shape[0], 3, 8, 8)


@dataclass
class Explorable:
    module: nn.Module
    image_size: int
    z_dim: int = 8

    def generate(self, z: torch.Tensor, classes: torch.Tensor | None, truncation: float | None) -> torch.Tensor:
        return self.module(z)


def inline(seed: int = 0) -> Explorable:
    torch.manual_seed(seed)
    return Explorable(InlineGenerator(), 16)


def tokens(heads: int = 4, builtin: bool = False) -> Explorable:
    torch.manual_seed(0)
    return Explorable(TokenGenerator(heads=heads, builtin=builtin), 8)


def plain() -> Explorable:
    return Explorable(Plain(), 8)


def broken(reason: str = "no weights here") -> Explorable:
    raise FileNotFoundError(reason)


@dataclass
class FailingAfterProbe(Explorable):
    """Generates once (the probe that finds its layers), then raises inside every forward pass."""

    calls: int = 0

    def generate(self, z: torch.Tensor, classes: torch.Tensor | None, truncation: float | None) -> torch.Tensor:
        self.calls += 1
        if self.calls > 1:
            self.module.attention.mask = torch.zeros(3, 3, dtype=torch.bool)  # no shape matches: SDPA raises
        return self.module(z)


def fails_after_probe() -> FailingAfterProbe:
    torch.manual_seed(0)
    return FailingAfterProbe(TokenGenerator(heads=2), 8)


class ClassTokenGenerator(nn.Module):
    """Attention over 64 grid tokens plus a class token (65: no grid), then over the 64 alone."""

    def __init__(self, z_dim: int = 8, width: int = 16) -> None:
        super().__init__()
        self.width = width
        self.embed = nn.Linear(z_dim, 65 * width)
        self.with_token = HeadsAttention(width, 2)
        self.grid_only = HeadsAttention(width, 2)
        self.to_rgb = nn.Linear(width, 3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        tokens = self.with_token(self.embed(z).view(z.shape[0], 65, self.width))[:, 1:]
        tokens = self.grid_only(tokens)
        return torch.tanh(self.to_rgb(tokens)).transpose(1, 2).reshape(z.shape[0], 3, 8, 8)


def class_token() -> Explorable:
    torch.manual_seed(0)
    return Explorable(ClassTokenGenerator(), 8)


class NaNAfterAttention(nn.Module):
    """A token generator whose output layer turns everything into NaN, as a diverged run's would."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens = TokenGenerator()
        self.broken = nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.broken(self.tokens(z) * float("nan"))


def nan_output() -> Explorable:
    return Explorable(NaNAfterAttention().eval(), 8)
