"""The page on a small random-weight StudioGAN CIFAR-10 run (32×32 images, 16×16 queries, 8×8 pooled keys)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.e2e

IMAGE_SIZE = 32
MODEL = "cifar-studiogan"


@pytest.fixture(scope="module")
def studiogan_url(start_server: Callable[..., AbstractContextManager[str]], studiogan_folder: Path) -> Iterator[str]:
    with start_server(studiogan_folder) as url:
        yield url


def test_pick_airplane_click_a_pixel_and_see_the_apis_row(
    page, studiogan_url: str, canvas_pixels, heatmap_png, click_pixel
) -> None:
    page.goto(f"{studiogan_url}/?seed=4&class=3")
    page.wait_for_selector('#heatmap[data-painted][data-cls="3"]')
    assert page.locator("#class").input_value() == "3: cat"
    assert page.locator("#class-names option").count() == 10
    assert not page.locator("#truncation").is_visible(), "a StudioGAN run has no truncation to set"
    page.locator("#follow").uncheck()

    page.locator("#class").fill("airplane")
    page.locator("#class").press("Enter")
    page.locator("#class").dispatch_event("change")
    page.wait_for_selector('#heatmap[data-cls="0"]')
    assert page.locator("#class").input_value() == "0: airplane"
    assert page.locator("#sample").get_attribute("src").endswith("/samples/4.png?class=0")

    click_pixel(page, 21, 6, IMAGE_SIZE)
    page.wait_for_selector('#heatmap[data-x="21"][data-y="6"][data-cls="0"]')
    shown = canvas_pixels(page, "#heatmap")
    assert shown.shape == (8, 8, 3), "a row lies on the pooled 8×8 key grid"
    expected = heatmap_png(studiogan_url, MODEL, 4, x=21, y=6, direction="row", **{"class": 0})
    np.testing.assert_array_equal(shown, expected)

    row = httpx.get(
        f"{studiogan_url}/api/models/{MODEL}/samples/4/attention", params={"x": 21, "y": 6, "class": 0}
    ).json()
    values = np.array(row["values"])
    assert values.shape == (8, 8) and values.sum() == pytest.approx(1, abs=1e-5)
    other = heatmap_png(studiogan_url, MODEL, 4, x=2, y=30, direction="row", **{"class": 0})
    assert np.abs(shown.astype(int) - other).max() > 8, "maps of distant points should differ"
