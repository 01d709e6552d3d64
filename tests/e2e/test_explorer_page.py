from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

pytestmark = pytest.mark.e2e


def wait_for_map(page, x: int, y: int, layer: str, direction: str) -> None:
    page.wait_for_selector(
        f'#heatmap[data-x="{x}"][data-y="{y}"][data-layer="{layer}"][data-direction="{direction}"]', timeout=15000
    )


def test_clicking_a_pixel_shows_the_map_the_api_returns(
    page, server_url: str, same_map, canvas_pixels, heatmap_png, click_pixel
) -> None:
    page.goto(f"{server_url}/?model=tiny&seed=5")
    page.wait_for_selector("#heatmap[data-painted]")
    page.locator("#follow").uncheck()

    click_pixel(page, 20, 41)
    wait_for_map(page, 20, 41, "attn2", "row")
    shown = canvas_pixels(page, "#heatmap")
    same_map(shown, heatmap_png(server_url, "tiny", 5, x=20, y=41, layer="attn2", direction="row"))
    other_point = heatmap_png(server_url, "tiny", 5, x=60, y=2, layer="attn2", direction="row")
    assert np.abs(shown.astype(int) - other_point.astype(int)).max() > 8, "maps of distant points should differ"
    assert canvas_pixels(page, "#overlay").shape == shown.shape

    query = parse_qs(urlparse(page.url).query)
    assert query["seed"] == ["5"] and query["x"] == ["20"] and query["y"] == ["41"] and query["layer"] == ["attn2"]


def test_either_layer_and_either_direction(
    page, server_url: str, same_map, canvas_pixels, heatmap_png, click_pixel
) -> None:
    page.goto(f"{server_url}/?seed=8")
    page.wait_for_selector("#heatmap[data-painted]")
    page.locator("#follow").uncheck()
    page.select_option("#layer", "attn1")
    page.check('input[name="direction"][value="column"]')
    click_pixel(page, 3, 60)
    wait_for_map(page, 3, 60, "attn1", "column")
    same_map(
        canvas_pixels(page, "#heatmap"),
        heatmap_png(server_url, "tiny", 8, x=3, y=60, layer="attn1", direction="column"),
    )
    assert "what looks at pixel (3, 60)" in page.locator("#map-caption").inner_text().lower()


def test_a_copied_link_reproduces_the_view_and_arrows_move_the_point(
    page, server_url: str, same_map, canvas_pixels, heatmap_png
) -> None:
    page.goto(f"{server_url}/?seed=3&layer=attn1&x=10&y=12&direction=column&colormap=magma&opacity=0.3")
    wait_for_map(page, 10, 12, "attn1", "column")
    assert page.locator("#seed").input_value() == "3"
    assert page.locator("#colormap").input_value() == "magma"
    same_map(
        canvas_pixels(page, "#heatmap"),
        heatmap_png(server_url, "tiny", 3, x=10, y=12, layer="attn1", direction="column", colormap="magma"),
    )
    page.locator("#image-stack").press("ArrowRight")
    wait_for_map(page, 11, 12, "attn1", "column")
    page.locator("#image-stack").press("ArrowDown")
    wait_for_map(page, 11, 13, "attn1", "column")
    assert parse_qs(urlparse(page.url).query)["y"] == ["13"]


def test_hovering_follows_the_pointer(page, server_url: str) -> None:
    page.goto(f"{server_url}/?seed=1")
    page.wait_for_selector("#heatmap[data-painted]")
    box = page.locator("#image-stack").bounding_box()
    page.mouse.move(box["x"] + 40.5 * box["width"] / 64, box["y"] + 30.5 * box["height"] / 64)
    wait_for_map(page, 40, 30, "attn2", "row")


def test_next_seed_changes_the_sample(page, server_url: str) -> None:
    page.goto(f"{server_url}/?seed=41")
    page.wait_for_selector('#heatmap[data-seed="41"]')
    page.click("#next-seed")
    page.wait_for_selector('#heatmap[data-seed="42"]')
    assert page.locator("#sample").get_attribute("src").endswith("/samples/42.png")
    assert page.locator("#layer-list li").count() == 2
    assert "γ = 0.5000" in page.locator("#layer-list").inner_text()
