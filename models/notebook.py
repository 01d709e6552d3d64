"""Attention maps in a notebook or script: load a model, make a sample, read any layer's map as numpy.

    from models.notebook import open_model

    model = open_model()                # the model `sagan-attn serve` serves by default; or a path
    sample = model.sample(7)            # BigGAN-deep: model.sample(7, "goldfish", truncation=0.5)
    looks = sample.row(20, 41)          # where output pixel (20, 41) looks, on the key grid
    looks.values                        # (key_grid, key_grid) float32, sums to 1
    looks.cell, looks.pixels_per_cell   # the query cell the pixel falls in; output pixels per cell
    sample.column(20, 41).values        # what looks at it, on the query grid
    sample.map("attn1")                 # the whole (N, M) float32 map of a layer (the mean over heads)
    sample.map("blocks.1", head=2)      # one head's map; rows and columns take head= too
    sample.z                            # the z the generator was fed; model.latents(7) gives it too

Coordinates are output-image pixels, origin top left; the geometry is `models.geometry`'s, the
same as the server's and the page's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.families.base import mean_over_heads
from models.geometry import AttentionLayer, attention_slice, pixel_to_cell, pixels_per_cell
from models.registry import SHIPPED_MODEL, LoadedModel, load
from models.user_generator import load_generator

__all__ = ["Cell", "Model", "Sample", "Slice", "default_model_path", "open_model"]


def default_model_path() -> Path:
    """The file `sagan-attn serve` serves without --checkpoint: $SAGAN_ATTN_CHECKPOINT, else the shipped model."""
    return Path(os.environ.get("SAGAN_ATTN_CHECKPOINT") or SHIPPED_MODEL)


@dataclass(frozen=True)
class Cell:
    """A cell of a grid×grid layer grid (row-major flat index)."""

    row: int
    col: int
    index: int  # row · grid + col
    grid: int


@dataclass(frozen=True)
class Slice:
    """One row ("where this pixel looks") or column ("what looks at this pixel") of a layer's map.

    A row lies on the key grid and sums to 1; its clicked cell is on the query grid. A column lies
    on the query grid and need not sum to 1; its clicked cell is on the key grid.
    """

    layer: AttentionLayer
    direction: str
    x: int
    y: int
    values: np.ndarray  # (side, side) float32 on the grid named by `side`
    cell: Cell  # the cell pixel (x, y) falls in
    image_size: int

    @property
    def side(self) -> int:
        return self.values.shape[0]

    @property
    def pixels_per_cell(self) -> int:
        """Output pixels per cell (per side) of the grid the values lie on."""
        return pixels_per_cell(self.image_size, self.side)


@dataclass(frozen=True)
class Sample:
    seed: int
    class_index: int | None
    truncation: float | None
    image: np.ndarray  # (S, S, 3) uint8
    maps: dict[str, np.ndarray]  # layer name → (N, M) float32, row i = query cell i; the mean over heads
    layers: dict[str, AttentionLayer]
    image_size: int
    z: np.ndarray  # (z_dim,) float32: the latent the generator was fed, as the family documents
    heads: dict[str, np.ndarray] = field(default_factory=dict)  # layer name → (H, N, M) float32

    def layer(self, name: str | None = None) -> AttentionLayer:
        """A layer by name; the last one (nearest the output) by default."""
        name = name or list(self.layers)[-1]
        if name not in self.layers:
            raise KeyError(f"unknown layer {name!r}; this model has {list(self.layers)}")
        return self.layers[name]

    def map(self, layer: str | None = None, head: int | str = "mean") -> np.ndarray:
        """The whole (N, M) float32 map: N query cells (row-major on the query grid) × M key cells.

        `head`: an index 0 … heads − 1, or "mean", the mean over heads (rows still sum to 1).
        """
        info = self.layer(layer)
        if head == "mean":
            return self.maps[info.name]
        if not isinstance(head, int) or not 0 <= head < info.heads:
            raise ValueError(f"{info.name} has {info.heads} head(s): give 0 … {info.heads - 1} or 'mean', got {head!r}")
        return self.heads[info.name][head] if info.name in self.heads else self.maps[info.name]

    def row(self, x: int, y: int, layer: str | None = None, head: int | str = "mean") -> Slice:
        return self._slice(x, y, layer, "row", head)

    def column(self, x: int, y: int, layer: str | None = None, head: int | str = "mean") -> Slice:
        return self._slice(x, y, layer, "column", head)

    def _slice(self, x: int, y: int, layer: str | None, direction: str, head: int | str) -> Slice:
        info = self.layer(layer)
        values, _ = attention_slice(
            self.map(info.name, head), x, y, direction, self.image_size, info.query_grid, info.key_grid
        )
        grid = info.query_grid if direction == "row" else info.key_grid
        cell = Cell(*pixel_to_cell(x, y, self.image_size, grid), grid)
        return Slice(info, direction, x, y, values, cell, self.image_size)


class Model:
    """A loaded generator of any registered family, sampled with its attention captured."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded

    @property
    def image_size(self) -> int:
        return self.loaded.image_size

    @property
    def layers(self) -> dict[str, AttentionLayer]:
        return {layer.name: layer for layer in self.loaded.layers}

    @property
    def classes(self) -> tuple[str, ...] | None:
        """Class names in index order, or None for an unconditional model."""
        return self.loaded.inputs.class_names

    def latents(self, seed: int, class_: str | int | None = None, truncation: float | None = None) -> np.ndarray:
        """The z (z_dim,) float32 the generator is fed for this sample (defaults as `sample`'s)."""
        if self.loaded.latents is None:
            raise NotImplementedError(f"the {self.loaded.family} family does not say how a seed becomes z")
        class_index, truncation = self.loaded.inputs.resolve(class_, truncation)
        z = self.loaded.latents(seed, class_index, truncation).detach().cpu().numpy()
        z.setflags(write=False)
        return z

    def sample(self, seed: int, class_: str | int | None = None, truncation: float | None = None) -> Sample:
        """The sample of `seed` (and class and truncation for a conditional model; defaults as the server's)."""
        class_index, truncation = self.loaded.inputs.resolve(class_, truncation)
        image, heads = self.loaded.capture_heads(seed, class_index, truncation)
        maps = mean_over_heads(heads)
        z = self.latents(seed, class_index, truncation)
        return Sample(seed, class_index, truncation, image, maps, self.layers, self.image_size, z, heads)


def open_model(
    path: Path | str | None = None,
    device: torch.device | str = "cpu",
    generator: str | None = None,
    generator_args: dict[str, Any] | None = None,
) -> Model:
    """A model file or BigGAN-deep folder (any registered family); by default the server's default model.

    `generator="package.module:factory"` imports and runs your own code instead (see
    `models.user_generator`), calling the factory with `generator_args`.
    """
    if generator is not None:
        if path is not None:
            raise ValueError("give a path or a generator, not both")
        return Model(load_generator(generator, generator_args, device))
    return Model(load(default_model_path() if path is None else path, device))
