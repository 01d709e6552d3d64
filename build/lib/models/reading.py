"""Reading one slice of an attention map A (N query cells × M key cells, rows summing to 1).

A row A[i, :] lies on the key grid and sums to 1: where query cell i looks. A column A[:, j] lies
on the query grid and does not sum to 1: what looks at key cell j. Every function here takes a
slice already laid out on its grid, (G, G), and says which grid it expects; `models.geometry`
turns pixels into cells.

Scales (`scale_slice`), each giving a quantity q per cell, its colour-bar range [low, high] and
display values d = clip((q − low) / (high − low), 0, 1):
- relative: q = v, range [0, max v] (this slice's own maximum);
- absolute: q = v, range [0, v_shared] with v_shared given by the caller (e.g. the max over all
  queries of the sample), so colours compare across queries;
- uniform: q = v · M, the ratio to uniform attention (1/M per key cell; also the mean of a column
  entry, since every row spreads 1 over M keys), range [0, max q]; 1 is "as much as uniform";
- log: q = log₁₀(v · M), range [max q − 4, max q]; 0 is uniform, +1 ten times uniform, −1 a tenth.
  v = 0 gives −∞, shown at the bottom of the range.

Top-mass set (DINO's threshold): the smallest set of cells holding p % of the slice's mass; sort
descending, keep the cells whose cumulative sum before them is below p % of the total (the cells
with cumsum ≤ p %, plus the one that crosses it).

Contrast against the sample's average row ā (āⱼ = (1/N) Σᵢ Aᵢⱼ, on the key grid):
- ratio: Cᵢⱼ = Aᵢⱼ / āⱼ (1 where āⱼ = 0); a row of C is the row divided by the average row, 1 = as
  much as the average query;
- difference: Cᵢⱼ = Aᵢⱼ − āⱼ; 0 = as much as the average query.
Column j of C is column j divided by (or minus) its own mean over queries, āⱼ: which queries look at
key j more than the average query does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from models.geometry import cell_bounds

__all__ = [
    "LOG_DECADES",
    "Contrast",
    "Scale",
    "ScaledSlice",
    "TopCell",
    "average_row",
    "column_contrast",
    "contrast",
    "mask_outline",
    "row_contrast",
    "scale_slice",
    "top_cells",
    "top_mass_mask",
]

LOG_DECADES = 4.0  # the log scale shows the top 4 decades of the ratio to uniform


class Scale(str, Enum):
    relative = "relative"  # v, from 0 to this slice's maximum
    absolute = "absolute"  # v, from 0 to a maximum shared across queries
    uniform = "uniform"  # v · M: ratio to uniform attention
    log = "log"  # log₁₀(v · M)


SCALE_LABELS = {
    Scale.relative: "attention weight (0 to this map's maximum)",
    Scale.absolute: "attention weight (shared range)",
    Scale.uniform: "attention / uniform (v·M)",
    Scale.log: "log10(attention / uniform)",
}


@dataclass(frozen=True)
class ScaledSlice:
    scale: Scale
    quantity: np.ndarray  # (G, G) float64: the value on the scale, e.g. v·M for `uniform`
    display: np.ndarray  # (G, G) float32 in [0, 1]: position in [low, high], for a colour map
    low: float  # colour-bar bottom, in the quantity's units
    high: float  # colour-bar top
    label: str  # the scale's name for a colour bar


def _display(quantity: np.ndarray, low: float, high: float) -> np.ndarray:
    if not high > low:
        return np.zeros(quantity.shape, dtype=np.float32)
    return np.clip((quantity - low) / (high - low), 0.0, 1.0).astype(np.float32)


def scale_slice(
    values: np.ndarray, scale: Scale, *, key_count: int | None = None, shared_max: float | None = None
) -> ScaledSlice:
    """A row (on the key grid) or a column (on the query grid) on one scale; formulas in the module doc.

    `key_count` is M, the number of key cells (for rows and for columns alike), needed by `uniform`
    and `log`; `shared_max` is needed by `absolute`.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("attention values must be a non-empty array of finite, non-negative numbers")
    scale = Scale(scale)
    if scale is Scale.relative:
        quantity, low, high = values, 0.0, float(values.max())
    elif scale is Scale.absolute:
        if shared_max is None or not math.isfinite(shared_max) or shared_max <= 0:
            raise ValueError(f"the absolute scale needs a positive shared maximum, got {shared_max!r}")
        quantity, low, high = values, 0.0, float(shared_max)
    else:
        if key_count is None or key_count < 1:
            raise ValueError(f"the {scale.value} scale needs the number of key cells M ≥ 1, got {key_count!r}")
        ratio = values * key_count
        if scale is Scale.uniform:
            quantity, low, high = ratio, 0.0, float(ratio.max())
        else:
            with np.errstate(divide="ignore"):
                quantity = np.log10(ratio)
            high = float(quantity.max()) if np.isfinite(quantity.max()) else 0.0
            low = high - LOG_DECADES
    return ScaledSlice(scale, quantity, _display(quantity, low, high), low, high, SCALE_LABELS[scale])


