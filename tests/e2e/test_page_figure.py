"""The saved figure draws what the page shows: each pin's map in the figure has the colours of its canvas
on the page, per pin where the page scales per pin and shared where the page shares (the shipped emoji
model, seed 12, whose pins' maxima differ widely)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from urllib.parse import parse_qs, urlparse

import httpx
import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.e2e

PINS = [(22, 27), (42, 27), (32, 44), (30, 8)]


@pytest.fixture(scope="module")
def emoji_url(start_server: Callable[..., AbstractContextManager[str]]) -> Iterator[str]:
    with start_server(None) as url:
        yield url


def figure_maps(url: str) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    response = httpx.get(url, timeout=60)
    response.raise_for_status()
    boxes = [tuple(int(v) for v in box.split(",")) for box in response.headers["X-Map-Boxes"].split(";")]
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB")), boxes


def cell_colours(figure: np.ndarray, box: tuple[int, int, int, int], grid: int) -> np.ndarray:
    """The colour at the centre of each cell of a map drawn in `box`: (grid, grid, 3)."""
    x0, y0, x1, y1 = box
    centres = (np.arange(grid) + 0.5) / grid
    xs = np.floor(x0 + centres * (x1 - x0)).astype(int)
    ys = np.floor(y0 + centres * (y1 - y0)).astype(int)
    return figure[np.ix_(ys, xs)]


@pytest.mark.parametrize("scale", ["relative", "log", "absolute"])
def test_the_saved_figure_has_the_colours_of_the_pages_canvases(
    page, emoji_url: str, canvas_pixels, scale: str
) -> None:
    pins = ";".join(f"{x},{y}" for x, y in PINS)
    page.goto(f"{emoji_url}/?seed=12&x=22&y=27&scale={scale}&pins={pins}")
    for x, y in PINS:
        page.wait_for_selector(f'#panels canvas[data-kind="pin"][data-x="{x}"][data-y="{y}"][data-painted]')
    page.fill("#save-width", "2400")
    with page.expect_download():
        page.click("#save-figure")
    page.wait_for_selector('#save-figure[data-result="saved"]')
    href = page.get_attribute("#save-figure", "data-href")
    assert parse_qs(urlparse(href).query)["scale"] == [scale]
    figure, boxes = figure_maps(f"{emoji_url}{href}")
    assert len(boxes) == len(PINS)
    for (x, y), box in zip(PINS, boxes, strict=True):
        shown = canvas_pixels(page, f'#panels canvas[data-kind="pin"][data-x="{x}"][data-y="{y}"]').astype(int)
        grid = shown.shape[0]
        drawn = cell_colours(figure, box, grid).astype(int)
        inner = np.s_[1:-1, 1:-1]  # the coloured frame covers the outermost cells' centres
        difference = np.abs(drawn[inner] - shown[inner]).max(axis=2)
        # matplotlib picks colour ⌊256·v⌋ where the page rounds 255·v; neighbours differ by a few levels.
        # The pin's dot covers a few cells.
        assert (difference <= 4).mean() > 0.97, f"pin ({x}, {y}) on {scale}: median {np.median(difference)}"
