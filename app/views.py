"""What a view of one sample shows, as arrays: a contrast slice with its formula, and the figure of pinned queries.

Pure functions over an (N, M) attention map; pixels become cells through `models.geometry`,
scales and contrasts are `models.reading`'s, and `app.figure` draws the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from app.figure import FigureSpec, PinnedMap, Segment
from models.geometry import attention_slice, cell_bounds, pixel_to_cell
from models.reading import (
    Contrast,
    Scale,
    column_contrast,
    mask_outline,
    row_contrast,
    scale_slice,
    top_mass_mask,
)

__all__ = ["CONTRAST_FORMULAS", "CONTRAST_LABELS", "FigureContrast", "FigureView", "contrast_slice", "figure_spec"]

_AVERAGE = "abar[j] = (1/N) sum_i A[i,j], the sample's average row (mean over its N query rows)"
CONTRAST_FORMULAS = {  # ASCII, so that it fits an HTTP header: (direction, mode) → formula
    ("row", Contrast.ratio): "C[j] = A[i,j] / abar[j] (1 where abar[j] = 0), i the query cell, j over the key grid; "
    + _AVERAGE,
    ("row", Contrast.difference): "C[j] = A[i,j] - abar[j], i the query cell, j over the key grid; " + _AVERAGE,
    ("column", Contrast.ratio): "C[i] = A[i,j] / abar[j] (1 where abar[j] = 0), j the key cell, i over the query "
    "grid; " + _AVERAGE,
    ("column", Contrast.difference): "C[i] = A[i,j] - abar[j], j the key cell, i over the query grid; " + _AVERAGE,
}
CONTRAST_LABELS = {
    Contrast.ratio: "ratio to the average row (A / abar)",
    Contrast.difference: "difference from the average row (A - abar)",
}


class FigureContrast(str, Enum):
    none = "none"  # the attention values on the chosen scale
    ratio = "ratio"
    difference = "difference"


def contrast_slice(
    matrix: np.ndarray,
    x: int,
    y: int,
    direction: str,
    mode: Contrast,
    image_size: int,
    query_grid: int,
    key_grid: int,
) -> tuple[np.ndarray, int]:
    """Pixel (x, y)'s row (on the key grid) or column (on the query grid) against the average row, and its index.

    Returns the (G, G) float32 contrast and the flat index of the clicked cell: the query cell for a
    row, the key cell for a column.
    """
    if direction == "row":
        _, _, index = pixel_to_cell(x, y, image_size, query_grid)
        return row_contrast(matrix, index, mode).astype(np.float32).reshape(key_grid, key_grid), index
    _, _, index = pixel_to_cell(x, y, image_size, key_grid)
    return column_contrast(matrix, index, mode).astype(np.float32).reshape(query_grid, query_grid), index


@dataclass(frozen=True)
class FigureView:
    """Everything a figure names besides the sample's arrays."""

    model: str
    layer: str
    seed: int
    query_grid: int
    key_grid: int
    direction: str  # "row" or "column"
    scale: Scale
    contrast: FigureContrast
    colormap: str
    notes: tuple[str, ...] = ()  # extra caption lines, e.g. the class of a conditional sample
    mass: float = 0.0  # percent: outline each pin's top-mass set on the sample; 0 = none
    head: str = "mean"  # an index, or the mean over heads
    class_index: int | None = None  # a conditional sample's class
    truncation: float | None = None


def _pinned_values(matrix: np.ndarray, pin: tuple[int, int], view: FigureView, image_size: int) -> np.ndarray:
    x, y = pin
    if view.contrast is FigureContrast.none:
        values, _ = attention_slice(matrix, x, y, view.direction, image_size, view.query_grid, view.key_grid)
        return values
    mode = Contrast(view.contrast.value)
    values, _ = contrast_slice(matrix, x, y, view.direction, mode, image_size, view.query_grid, view.key_grid)
    return values


def _top_mass_outline(matrix: np.ndarray, pin: tuple[int, int], view: FigureView, image_size: int) -> list[Segment]:
    """The boundary of the smallest set of cells holding `view.mass` % of the pin's attention, in output pixels."""
    x, y = pin
    values, _ = attention_slice(matrix, x, y, view.direction, image_size, view.query_grid, view.key_grid)
    if not values.sum() > 0:  # a column nobody looks at has no mass to outline
        return []
    return mask_outline(top_mass_mask(values, view.mass), cell_size=image_size / values.shape[0])


def _range(low: float, high: float) -> tuple[float, float]:
    """A usable colour range even when every value is equal (e.g. a column nobody looks at)."""
    return (low, high) if high > low else (low, low + 1.0)


def figure_spec(image: np.ndarray, matrix: np.ndarray, pins: Sequence[tuple[int, int]], view: FigureView) -> FigureSpec:
    """The figure of `pins` on one sample: each pin's map on the view's scale (or contrast), on the range the page uses.

    Scales are `models.reading.scale_slice`'s with M = key cells and, for `absolute`, the largest
    value of the whole map as the shared maximum: `absolute` draws every pin on that one shared
    range, every other scale draws each pin on its own [low, high], as the page does (`log`: its own
    top decades). A contrast replaces the scale: ratio on [0, max], difference on
    [−max |C|, max |C|], each pin on its own, with its formula in the caption.
    """
    image_size = image.shape[0]
    marker_grid = view.query_grid if view.direction == "row" else view.key_grid
    raw = [_pinned_values(matrix, pin, view, image_size) for pin in pins]
    notes = list(view.notes)
    if view.contrast is FigureContrast.none:
        scaled = [
            scale_slice(values, view.scale, key_count=view.key_grid**2, shared_max=float(matrix.max()))
            for values in raw
        ]
        maps = [item.quantity for item in scaled]
        ranges = [_range(item.low, item.high) for item in scaled]
        label, scale_name = scaled[0].label, view.scale.value
    else:
        mode = Contrast(view.contrast.value)
        maps = [values.astype(np.float64) for values in raw]
        peaks = [float(np.abs(values).max()) for values in maps]
        ranges = [_range(0.0, peak) if mode is Contrast.ratio else _range(-peak, peak) for peak in peaks]
        label, scale_name = CONTRAST_LABELS[mode], f"contrast {mode.value}"
        notes.append(CONTRAST_FORMULAS[view.direction, mode])
    shared = view.contrast is FigureContrast.none and view.scale is Scale.absolute
    if view.mass > 0:
        notes.append(
            f"outlined on the sample: the smallest set of cells holding {view.mass:g} % of each pin's attention"
        )
    pinned = []
    for (x, y), values, (low, high) in zip(pins, maps, ranges, strict=True):
        row, col, _ = pixel_to_cell(x, y, image_size, marker_grid)
        outline = _top_mass_outline(matrix, (x, y), view, image_size) if view.mass > 0 else []
        own = {} if shared else {"low": low, "high": high}
        pinned.append(PinnedMap(x, y, values, cell_bounds(row, col, image_size, marker_grid), outline, **own))
    low, high = ranges[0] if shared else (None, None)
    return FigureSpec(
        image=image,
        pins=pinned,
        low=low,
        high=high,
        scale_label=label,
        model=view.model,
        layer=view.layer,
        seed=view.seed,
        direction=view.direction,
        scale=scale_name,
        colormap=view.colormap,
        notes=tuple(notes),
        mass=view.mass,
    )