def top_mass_mask(values: np.ndarray, percent: float) -> np.ndarray:
    """The smallest set of cells holding `percent` % (0 < p ≤ 100) of the slice's mass, as a bool mask of its shape.

    Ties are broken by flat index (the earlier cell first), so the set is deterministic.
    """
    values = np.asarray(values, dtype=np.float64)
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent!r}")
    if values.size == 0 or not np.isfinite(values).all() or (values < 0).any() or values.sum() <= 0:
        raise ValueError("the slice must hold finite, non-negative values with a positive sum")
    flat = values.ravel()
    order = np.argsort(-flat, kind="stable")  # descending, ties by index
    cumulative = np.cumsum(flat[order])
    before = np.concatenate(([0.0], cumulative[:-1]))  # mass of the cells ranked above each cell
    keep = before < percent / 100 * cumulative[-1]
    keep[0] = True
    mask = np.zeros(flat.size, dtype=bool)
    mask[order[keep]] = True
    return mask.reshape(values.shape)


def mask_outline(mask: np.ndarray, cell_size: float = 1.0) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The boundary of a (G, G) mask as line segments ((x0, y0), (x1, y1)), x to the right and y down.

    Coordinates are cell edges times `cell_size` (pass S / G for output pixels), so each segment
    separates a cell in the mask from one outside it or from the grid's border.
    """
    inside = np.pad(np.asarray(mask, dtype=bool), 1)  # (G+2, G+2), False around
    segments = []
    rows, cols = np.nonzero(inside[1:-1, 1:-1])
    for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
        r, c = row + 1, col + 1
        x0, y0, x1, y1 = (edge * cell_size for edge in (col, row, col + 1, row + 1))
        if not inside[r - 1, c]:
            segments.append(((x0, y0), (x1, y0)))
        if not inside[r + 1, c]:
            segments.append(((x0, y1), (x1, y1)))
        if not inside[r, c - 1]:
            segments.append(((x0, y0), (x0, y1)))
        if not inside[r, c + 1]:
            segments.append(((x1, y0), (x1, y1)))
    return segments


@dataclass(frozen=True)
class TopCell:
    rank: int  # 1 for the largest value
    index: int  # flat index on the slice's grid, row · G + col
    row: int
    col: int
    value: float
    pixels: tuple[int, int, int, int]  # (x0, y0, x1, y1), x1 and y1 exclusive, in output pixels


def top_cells(values: np.ndarray, k: int, image_size: int) -> list[TopCell]:
    """The k largest cells of a (G, G) slice (a row on the key grid, a column on the query grid), largest first.

    Ties are ordered by flat index. Pixels come from `models.geometry.cell_bounds` on that grid.
    """
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(f"expected a square (G, G) slice, got shape {values.shape}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    grid = values.shape[0]
    order = np.argsort(-values.ravel(), kind="stable")[:k]
    cells = []
    for rank, index in enumerate(order.tolist(), start=1):
        row, col = divmod(index, grid)
        bounds = cell_bounds(row, col, image_size, grid)
        cells.append(TopCell(rank, index, row, col, float(values[row, col]), bounds))
    return cells


class Contrast(str, Enum):
    ratio = "ratio"  # A / ā
    difference = "difference"  # A − ā


def average_row(matrix: np.ndarray) -> np.ndarray:
    """ā = the mean of the N rows of an (N, M) map: (M,), on the key grid; it sums to 1."""
    return np.asarray(matrix, dtype=np.float64).mean(axis=0)


def contrast(values: np.ndarray, average: np.ndarray, mode: Contrast) -> np.ndarray:
    """values / average (1 where average = 0) or values − average, element by element, in float64."""
    values = np.asarray(values, dtype=np.float64)
    average = np.broadcast_to(np.asarray(average, dtype=np.float64), values.shape)
    if Contrast(mode) is Contrast.difference:
        return values - average
    safe = np.where(average > 0, average, 1.0)
    return np.where(average > 0, values / safe, 1.0)


def row_contrast(matrix: np.ndarray, query_index: int, mode: Contrast) -> np.ndarray:
    """Row i against the average row: Aᵢ. / ā or Aᵢ. − ā, (M,) on the key grid."""
    return contrast(np.asarray(matrix)[query_index], average_row(matrix), mode)


def column_contrast(matrix: np.ndarray, key_index: int, mode: Contrast) -> np.ndarray:
    """Column j against its mean over queries āⱼ: A.ⱼ / āⱼ or A.ⱼ − āⱼ, (N,) on the query grid."""
    return contrast(np.asarray(matrix)[:, key_index], average_row(matrix)[key_index], mode)
