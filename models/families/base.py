"""What every family hands back: a `LoadedModel`, its `SamplingInputs`, and the `ModelFamily` protocol.

A family says whether a path holds one of its models and loads it into a `LoadedModel`, which
tells a caller everything it needs without knowing the family:

- the sampling inputs: z size; the classes, by name in index order, if conditional; the truncation
  range and default, if any;
- the attention layers (`models.geometry.AttentionLayer`: name, channels, query grid, key grid, γ);
- `generate(seeds, classes, truncation)`, and `capture(...)`, one sample with its attention maps,
  taken by interception (`models.interception`), the same way for every family and user generator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from models.geometry import AttentionLayer
from models.imagenet import class_index
from models.imaging import to_uint8
from models.interception import InterceptedCapture

__all__ = ["Generate", "LoadedModel", "ModelFamily", "SamplingInputError", "SamplingInputs", "mean_over_heads"]


class SamplingInputError(ValueError):
    """A class or truncation a model cannot take; `parameter` names which ("class" or "truncation")."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class SamplingInputs:
    z_dim: int
    class_names: tuple[str, ...] | None = None  # index order; None for an unconditional model
    truncation: tuple[float, float] | None = None  # (low, high]: low excluded, high included; None if not truncated
    default_truncation: float | None = None

    @property
    def conditional(self) -> bool:
        return self.class_names is not None

    def resolve(
        self, class_name_or_index: str | int | None, truncation: float | None
    ) -> tuple[int | None, float | None]:
        """(class index, truncation) for a sample, defaults filled in; SamplingInputError says what is wrong.

        A class is an index or a name (exact first, then ignoring case if that is unique). An
        unconditional model refuses both a class and a truncation rather than ignore them.
        """
        if self.class_names is None and class_name_or_index is not None:
            raise SamplingInputError("class", "this model is unconditional: it takes no class")
        if self.truncation is None and truncation is not None:
            raise SamplingInputError("truncation", "this model has no truncation")
        index = None
        if self.class_names is not None and class_name_or_index is not None:
            try:
                index = class_index(class_name_or_index, self.class_names)
            except ValueError as error:
                raise SamplingInputError("class", str(error)) from None
        elif self.class_names is not None:
            index = 0
        if self.truncation is not None:
            truncation = self.default_truncation if truncation is None else truncation
            low, high = self.truncation
            if not low < truncation <= high:  # also refuses NaN
                raise SamplingInputError("truncation", f"truncation must be in ({low:g}, {high:g}], got {truncation!r}")
            truncation = float(truncation)
        return index, truncation

    def to_dict(self) -> dict[str, Any]:
        truncation = None
        if self.truncation is not None:
            low, high = self.truncation
            truncation = {"low": low, "high": high, "low_excluded": True, "default": self.default_truncation}
        return {"z_dim": self.z_dim, "classes": list(self.class_names or []) or None, "truncation": truncation}


# (seeds, class indices or None, truncation or None) → images (B, 3, S, S) in [-1, 1]
Generate = Callable[[Sequence[int], Sequence[int] | None, float | None], torch.Tensor]


@dataclass(frozen=True)
class LoadedModel:
    family: str
    path: Path
    module: nn.Module  # in eval mode; attention layers are found in it by name
    image_size: int
    inputs: SamplingInputs
    layers: tuple[AttentionLayer, ...]  # earliest first
    generate: Generate
    source_format: str  # the file format it was read from
    config: dict[str, Any] = field(default_factory=dict)  # the architecture, JSON-ready
    training: dict[str, Any] = field(default_factory=dict)  # data, steps, licence, attribution where known
    skipped: dict[str, str] = field(default_factory=dict)  # maps found but not laid on the image → why

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def capture(
        self, seed: int, class_index: int | None = None, truncation: float | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One sample: its image (S, S, 3) uint8 and each layer's map (N, M) float32 (the mean over heads)."""
        image, heads = self.capture_heads(seed, class_index, truncation)
        return image, mean_over_heads(heads)

    def capture_heads(
        self, seed: int, class_index: int | None = None, truncation: float | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One sample: its image (S, S, 3) uint8 and each layer's maps (H, N, M) float32, both read-only."""
        classes = None if class_index is None else [class_index]
        with torch.inference_mode(), InterceptedCapture(self.module) as capture:
            images = self.generate([seed], classes, truncation)  # (1, 3, S, S)
        captured = capture.layers
        missing = [layer.name for layer in self.layers if layer.name not in captured]
        if missing:
            raise RuntimeError(f"no forward pass reached {missing} while capturing")
        attention = {layer.name: captured[layer.name].maps[0].cpu().numpy() for layer in self.layers}  # (H, N, M)
        image = to_uint8(images[0].cpu())
        for array in (image, *attention.values()):
            array.setflags(write=False)
        return image, attention


def mean_over_heads(maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """(H, N, M) maps → their (N, M) float32 mean over heads (the map itself for one head), read-only."""
    means = {
        name: heads[0] if heads.shape[0] == 1 else heads.mean(axis=0, dtype=np.float32) for name, heads in maps.items()
    }
    for array in means.values():
        array.setflags(write=False)
    return means


class ModelFamily(Protocol):
    name: str

    def recognises(self, path: Path) -> bool: ...

    def load(self, path: Path) -> LoadedModel: ...
