"""A file-format family from another package: `.tinyattn` files hold a seed that fixes the weights."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from models.families.base import LoadedModel, SamplingInputs
from models.geometry import AttentionLayer
from models.sagan import sample_latents


class Attention(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.query = nn.Conv2d(channels, channels, 1)
        self.key = nn.Conv2d(channels, channels, 1)
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query, key = self.query(x).flatten(2), self.key(x).flatten(2)  # (B, C, N) each
        attention = self.softmax(query.transpose(1, 2) @ key)  # (B, N, N)
        return x + (x.flatten(2) @ attention.transpose(1, 2)).view_as(x)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 8 * 4 * 4)
        self.attn = Attention(8)
        self.up = nn.Upsample(scale_factor=2)
        self.rgb = nn.Conv2d(8, 3, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.rgb(self.up(self.attn(self.linear(z).view(-1, 8, 4, 4)))))  # (B, 3, 8, 8)


class TinyFamily:
    name = "tiny-attention"

    def recognises(self, path: Path) -> bool:
        return path.suffix == ".tinyattn"

    def load(self, path: Path) -> LoadedModel:
        torch.manual_seed(int(path.read_text()))
        module = Tiny().eval()

        def generate(seeds: Sequence[int], classes: Sequence[int] | None, truncation: float | None) -> torch.Tensor:
            return module(sample_latents(list(seeds), 4))

        return LoadedModel(
            family=self.name,
            path=path,
            module=module,
            image_size=8,
            inputs=SamplingInputs(4),
            layers=(AttentionLayer("attn", 8, 4, 4),),
            generate=generate,
            source_format="tinyattn",
        )
