"""A publication figure of one view, drawn with matplotlib's Agg backend: pure arrays and strings in, bytes out.

Left: the sample with each pinned query marked in its own colour (a dot on the pixel, the cell's
box, and optionally the outline of its top-mass set). Right: one small map per pinned query,
framed in the same colour, on the range the page uses: one shared range (a colour bar of real
values) or each map on its own (its range above it, the colour bar from low to high). Below: a
caption naming model, layer, seed, direction, scale, which range, and the top-mass share.
Constrained layout places everything; if a text would still be cut off, the fonts shrink.

No pyplot: each call builds its own `Figure`, so calls from several threads do not share state.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox
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
    "figure_png_and_boxes",
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
FONT_SCALES = (1.0, 0.8, 0.64, 0.5, 0.4)  # tried in order until no text is clipped

Segment = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class PinnedMap:
    x: int  # the query pixel on the sample, origin top left
    y: int
    values: np.ndarray  # (G, G) on the scale's quantity: a row on the key grid or a column on the query grid
    cell: tuple[int, int, int, int] | None = None  # (x0, y0, x1, y1) pixels of the marked cell, ends exclusive
    outline: Sequence[Segment] = ()  # e.g. the top-mass set's boundary, in output pixels
    low: float | None = None  # this map's own colour range; None: the figure's shared range
    high: float | None = None


@dataclass(frozen=True)
class FigureSpec:
    image: np.ndarray  # (S, S, 3) uint8
    pins: Sequence[PinnedMap]  # 1..MAX_PINS, coloured PIN_COLOURS in order
    low: float | None  # the shared colour range, in the scale's units; None when every pin has its own
    high: float | None
    scale_label: str  # the colour bar's label, e.g. "attention / uniform (v·M)"
    model: str
    layer: str
    seed: int
    direction: str  # "row" (where the pixel looks) or "column" (what looks at it)
    scale: str
    colormap: str = "viridis"
    notes: Sequence[str] = field(default_factory=tuple)  # extra caption lines, e.g. the contrast formula
    mass: float = 0.0  # the top-mass share outlined on the sample, percent; 0 = none

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
            low, high = self.range_of(pin)
            if low is None or high is None or not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(f"the colour range must be finite with low < high, got [{low}, {high}]")
        if self.colormap not in matplotlib.colormaps:
            raise ValueError(f"unknown colormap {self.colormap!r}")

    @property
    def shared(self) -> bool:
        """Whether every map is drawn on the one shared range (else each on its own)."""
        return all(pin.low is None for pin in self.pins)

    def range_of(self, pin: PinnedMap) -> tuple[float | None, float | None]:
        return (self.low, self.high) if pin.low is None else (pin.low, pin.high)


def _number(value: float) -> str:
    """3 significant digits, as the page writes them."""
    return f"{value:.2e}" if value != 0 and abs(value) < 0.01 else f"{value:.3g}"


def caption(spec: FigureSpec) -> str:
    ranges = "one shared colour range" if spec.shared else "each map on its own colour range"
    mass = f" · top mass {spec.mass:g} %" if spec.mass > 0 else ""
    lines = [
        f"model {spec.model} · layer {spec.layer} · seed {spec.seed} · direction {spec.direction} · scale {spec.scale}"
        f" ({ranges}){mass}",
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


def _wrapped(text: str, width_in: float, points: float) -> str:
    """Each line wrapped to the figure's width, at a generous 0.6 em per character."""
    columns = max(20, int(width_in * 72 / (0.6 * points)))
    return "\n".join(textwrap.fill(line, columns) for line in text.splitlines())


