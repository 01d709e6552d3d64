"""Servable generator families behind one small interface.

A family says whether a path holds one of its models and loads it into a `LoadedModel`, which
tells a caller everything it needs without knowing the family:

- the sampling inputs: z size; the classes, by name in index order, if conditional; the truncation
  range and default, if any;
- the attention layers (`models.geometry.AttentionLayer`: name, channels, query grid, key grid, γ);
- `generate(seeds, classes, truncation)`, and `capture(...)`, one sample with its attention maps.

Families, tried in order: SAGAN-64 (our `sagan-attn/1` files and heykeetae `{step}_G.pth`, any
path that is not a folder) and BigGAN-deep (a folder holding `config.json` and `pytorch_model.bin`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from models import biggan
from models.capture import AttentionCapture
from models.checkpoint import CheckpointError, LoadedCheckpoint, load_checkpoint
from models.geometry import AttentionLayer, layer_gamma
from models.imagenet import class_index, imagenet_class_names
from models.imaging import to_uint8
from models.interrupt import StopWhen
from models.sagan import generator_attention_layers, sample_latents

__all__ = [
    "FAMILIES",
    "SHIPPED_MODEL",
    "BigGANDeepFamily",
    "LoadedModel",
    "ModelFamily",
    "SAGANFamily",
    "SamplingInputError",
    "SamplingInputs",
    "load",
    "sagan_model",
]

SHIPPED_MODEL = Path(str(files("models").joinpath("emoji_sagan.pt")))  # what `sagan-attn serve` serves by default


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

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def capture(
        self, seed: int, class_index: int | None = None, truncation: float | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One sample: its image (S, S, 3) uint8 and each layer's map (N, M) float32, both read-only."""
        classes = None if class_index is None else [class_index]
        return self.capture_batch([seed], classes, truncation)[0]

    def capture_batch(
        self,
        seeds: Sequence[int],
        classes: Sequence[int] | None = None,
        truncation: float | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """`capture` of several samples in one forward pass, one (image, maps) pair per seed, in order.

        `models.interrupt.Interrupted` if `stop()` turns true part-way."""
        names = [layer.name for layer in self.layers]
        with torch.inference_mode(), StopWhen(self.module, stop), AttentionCapture(self.module, names) as capture:
            images = self.generate(seeds, classes, truncation).cpu()  # (B, 3, S, S)
        maps = {name: batch.float().cpu().numpy() for name, batch in capture.maps.items()}  # (B, N, M) each
        captured = []
        for index in range(len(seeds)):
            image = to_uint8(images[index])
            # a view would keep the whole batch alive in the cache
            attention = {name: batch[index] if len(seeds) == 1 else batch[index].copy() for name, batch in maps.items()}
            for array in (image, *attention.values()):
                array.setflags(write=False)
            captured.append((image, attention))
        return captured


class ModelFamily(Protocol):
    name: str

    def recognises(self, path: Path) -> bool: ...

    def load(self, path: Path) -> LoadedModel: ...


def sagan_model(checkpoint: LoadedCheckpoint) -> LoadedModel:
    """A loaded SAGAN-64 checkpoint as a `LoadedModel`.

    SAGAN here is unconditional. A class-conditional SAGAN would add its class names to the
    checkpoint's training metadata and its generator would take them; `SamplingInputs` already
    carries them through the app, so only this function and the generator would change.
    """
    generator = checkpoint.generator.eval()
    config = checkpoint.config
    layers = tuple(
        AttentionLayer.of(layer, layer_gamma(generator, layer.name)) for layer in generator_attention_layers(config)
    )

    def generate(seeds: Sequence[int], classes: Sequence[int] | None, truncation: float | None) -> torch.Tensor:
        if classes is not None or truncation is not None:
            raise ValueError("a SAGAN-64 model is unconditional: it takes no class and no truncation")
        device = next(generator.parameters()).device
        return generator(sample_latents(list(seeds), config.z_dim).to(device))

    return LoadedModel(
        family=SAGANFamily.name,
        path=checkpoint.path,
        module=generator,
        image_size=config.image_size,
        inputs=SamplingInputs(config.z_dim),
        layers=layers,
        generate=generate,
        source_format=checkpoint.source_format,
        config=config.to_dict(),
        training=dict(checkpoint.training),
    )


class SAGANFamily:
    """A file: our `sagan-attn/1` checkpoint or the reference's `{step}_G.pth` (see models/checkpoint.py)."""

    name = "sagan-64"

    def recognises(self, path: Path) -> bool:
        return not path.is_dir()  # a missing path too, so that it gets the checkpoint loader's message

    def load(self, path: Path) -> LoadedModel:
        return sagan_model(load_checkpoint(path))


class BigGANDeepFamily:
    """A folder holding `config.json` and `pytorch_model.bin` of `pytorch-pretrained-biggan`."""

    name = "biggan-deep"
    default_truncation = 0.4

    def recognises(self, path: Path) -> bool:
        return path.is_dir() and os.path.lexists(path / biggan.CONFIG_NAME)  # a broken config gets its own message

    def load(self, path: Path) -> LoadedModel:
        model = biggan.load_biggan_folder(path)
        config = model.config
        names = imagenet_class_names() if config.num_classes == 1000 else tuple(map(str, range(config.num_classes)))
        layers = tuple(
            AttentionLayer.of(info, float(model.get_submodule(info.name).gamma.item()))
            for info in biggan.attention_layers(config)
        )

        def generate(seeds: Sequence[int], classes: Sequence[int] | None, truncation: float | None) -> torch.Tensor:
            if classes is None or truncation is None:
                raise ValueError("BigGAN-deep needs one class per seed and a truncation in (0, 1]")
            return biggan.generate(model, seeds, classes, truncation)

        inputs = SamplingInputs(config.z_dim, names, biggan.TRUNCATION_RANGE, self.default_truncation)
        return LoadedModel(
            family=self.name,
            path=path,
            module=model,
            image_size=config.output_dim,
            inputs=inputs,
            layers=layers,
            generate=generate,
            source_format="pytorch-pretrained-biggan",
            config=config.to_dict(),
            training={"data": "ImageNet" if config.num_classes == 1000 else None},
        )


FAMILIES: tuple[ModelFamily, ...] = (SAGANFamily(), BigGANDeepFamily())


def load(
    path: Path | str, device: torch.device | str = "cpu", families: Sequence[ModelFamily] = FAMILIES
) -> LoadedModel:
    """The model at `path`, loaded by the first family that recognises it, moved to `device`."""
    path = Path(path)
    for family in families:
        if family.recognises(path):
            model = family.load(path)
            model.module.to(device)
            return model
    known = ", ".join(family.name for family in families)
    raise CheckpointError(
        f"{path}: no model family recognises it (known: {known}); "
        f"a folder must hold {biggan.CONFIG_NAME} and {biggan.WEIGHTS_NAME}"
    )
