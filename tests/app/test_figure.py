from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from app.figure import PIN_COLOURS, FigureSpec, PinnedMap, caption, figure_png, figure_svg
from models.geometry import cell_bounds, pixel_to_cell
from models.reading import Scale, mask_outline, scale_slice, top_mass_mask


def make_spec(pins: int = 3) -> FigureSpec:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 64, dtype=np.uint8)
    image = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], np.uint8(128)), axis=-1)  # (64, 64, 3)
    maps = []
    for index in range(pins):
        x, y = (8 + 20 * index) % 64, (40 + 13 * index) % 64
        row = rng.dirichlet(np.ones(256)).reshape(16, 16)  # a row on a 16×16 key grid
        scaled = scale_slice(row, Scale.uniform, key_count=256)
        row_, col, _ = pixel_to_cell(x, y, 64, 32)
        outline = mask_outline(top_mass_mask(row, 50), cell_size=64 / 16)
        maps.append(PinnedMap(x, y, scaled.quantity, cell_bounds(row_, col, 64, 32), outline))
    return FigureSpec(
        image=image,
        pins=maps,
        low=0.0,
        high=float(max(pin.values.max() for pin in maps)),
        scale_label="attention / uniform (v·M)",
        model="emoji_sagan",
        layer="attn2",
        seed=14,
        direction="row",
        scale="uniform",
    )


@pytest.mark.parametrize(("width", "height"), [(640, 320), (1201, 599), (200, 200), (333, 1000), (800, 200)])
def test_png_decodes_to_exactly_the_requested_size(width: int, height: int) -> None:
    data = figure_png(make_spec(), width, height)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == (width, height)
    pixels = np.asarray(image.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, "the figure must draw something"


def test_png_shows_each_pin_in_its_own_colour() -> None:
    pixels = np.asarray(Image.open(io.BytesIO(figure_png(make_spec(pins=3), 900, 450))).convert("RGB"))
    for colour in PIN_COLOURS[:3]:
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels.astype(int) - rgb).sum(-1) == 0).sum() > 20, colour
    absent = np.array([int(PIN_COLOURS[5][i : i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(pixels.astype(int) - absent).sum(-1) == 0).sum() == 0


def test_svg_parses_and_carries_the_caption() -> None:
    spec = make_spec()
    data = figure_svg(spec)
    root = ET.fromstring(data)
    assert root.tag.endswith("svg")
    text = "".join(root.itertext())
    for part in ("model emoji_sagan", "layer attn2", "seed 14", "direction row", "scale uniform", "(8, 40)"):
        assert part in text, part
    assert spec.scale_label in text
    assert caption(spec).splitlines()[0] in text
    assert data == figure_svg(spec), "the SVG must be a pure function of its inputs"


def test_bad_requests_are_refused_with_a_reason() -> None:
    spec = make_spec()
    with pytest.raises(ValueError, match="width"):
        figure_png(spec, 10_000, 400)
    with pytest.raises(ValueError, match="factor"):
        figure_png(spec, 1000, 200)
    with pytest.raises(ValueError, match="pinned"):
        FigureSpec(**{**spec.__dict__, "pins": []})
    with pytest.raises(ValueError, match="outside"):
        FigureSpec(**{**spec.__dict__, "pins": [PinnedMap(64, 0, np.zeros((4, 4)))]})
    with pytest.raises(ValueError, match="colour range"):
        FigureSpec(**{**spec.__dict__, "low": 1.0, "high": 1.0})


def test_the_page_gives_pin_k_the_figures_colour() -> None:
    import re
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "static" / "pins.js").read_text()
    page_colours = re.search(r"PIN_COLOURS = \[([^\]]*)\]", script).group(1)
    assert re.findall(r'"(#[0-9a-f]{6})"', page_colours) == list(PIN_COLOURS)


def per_pin(spec: FigureSpec) -> FigureSpec:
    """The spec with each map on its own range, ten pins and long caption lines: the most crowded figure."""
    from dataclasses import replace

    crowded = make_spec(pins=10)
    pins = [replace(pin, low=0.0, high=float(pin.values.max())) for pin in crowded.pins]
    formula = "C[j] = A[i,j] / abar[j] (1 where abar[j] = 0), i the query cell, j over the key grid; abar[j] = (1/N) sum"
    return replace(crowded, pins=pins, low=None, high=None, notes=(formula, "outlined: 50 % of each pin"), mass=50.0)


@pytest.mark.parametrize(
    ("width", "height"),
    [(200, 200), (800, 200), (200, 800), (1600, 800), (4096, 1024), (1024, 4096), (4096, 4096), (1200, 600)],
)
def test_nothing_reaches_the_edge_at_any_allowed_size(width: int, height: int) -> None:
    pixels = np.asarray(Image.open(io.BytesIO(figure_png(per_pin(make_spec()), width, height))).convert("RGB"))
    ring = np.concatenate([pixels[:2].reshape(-1, 3), pixels[-2:].reshape(-1, 3),
                           pixels[:, :2].reshape(-1, 3), pixels[:, -2:].reshape(-1, 3)])  # fmt: skip
    assert (ring == 255).all(), "a text or map is cut off at the figure's edge"


def test_each_pin_on_its_own_range_writes_its_range_and_says_so() -> None:
    spec = per_pin(make_spec())
    assert not spec.shared and make_spec().shared
    text = " ".join("".join(ET.fromstring(figure_svg(spec)).itertext()).split())
    for pin in spec.pins:
        assert f"({pin.x}, {pin.y})" in text and f"0 to {pin.high:.3g}" in text
    assert "each map on its own colour range" in caption(spec) and "top mass 50 %" in caption(spec)
    assert "one shared colour range" in caption(make_spec())
    assert "from its own low to its own high" in text
    with pytest.raises(ValueError, match="colour range"):
        FigureSpec(**{**spec.__dict__, "pins": [spec.pins[0], PinnedMap(1, 1, np.zeros((4, 4)))]})
