"""The overlay whose opacity follows the value (the default): a cell's alpha is its colour index, so
where the map is low the sample shows through untouched; the flat overlay covers every cell alike."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.e2e

SEED, X, Y = 12, 22, 27  # the shipped emoji model, class 0: a peaked map over a face


@pytest.fixture(scope="module")
def emoji_url(start_server: Callable[..., AbstractContextManager[str]]) -> Iterator[str]:
    with start_server(None) as url:
        yield url


def overlay_rgba(page) -> np.ndarray:
    data = page.evaluate("""() => {
        const canvas = document.querySelector('#overlay');
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        return { side: canvas.width, pixels: Array.from(pixels) };
    }""")
    return np.array(data["pixels"], dtype=np.uint8).reshape(data["side"], data["side"], 4)


def on_screen(page, pixels: list[tuple[int, int]]) -> np.ndarray:
    """The colours Chromium shows at the centres of sample pixels (x, y), overlay included."""
    box = page.locator("#image-stack").bounding_box()
    shot = np.asarray(Image.open(io.BytesIO(page.locator("#image-stack").screenshot())).convert("RGB"))
    scale = shot.shape[1] / box["width"]
    return np.array([shot[int((y + 0.5) * box["height"] / 64 * scale), int((x + 0.5) * box["width"] / 64 * scale)]
                     for x, y in pixels])  # fmt: skip


def test_opacity_follows_the_value_by_default_and_flat_covers_everything(page, emoji_url: str) -> None:
    values = np.asarray(
        httpx.get(f"{emoji_url}/api/models/emoji_sagan/samples/{SEED}/attention", params={"x": X, "y": Y}).json()["values"]
    )  # (16, 16) on the key grid, 4×4 pixels per cell
    lut = np.asarray(httpx.get(f"{emoji_url}/api/colormaps/viridis").json()["lut"], dtype=np.uint8)
    sample = np.asarray(Image.open(io.BytesIO(httpx.get(f"{emoji_url}/api/models/emoji_sagan/samples/{SEED}.png").content)))
    index = np.floor(values / values.max() * 255 + 0.5).astype(int)

    page.goto(f"{emoji_url}/?seed={SEED}&x={X}&y={Y}&opacity=1")
    page.wait_for_selector('#heatmap[data-painted][data-overlay="value"]')
    page.wait_for_selector(f'#sample[data-seed="{SEED}"]')
    assert page.locator("#overlay-mode").input_value() == "value"
    rgba = overlay_rgba(page)
    np.testing.assert_array_equal(rgba[..., 3], index, "alpha is the colour index")
    opaque = index >= 128  # canvas colours are stored premultiplied; read back exactly only where alpha is high
    assert np.abs(rgba[..., :3][opaque].astype(int) - lut[index[opaque]]).max() <= 2

    cells = [(r, c) for r in range(16) for c in range(16) if (r, c) != (Y // 4, X // 4)]  # not under the marker
    pixels = [(4 * c + 2, 4 * r + 2) for r, c in cells]
    alpha = np.array([index[r, c] / 255 for r, c in cells])[:, None]
    colour = np.array([lut[index[r, c]] for r, c in cells]).astype(float)
    under = np.array([sample[y, x] for x, y in pixels]).astype(float)
    seen = on_screen(page, pixels).astype(float)
    assert np.abs(seen - (alpha * colour + (1 - alpha) * under)).max() <= 4, "each cell covers the sample by its value"
    assert alpha.min() < 0.5 < alpha.max()

    page.select_option("#overlay-mode", "flat")
    page.wait_for_selector('#heatmap[data-overlay="flat"]')
    assert (overlay_rgba(page)[..., 3] == 255).all()
    assert np.abs(on_screen(page, pixels) - colour).max() <= 3, "at opacity 1 the flat overlay hides the sample"
    assert "overlay=flat" in page.url
