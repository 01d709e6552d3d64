"""Servable generator families behind one small interface (draft: BigGAN-deep only so far).

A family says whether a path holds one of its models and loads it into a `LoadedModel`, which
tells a caller everything it needs without knowing the family: the sampling inputs (z size; the
classes, by name, if conditional; the truncation range, if any), the attention layers (name,
channels, query grid, key grid, γ), and how to make images from (seeds, classes, truncation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from models import biggan
from models.checkpoint import CheckpointError
from models.imagenet import imagenet_class_names

__all__ = ["FAMILIES", "AttentionLayer", "BigGANDeepFamily", "LoadedModel", "ModelFamily", "SamplingInputs", "load"]


@dataclass(frozen=True)
class SamplingInputs:
    z_dim: int
    class_names: tuple[str, ...] | None  # index order; None for an unconditional model
    truncation: tuple[float, float] | None  # (low, high]: low excluded, high included; None if not truncated
    default_truncation: float | None = None


@dataclass(frozen=True)
class AttentionLayer:
    name: str  # the module's name; capture hooks `<name>.softmax`
    channels: int
    query_grid: int  # side of the query grid; N = query_grid²
    key_grid: int  # side of the key grid; M = key_grid²
    gamma: float


Generate = Callable[[Sequence[int], Sequence[int], float | None], torch.Tensor]  # → (B, 3, S, S) in [-1, 1]


@dataclass(frozen=True)
class LoadedModel:
    family: str
    module: nn.Module  # in eval mode; attention layers are found in it by name
    image_size: int
    inputs: SamplingInputs
    layers: tuple[AttentionLayer, ...]  # earliest first
    generate: Generate


class ModelFamily(Protocol):
    name: str

    def recognises(self, path: Path) -> bool: ...

    def load(self, path: Path) -> LoadedModel: ...


class BigGANDeepFamily:
    """A folder holding `config.json` and `pytorch_model.bin` of `pytorch-pretrained-biggan`."""

    name = "biggan-deep"

    def recognises(self, path: Path) -> bool:
        return path.is_dir() and (path / biggan.CONFIG_NAME).exists()

    def load(self, path: Path) -> LoadedModel:
        model = biggan.load_biggan_folder(path)
        config = model.config
        names = imagenet_class_names() if config.num_classes == 1000 else tuple(map(str, range(config.num_classes)))
        layers = tuple(
            AttentionLayer(info.name, info.channels, info.query_grid, info.key_grid, _gamma(model, info.name))
            for info in biggan.attention_layers(config)
        )

        def generate(seeds: Sequence[int], classes: Sequence[int], truncation: float | None) -> torch.Tensor:
            if truncation is None:
                raise ValueError("BigGAN-deep needs a truncation in (0, 1]")
            return biggan.generate(model, seeds, classes, truncation)

        inputs = SamplingInputs(config.z_dim, names, biggan.TRUNCATION_RANGE, default_truncation=0.4)
        return LoadedModel(self.name, model, config.output_dim, inputs, layers, generate)


def _gamma(model: nn.Module, layer: str) -> float:
    return float(model.get_submodule(layer).gamma.item())


FAMILIES: tuple[ModelFamily, ...] = (BigGANDeepFamily(),)


def load(path: Path | str, families: Sequence[ModelFamily] = FAMILIES) -> LoadedModel:
    """The model at `path`, loaded by the first family that recognises it."""
    path = Path(path)
    for family in families:
        if family.recognises(path):
            return family.load(path)
    known = ", ".join(family.name for family in families)
    raise CheckpointError(f"{path}: no model family recognises it (known: {known})")
