"""A publication figure of one view, drawn with matplotlib's Agg backend: pure arrays and strings in, bytes out.

Left: the sample with each pinned query marked in its own colour (a dot on the pixel, the cell's
box, and optionally the outline of its top-mass set). Right: one small map per pinned query,
framed in the same colour, all on one colour scale, with a colour bar of real values labelled with
the scale's name. Below: a caption naming model, layer, seed, direction and scale.

No pyplot: each call builds its own `Figure`, so calls from several threads do not share state.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

__all__ = [
    "FIGURE_PIXELS",
    "MAX_ASPECT",
    "MAX_PINS",
    "PIN_COLOURS",
    "FigureSpec",
    "PinnedMap",
    "caption",
    "figure_png",
    "figure_svg",
]

FIGURE_PIXELS = (200, 4096)  # bounds on a PNG's width and height, inclusive
MAX_ASPECT = 4.0  # the longer side may be at most 4× the shorter, or the caption crowds the maps
PIN_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip  # matplotlib's tab10, in order: pin k gets PIN_COLOURS[k]
MAX_PINS = len(PIN_COLOURS)
INCHES_ON_LONG_SIDE = 8.0  # fonts are sized in points, so every size has the same layout

Segment = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class PinnedMap:
    x: int  # the query pixel on the sample, origin top left
    y: int
    values: np.ndarray  # (G, G) on the scale's quantity: a row on the key grid or a column on the query grid
    cell: tuple[int, int, int, int] | None = None  # (x0, y0, x1, y1) pixels of the marked cell, ends exclusive
    outline: Sequence[Segment] = ()  # e.g. the top-mass set's boundary, in output pixels


@dataclass(frozen=True)
class FigureSpec:
    image: np.ndarray  # (S, S, 3) uint8
    pins: Sequence[PinnedMap]  # 1..MAX_PINS, coloured PIN_COLOURS in order
    low: float  # colour-bar range, in the scale's units
    high: float
    scale_label: str  # the colour bar's label, e.g. "attention / uniform (v·M)"
    model: str
    layer: str
    seed: int
    direction: str  # "row" (where the pixel looks) or "column" (what looks at it)
    scale: str
    colormap: str = "viridis"
    notes: Sequence[str] = field(default_factory=tuple)  # extra caption lines, e.g. the contrast formula

    def __post_init__(self) -> None:
        image = self.image
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1] or image.dtype != np.uint8:
            raise ValueError(f"image must be a square (S, S, 3) uint8 array, got {image.shape} {image.dtype}")
        if not 1 <= len(self.pins) <= MAX_PINS:
            raise ValueError(f"a figure shows 1..{MAX_PINS} pinned queries, got {len(self.pins)}")
        size = image.shape[0]
        for pin in self.pins:
            if not (0 <= pin.x < size and 0 <= pin.y < size):
                raise ValueError(f"pinned pixel ({pin.x}, {pin.y}) lies outside the {size}×{size} sample")
            if pin.values.ndim != 2 or pin.values.shape[0] != pin.values.shape[1] or np.isnan(pin.values).any():
                raise ValueError(f"a pinned map must be a square (G, G) array without NaN, got {pin.values.shape}")
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"the colour range must be finite with low < high, got [{self.low}, {self.high}]")
        if self.colormap not in matplotlib.colormaps:
            raise ValueError(f"unknown colormap {self.colormap!r}")


def caption(spec: FigureSpec) -> str:
    lines = [
        f"model {spec.model} · layer {spec.layer} · seed {spec.seed} · direction {spec.direction} · scale {spec.scale}",
        "pinned (x, y): " + ", ".join(f"({pin.x}, {pin.y})" for pin in spec.pins),
        *spec.notes,
    ]
    return "\n".join(lines)


def _inches(width: int, height: int) -> tuple[float, float, float]:
    """(figure width, height in inches, dpi) with dpi a power of two, so width and height come out exact."""
    dpi = 2.0 ** round(math.log2(max(width, height) / INCHES_ON_LONG_SIDE))
    return width / dpi, height / dpi, dpi


def _check_size(width: int, height: int) -> None:
    low, high = FIGURE_PIXELS
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} must be an integer in {low}..{high} pixels, got {value!r}")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ValueError(f"width and height may differ by a factor of {MAX_ASPECT:g} at most, got {width}×{height}")


def _build(spec: FigureSpec, width: int, height: int) -> Figure:
    width_in, height_in, dpi = _inches(width, height)
    figure = Figure(figsize=(width_in, height_in), dpi=dpi, facecolor="white")
    size = spec.image.shape[0]
    count = len(spec.pins)
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    text_lines = caption(spec).count("\n") + 1
    bottom = min(0.4, 0.05 + 0.035 * text_lines * INCHES_ON_LONG_SIDE / height_in)
    outer = figure.add_gridspec(
        1, 3, width_ratios=[1.0, 1.0, 0.05], left=0.03, right=0.9, top=0.95, bottom=bottom, wspace=0.12
    )
    cmap = matplotlib.colormaps[spec.colormap]
    norm = Normalize(spec.low, spec.high, clip=True)
    extent = (0, size, size, 0)

    sample = figure.add_subplot(outer[0])
    sample.imshow(spec.image, extent=extent, interpolation="nearest")
    sample.set_title("sample", fontsize=9)
    sample.set_axis_off()
    inner = outer[1].subgridspec(rows, columns, wspace=0.1, hspace=0.25)
    for index, (pin, colour) in enumerate(zip(spec.pins, PIN_COLOURS, strict=False)):
        centre = (pin.x + 0.5, pin.y + 0.5)
        if pin.cell is not None:
            x0, y0, x1, y1 = pin.cell
            sample.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=1.2))
        if pin.outline:
            sample.add_collection(LineCollection(list(pin.outline), colors=colour, linewidths=1.5))
        sample.plot(*centre, marker="o", markersize=6, markerfacecolor=colour, markeredgecolor="white")

        panel = figure.add_subplot(inner[index // columns, index % columns])
        values = np.clip(np.nan_to_num(pin.values, neginf=spec.low, posinf=spec.high), spec.low, spec.high)
        panel.imshow(values, extent=extent, cmap=cmap, norm=norm, interpolation="nearest")
        panel.plot(*centre, marker="o", markersize=4, markerfacecolor=colour, markeredgecolor="white")
        panel.set_title(f"({pin.x}, {pin.y})", fontsize=8, color=colour)
        panel.set_xticks([])
        panel.set_yticks([])
        for spine in panel.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(2.5)

    bar_axes = figure.add_subplot(outer[2])
    bar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=bar_axes)
    bar.set_label(spec.scale_label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    figure.text(0.5, 0.015, caption(spec), ha="center", va="bottom", fontsize=8, wrap=True)
    return figure


def figure_png(spec: FigureSpec, width: int, height: int) -> bytes:
    """The figure as PNG bytes of exactly width × height pixels (each in FIGURE_PIXELS)."""
    _check_size(width, height)
    figure = _build(spec, width, height)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())  # (height, width, 4)
    assert rgba.shape[:2] == (height, width), rgba.shape
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba[..., :3]), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def figure_svg(spec: FigureSpec, width: int = 1200, height: int = 600) -> bytes:
    """The figure as SVG bytes, laid out as the PNG of width × height; text stays text, and no date is written."""
    _check_size(width, height)
    figure = _build(spec, width, height)
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "sagan-attn"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
