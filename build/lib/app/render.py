"""Pure functions from attention tensors to pixels: map slicing, colouring, PNG.

Coordinates (pixel → cell on a layer's grid) are `models.geometry`'s.

Directions. "row" (where this pixel looks) is row i of softmax(QKᵀ): the query cell i spreads
weights summing to 1 over the key grid. "column" (what looks at this pixel) is column j: the
weight every query cell gives to key cell j, laid out on the query grid; it does not sum to 1.
Both are scaled by their maximum for display only.
"""

from __future__ import annotations

import io
from enum import Enum
from functools import lru_cache

import matplotlib
import numpy as np
from PIL import Image

from models.geometry import attention_slice

__all__ = [
    "Direction",
    "attention_slice",
    "blend",
    "colorize",
    "colormap_lut",
    "colormap_names",
    "encode_png",
    "render_heatmap",
    "scale_for_display",
]


class Direction(str, Enum):
    row = "row"  # where this pixel looks: its query row, over the key grid, sums to 1
    column = "column"  # what looks at this pixel: its key column, over the query grid


def scale_for_display(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] by the maximum; the raw values are untouched elsewhere."""
    peak = float(values.max())
    if peak <= 0.0:
        return np.zeros_like(values, dtype=np.float32)
    return (values / peak).astype(np.float32)


def colormap_names() -> list[str]:
    return sorted(matplotlib.colormaps)


@lru_cache(maxsize=64)
def colormap_lut(name: str) -> np.ndarray:
    """(256, 3) uint8 lookup table of a matplotlib colormap; raises KeyError for unknown names."""
    if name not in matplotlib.colormaps:
        raise KeyError(name)
    rgba = matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256))  # (256, 4) floats
    lut = np.round(rgba[:, :3] * 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def lut_indices(display_values: np.ndarray) -> np.ndarray:
    """[0, 1] → LUT index 0..255, rounding half up, the same rule the page's script uses."""
    return np.floor(np.clip(display_values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def colorize(display_values: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """(h, w) values in [0, 1] → (h, w, 3) uint8 through the LUT."""
    return lut[lut_indices(display_values)]


def upscale_nearest(rgb: np.ndarray, size: int) -> np.ndarray:
    """(h, w, 3) → (size, size, 3) by repeating pixels; size need not be a multiple of h."""
    height, width = rgb.shape[:2]
    rows = np.arange(size) * height // size
    cols = np.arange(size) * width // size
    return rgb[rows[:, None], cols[None, :]]


def blend(image: np.ndarray, heat: np.ndarray, opacity: float) -> np.ndarray:
    """Heat over image, both (S, S, 3) uint8: opacity·heat + (1 − opacity)·image."""
    mixed = opacity * heat.astype(np.float32) + (1.0 - opacity) * image.astype(np.float32)
    return np.round(mixed).astype(np.uint8)


def draw_marker(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Outline a box (x0, y0, x1, y1, exclusive ends) in white with a black rim, in place-free copy."""
    marked = rgb.copy()
    x0, y0, x1, y1 = box
    size = rgb.shape[0]
    for colour, grow in (((0, 0, 0), 1), ((255, 255, 255), 0)):
        left, top = max(x0 - grow, 0), max(y0 - grow, 0)
        right, bottom = min(x1 - 1 + grow, size - 1), min(y1 - 1 + grow, size - 1)
        marked[top, left : right + 1] = colour
        marked[bottom, left : right + 1] = colour
        marked[top : bottom + 1, left] = colour
        marked[top : bottom + 1, right] = colour
    return marked


def encode_png(rgb: np.ndarray) -> bytes:
    """(h, w, 3) uint8 → PNG bytes (fast compression: these images are tiny)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb), mode="RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def render_heatmap(
    values: np.ndarray,
    lut: np.ndarray,
    size: int,
    image: np.ndarray | None = None,
    opacity: float = 0.6,
    marker: tuple[int, int, int, int] | None = None,
    image_size: int = 64,
) -> np.ndarray:
    """A 2-D attention slice → (size, size, 3) uint8, optionally over the image, with a box on the clicked cell.

    `marker` is a box in output-image pixels (see `models.geometry.cell_bounds`), scaled here to `size`.
    """
    heat = upscale_nearest(colorize(scale_for_display(values), lut), size)
    if image is not None:
        heat = blend(upscale_nearest(image, size), heat, opacity)
    if marker is not None:
        x0, y0 = (edge * size // image_size for edge in marker[:2])
        x1, y1 = (-(-edge * size // image_size) for edge in marker[2:])
        heat = draw_marker(heat, (x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)))
    return heat
