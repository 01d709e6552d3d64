"""Where attention layers sit and how output pixels map onto their grids, written once.

A layer on a G×G grid under an S×S image covers S/G pixels per cell. Output pixel (x, y), origin
top left, falls in cell
    row = y · G // S,  col = x · G // S,  flat index = row · G + col (row-major).
The query grid (the layer's feature map, N = G² cells) and the key grid (M cells; coarser when keys
are pooled) are separate: a row of an (N, M) map lies on the key grid, a column on the query grid.
`static/geometry.js` mirrors these functions for the page.

A map found by interception gives only its shape (H, N, M): its query grid side is √N and its key
grid side √M, each grid covering the whole image (`place_map`). A side that is not a whole number,
or a grid finer than the image, cannot be laid on it: `UnplaceableMap` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = [
    "AttentionLayer",
    "UnplaceableMap",
    "attention_slice",
    "cell_bounds",
    "cell_centres",
    "layer_gamma",
    "pixel_to_cell",
    "pixels_per_cell",
    "place_map",
    "with_gammas",
]


class _LayerPlacement(Protocol):
    name: str
    channels: int
    query_grid: int
    key_grid: int


@dataclass(frozen=True)
class AttentionLayer:
    """One attention layer: its name, width, query grid side, key grid side and γ."""

    name: str
    channels: int  # width of the layer; 0 when it was found from its map's shape alone
    query_grid: int  # side of the query grid; N = query_grid²
    key_grid: int  # side of the key grid; equals query_grid unless keys are pooled
    gamma: float = 0.0  # scale of the attention output; 0 at initialisation
    heads: int = 1  # its maps are (heads, N, M)
    kind: str = "softmax module"  # how it was found: "softmax module", "inline softmax" or "fused attention"

    @classmethod
    def of(cls, layer: _LayerPlacement, gamma: float = 0.0) -> AttentionLayer:
        """From any object with the same placement fields (e.g. a placement without γ)."""
        return cls(layer.name, layer.channels, layer.query_grid, layer.key_grid, gamma)

    def to_dict(self, image_size: int) -> dict[str, Any]:
        return {
            "name": self.name,
            "query_grid": self.query_grid,
            "key_grid": self.key_grid,
            "channels": self.channels,
            "gamma": None if math.isnan(self.gamma) else self.gamma,  # NaN: a layer with no γ
            "heads": self.heads,
            "kind": self.kind,
            "pixels_per_query_cell": pixels_per_cell(image_size, self.query_grid),
            "pixels_per_key_cell": pixels_per_cell(image_size, self.key_grid),
        }


class UnplaceableMap(ValueError):
    """A captured map whose shape cannot be laid on the image; the message says why."""


def _grid_side(count: int, side: str, image_size: int) -> int:
    grid = math.isqrt(count)
    if grid * grid != count:
        raise UnplaceableMap(f"its {count} {side} positions are not a square number, so they form no grid")
    if grid > image_size:
        raise UnplaceableMap(f"its {side} grid {grid}×{grid} is finer than the {image_size}×{image_size} image")
    return grid


def place_map(name: str, shape: tuple[int, ...], image_size: int, kind: str) -> AttentionLayer:
    """The layer of a captured (H, N, M) map: query grid √N, key grid √M, both over the whole image."""
    heads, queries, keys = shape
    return AttentionLayer(
        name,
        channels=0,
        query_grid=_grid_side(queries, "query", image_size),
        key_grid=_grid_side(keys, "key", image_size),
        heads=heads,
        kind=kind,
        gamma=math.nan,  # unknown until a γ is found on the module
    )


def layer_gamma(model: Any, name: str) -> float:
    """γ of the attention module `name` of `model` (any object whose submodule has a `gamma` tensor)."""
    return float(getattr(model, name).gamma.detach())


def with_gammas(model: Any, layers: list[_LayerPlacement]) -> list[AttentionLayer]:
    """The layers as `AttentionLayer`s carrying the model's current γ."""
    return [AttentionLayer.of(layer, layer_gamma(model, layer.name)) for layer in layers]


def pixels_per_cell(image_size: int, grid: int) -> int:
    return image_size // grid


def pixel_to_cell(x: int, y: int, image_size: int, grid: int) -> tuple[int, int, int]:
    """Output pixel (x, y) → (row, col, flat index) on a grid×grid layer."""
    if not (0 <= x < image_size and 0 <= y < image_size):
        raise ValueError(f"pixel ({x}, {y}) lies outside the {image_size}×{image_size} image")
    row = y * grid // image_size
    col = x * grid // image_size
    return row, col, row * grid + col


def cell_bounds(row: int, col: int, image_size: int, grid: int) -> tuple[int, int, int, int]:
    """Output pixels covered by a cell, as (x0, y0, x1, y1) with x1, y1 exclusive."""
    x0, x1 = -(-col * image_size // grid), -(-(col + 1) * image_size // grid)
    y0, y1 = -(-row * image_size // grid), -(-(row + 1) * image_size // grid)
    return x0, y0, x1, y1


def cell_centres(grid: int, image_size: int) -> np.ndarray:
    """(grid², 2) float64 centres (x, y) of a grid's cells in output pixels, flat index row·grid + col."""
    coords = (np.arange(grid, dtype=np.float64) + 0.5) * (image_size / grid)  # (grid,)
    rows, cols = np.meshgrid(coords, coords, indexing="ij")  # (grid, grid) each
    return np.stack([cols.ravel(), rows.ravel()], axis=1)  # (grid², 2)


def attention_slice(
    matrix: np.ndarray, x: int, y: int, direction: str, image_size: int, query_grid: int, key_grid: int
) -> tuple[np.ndarray, int]:
    """One query's row or one key's column of an (N, M) map, as a 2-D grid, and the flat index used.

    direction "row": pixel (x, y) names a query cell; its row lies on the key grid (key_grid²).
    direction "column": pixel (x, y) names a key cell; its column lies on the query grid (query_grid²).
    """
    if direction == "row":
        _, _, index = pixel_to_cell(x, y, image_size, query_grid)
        return matrix[index].reshape(key_grid, key_grid), index
    if direction != "column":
        raise ValueError(f"direction must be 'row' or 'column', got {direction!r}")
    _, _, index = pixel_to_cell(x, y, image_size, key_grid)
    return matrix[:, index].reshape(query_grid, query_grid), index