def _draw(spec: FigureSpec, width: int, height: int, font: float) -> tuple[Figure, list[Axes]]:
    """The figure at font scale `font` (1 = the sizes in points below), laid out by matplotlib's constrained
    layout; returns it drawn, with the axes of the pins' maps in order."""
    width_in, height_in, dpi = _inches(width, height)
    figure = Figure(figsize=(width_in, height_in), dpi=dpi, facecolor="white", layout="constrained")
    figure.get_layout_engine().set(w_pad=4 / 72, h_pad=4 / 72, wspace=0.04, hspace=0.04)
    size = spec.image.shape[0]
    count = len(spec.pins)
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    cmap = matplotlib.colormaps[spec.colormap]
    extent = (0, size, size, 0)
    if width >= height:
        outer = figure.add_gridspec(1, 2, width_ratios=[1.0, 1.6])
    else:  # portrait: the sample above the maps
        outer = figure.add_gridspec(2, 1, height_ratios=[1.0, 1.6])

    sample = figure.add_subplot(outer[0])
    sample.imshow(spec.image, extent=extent, interpolation="nearest")
    sample.set_title("sample", fontsize=9 * font)
    sample.set_axis_off()
    inner = outer[1].subgridspec(rows, columns)
    panels = []
    for index, (pin, colour) in enumerate(zip(spec.pins, PIN_COLOURS, strict=False)):
        centre = (pin.x + 0.5, pin.y + 0.5)
        if pin.cell is not None:
            x0, y0, x1, y1 = pin.cell
            sample.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=1.2))
        if pin.outline:
            sample.add_collection(LineCollection(list(pin.outline), colors=colour, linewidths=1.5))
        sample.plot(*centre, marker="o", markersize=6, markerfacecolor=colour, markeredgecolor="white")

        panel = figure.add_subplot(inner[index // columns, index % columns])
        low, high = spec.range_of(pin)
        values = np.clip(np.nan_to_num(pin.values, neginf=low, posinf=high), low, high)
        panel.imshow(values, extent=extent, cmap=cmap, norm=Normalize(low, high, clip=True), interpolation="nearest")
        panel.plot(*centre, marker="o", markersize=4, markerfacecolor=colour, markeredgecolor="white")
        title = f"({pin.x}, {pin.y})" if spec.shared else f"({pin.x}, {pin.y})\n{_number(low)} to {_number(high)}"
        panel.set_title(title, fontsize=(8 if spec.shared else 7) * font, color=colour, pad=3 * font)
        panel.set_xticks([])
        panel.set_yticks([])
        for spine in panel.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(2.5)
        panels.append(panel)

    if spec.shared:
        bar = figure.colorbar(ScalarMappable(norm=Normalize(spec.low, spec.high), cmap=cmap), ax=panels, fraction=0.05)
        bar.set_label(_wrapped(spec.scale_label, height_in * 0.8, 8 * font), fontsize=8 * font)
    else:
        bar = figure.colorbar(ScalarMappable(norm=Normalize(0.0, 1.0), cmap=cmap), ax=panels, fraction=0.05)
        bar.set_ticks([0.0, 1.0], labels=["low", "high"])
        label = f"{spec.scale_label}: each map from its own low to its own high (above it)"
        bar.set_label(_wrapped(label, height_in * 0.8, 8 * font), fontsize=8 * font)
    bar.ax.tick_params(labelsize=7 * font)
    figure.supxlabel(_wrapped(caption(spec), width_in, 8 * font), fontsize=8 * font)
    figure.canvas = FigureCanvasAgg(figure)
    figure.canvas.draw()
    return figure, panels


def _fits(figure: Figure) -> bool:
    """Whether everything drawn lies inside the figure (a pixel's slack), and no text or axes overlaps another."""
    renderer = figure.canvas.get_renderer()
    drawn = figure.get_tightbbox(renderer)  # inches
    slack = 1 / figure.dpi
    width, height = figure.get_size_inches()
    if drawn.x0 < -slack or drawn.y0 < -slack or drawn.x1 > width + slack or drawn.y1 > height + slack:
        return False
    boxes = [axes.get_window_extent(renderer) for axes in figure.axes]
    for axes in figure.axes:
        texts = [axes.title, axes.xaxis.label, axes.yaxis.label]
        if axes.axison:
            texts += axes.get_xticklabels() + axes.get_yticklabels()
        boxes += [text.get_window_extent(renderer) for text in texts if text.get_visible() and text.get_text()]
    boxes += [text.get_window_extent(renderer) for text in figure.texts if text.get_text()]  # the caption
    shrunk = [Bbox.from_extents(b.x0 + 0.5, b.y0 + 0.5, b.x1 - 0.5, b.y1 - 0.5) for b in boxes]
    return not any(first.overlaps(second) for i, first in enumerate(shrunk) for second in shrunk[i + 1 :])


def _build(spec: FigureSpec, width: int, height: int) -> tuple[Figure, list[Axes]]:
    """The figure with the largest font scale at which nothing is clipped."""
    for font in FONT_SCALES:
        figure, panels = _draw(spec, width, height, font)
        if _fits(figure):
            break
    return figure, panels


def map_boxes(figure: Figure, panels: Sequence[Axes]) -> list[tuple[int, int, int, int]]:
    """Each pin's map in the drawn figure as (x0, y0, x1, y1) pixels, origin top left, ends exclusive."""
    height = figure.canvas.get_width_height()[1]
    boxes = []
    for panel in panels:
        box = panel.get_window_extent(figure.canvas.get_renderer())
        boxes.append((round(box.x0), round(height - box.y1), round(box.x1), round(height - box.y0)))
    return boxes


def figure_png_and_boxes(spec: FigureSpec, width: int, height: int) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """The figure as PNG bytes of exactly width × height pixels (each in FIGURE_PIXELS), and where each map lies."""
    _check_size(width, height)
    figure, panels = _build(spec, width, height)
    rgba = np.asarray(figure.canvas.buffer_rgba())  # (height, width, 4)
    assert rgba.shape[:2] == (height, width), rgba.shape
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba[..., :3]), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue(), map_boxes(figure, panels)


def figure_png(spec: FigureSpec, width: int, height: int) -> bytes:
    """The figure as PNG bytes of exactly width × height pixels (each in FIGURE_PIXELS)."""
    return figure_png_and_boxes(spec, width, height)[0]


def figure_svg(spec: FigureSpec, width: int = 1200, height: int = 600) -> bytes:
    """The figure as SVG bytes, laid out as the PNG of width × height; text stays text, and no date is written."""
    _check_size(width, height)
    figure, _ = _build(spec, width, height)
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "sagan-attn"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
