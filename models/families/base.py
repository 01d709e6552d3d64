"""What every family hands back: a `LoadedModel`, its `SamplingInputs`, and the `ModelFamily` protocol.

A family says whether a path holds one of its models and loads it into a `LoadedModel`, which
tells a caller everything it needs without knowing the family:

- the sampling inputs: z size; the classes, by name in index order, if conditional; the truncation
  range and default, if any;
- the attention layers (`models.geometry.AttentionLayer`: name, channels, query grid, key grid, γ);
- `generate(seeds, classes, truncation)`, and `capture(...)`, one sample with its attention maps,
  taken by interception (`models.interception`) for any generator, or by forward hooks on the
  softmax modules where every layer is one of ours (the same maps, at a fraction of the cost);
- `latents(seed, class, truncation)`, the z the generator is fed for that sample, as the family documents.

`capture` refuses a sample whose image or maps are not finite (`models.finite.NonFiniteOutputError`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from models.capture import AttentionCapture, attention_layer_names
from models.finite import require_finite
from models.geometry import AttentionLayer
from models.imagenet import class_index
from models.imaging import to_uint8
from models.interception import InterceptedCapture
from models.interrupt import StopWhen

__all__ = [
    "Generate",
    "Latents",
    "LoadedModel",
    "ModelFamily",
    "SamplingInputError",
    "SamplingInputs",
    "mean_over_heads",
]


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
# (seed, class index or None, truncation or None) → z (z_dim,) float32 on the CPU, as `generate` feeds it
Latents = Callable[[int, int | None, float | None], torch.Tensor]


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
    latents: Latents | None = None  # None only for a family that does not say how a seed becomes z
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
        return self.capture_batch([seed], classes, truncation)[0]

    def _softmax_modules_only(self) -> bool:
        """Whether every layer is a one-head attention module of ours, with an `nn.Softmax` child named `softmax`."""
        modules = set(attention_layer_names(self.module))
        return all(layer.heads == 1 and layer.name in modules for layer in self.layers)

    def capture_batch(
        self,
        seeds: Sequence[int],
        classes: Sequence[int] | None = None,
        truncation: float | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """`capture_heads` of several samples in one forward pass, one (image, maps) pair per seed, in order.

        `models.interrupt.Interrupted` if `stop()` turns true part-way; `NonFiniteOutputError` names a
        sample whose image or maps are not finite."""
        if self._softmax_modules_only():
            # Forward hooks on those softmax modules see every map, at a fraction of interception's cost.
            names = [layer.name for layer in self.layers]
            with torch.inference_mode(), StopWhen(self.module, stop), AttentionCapture(self.module, names) as hooks:
                images = self.generate(seeds, classes, truncation)  # (B, 3, S, S)
            batches = {name: maps.unsqueeze(1) for name, maps in hooks.maps.items()}  # (B, 1, N, M)
        else:
            with torch.inference_mode(), StopWhen(self.module, stop), InterceptedCapture(self.module) as capture:
                images = self.generate(seeds, classes, truncation)  # (B, 3, S, S)
            missing = [layer.name for layer in self.layers if layer.name not in capture.layers]
            if missing:
                raise RuntimeError(f"no forward pass reached {missing} while capturing")
            batches = {layer.name: capture.layers[layer.name].maps for layer in self.layers}  # (B, H, N, M)
        captured = []
        for index, seed in enumerate(seeds):
            maps = {name: batch[index] for name, batch in batches.items()}  # (H, N, M) each
            class_index = None if classes is None else classes[index]
            require_finite(_describe_sample(seed, class_index, truncation), [images[index], *maps.values()])
            attention = {name: tensor.float().cpu().numpy() for name, tensor in maps.items()}
            if len(seeds) > 1:  # a view would keep the whole batch alive in the cache
                attention = {name: array.copy() for name, array in attention.items()}
            image = to_uint8(images[index].cpu())
            for array in (image, *attention.values()):
                array.setflags(write=False)
            captured.append((image, attention))
        return captured


def _describe_sample(seed: int, class_index: int | None, truncation: float | None) -> str:
    parts = [f"seed {seed}"]
    if class_index is not None:
        parts.append(f"class {class_index}")
    if truncation is not None:
        parts.append(f"truncation {truncation:g}")
    return f"the sample of {', '.join(parts)}"


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
    needs: str  # what a user passes, for messages: "a folder holding …"

    def recognises(self, path: Path) -> bool: ...

    def load(self, path: Path) -> LoadedModel: ...
