"""A locked view shows exact float32 numbers however it was reached (a link, a click after hover data
arrived, a scale change, a pin, every layer), on the shipped emoji model and a small random BigGAN-deep;
a copied link shows the same numbers again; and while a new sample loads, no readout shows the old one's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import numpy as np
import pytest

from models.reading import LOG_DECADES, top_cells

pytestmark = pytest.mark.e2e

SCALES = ("relative", "absolute", "uniform", "log")


@pytest.fixture(scope="module")
def emoji_url(start_server: Callable[..., AbstractContextManager[str]]) -> Iterator[str]:
    with start_server(None) as url:
        yield url


@pytest.fixture(scope="module")
def biggan_url(start_server: Callable[..., AbstractContextManager[str]], biggan_folder: Path) -> Iterator[str]:
    with start_server(biggan_folder) as url:
        yield url


class Api:
    """The server's float32 values for one sample (`sample`: seed plus class and truncation, if any)."""

    def __init__(self, url: str, sample: dict[str, object]) -> None:
        self.url = url
        self.model = httpx.get(f"{url}/api/models").json()["models"][0]
        self.sample = sample
        self.lut = np.asarray(httpx.get(f"{url}/api/colormaps/viridis").json()["lut"], dtype=np.uint8)

    def get(self, path: str, **params: object) -> httpx.Response:
        seed = self.sample["seed"]
        extra = {name: value for name, value in self.sample.items() if name != "seed"}
        response = httpx.get(f"{self.url}/api/models/{self.model['name']}/samples/{seed}{path}", params={**extra, **params})
        response.raise_for_status()
        return response

    def row(self, x: int, y: int, layer: str, direction: str = "row") -> np.ndarray:
        body = self.get("/attention", x=x, y=y, layer=layer, direction=direction).json()
        return np.asarray(body["values"], dtype=np.float32)  # (G, G)

    def shared_max(self, layer: str) -> float:
        return float(np.frombuffer(self.get("/attention.f32", layer=layer).content, dtype="<f4").max())

    def contrast(self, x: int, y: int, layer: str, mode: str, direction: str = "row") -> np.ndarray:
        response = self.get("/contrast.f32", x=x, y=y, layer=layer, mode=mode, direction=direction)
        side = int(response.headers["X-Grid"])
        return np.frombuffer(response.content, dtype="<f4").reshape(side, side)

    def key_count(self, layer: str) -> int:
        return next(item["key_grid"] for item in self.model["layers"] if item["name"] == layer) ** 2

    def colours(self, quantity: np.ndarray, low: float, high: float) -> np.ndarray:
        display = np.clip((quantity.astype(np.float64) - low) / (high - low), 0, 1)
        return self.lut[np.floor(display * 255 + 0.5).astype(int)]


def on_scale(api: Api, values: np.ndarray, scale: str, layer: str) -> tuple[np.ndarray, float, float]:
    """(quantity, low, high) of an exact slice on a scale, as the page defines them (reading.js)."""
    values = values.astype(np.float64)
    if scale == "relative":
        return values, 0.0, values.max()
    if scale == "absolute":
        return values, 0.0, api.shared_max(layer)
    ratio = values * api.key_count(layer)
    if scale == "uniform":
        return ratio, 0.0, ratio.max()
    with np.errstate(divide="ignore"):
        logged = np.log10(ratio)
    return logged, logged.max() - LOG_DECADES, logged.max()


def shown_top_cells(page) -> list[tuple[int, float]]:
    return page.eval_on_selector_all(
        "#top-cells li", "items => items.map((item) => [Number(item.dataset.index), Number(item.dataset.value)])"
    )


def assert_exact_main_map(page, api: Api, x: int, y: int, layer: str, scale: str, canvas_pixels, same_map) -> None:
    values = api.row(x, y, layer)
    quantity, low, high = on_scale(api, values, scale, layer)
    shown = shown_top_cells(page)
    expected = [cell.index for cell in top_cells(quantity, 5, api.model["image_size"])]
    assert [index for index, _ in shown] == expected, f"top cells on {scale}"
    assert [value for _, value in shown] == [float(values.ravel()[index]) for index in expected]
    stats = page.inner_text("#readout-stats")
    assert "≈" not in stats and "8-bit" not in stats, stats
    assert f"sum {values.sum(dtype=np.float64):.3f}" in stats, stats
    assert float(page.inner_text("#colorbar-high")) == pytest.approx(high, rel=5e-3)
    same_map(canvas_pixels(page, "#heatmap"), api.colours(quantity, low, high))


def lock_after_hover_data(page, api: Api, query: str, x: int, y: int, click_pixel) -> None:
    """Open the view by link, let the hover data arrive, click elsewhere, then click (x, y) again."""
    size = api.model["image_size"]
    with page.expect_response(lambda response: "/slices.u8" in response.url):
        page.goto(f"{api.url}/?{query}")
    page.wait_for_selector(f'#heatmap[data-painted][data-x="{x}"][data-y="{y}"]')
    page.locator("#follow").uncheck()
    click_pixel(page, 5, 5, size)
    page.wait_for_selector('#heatmap[data-x="5"][data-y="5"]')
    click_pixel(page, x, y, size)
    page.wait_for_selector(f'#heatmap[data-x="{x}"][data-y="{y}"][data-preview="false"]')


def test_a_clicked_query_on_the_emoji_model_is_exact_on_every_scale_and_contrast(
    page, emoji_url: str, canvas_pixels, same_map, click_pixel
) -> None:
    api = Api(emoji_url, {"seed": 12})
    lock_after_hover_data(page, api, "seed=12&x=22&y=27&scale=log", 22, 27, click_pixel)
    assert page.get_attribute("#heatmap", "data-source") == "slice"
    for scale in SCALES:
        page.select_option("#scale", scale)
        page.wait_for_selector(f'#heatmap[data-scale="{scale}"][data-x="22"]')
        assert_exact_main_map(page, api, 22, 27, "attn2", scale, canvas_pixels, same_map)

    for mode in ("ratio", "difference"):
        page.select_option("#contrast", mode)
        page.wait_for_selector(f'#heatmap[data-contrast="{mode}"][data-x="22"]')
        exact = api.contrast(22, 27, "attn2", mode).astype(np.float64)
        peak = np.abs(exact).max()
        low, high = (0.0, exact.max()) if mode == "ratio" else (-peak, peak)
        assert float(page.inner_text("#colorbar-high")) == pytest.approx(high, rel=5e-3)
        same_map(canvas_pixels(page, "#heatmap"), api.colours(exact, low, high))
        shown = [index for index, _ in shown_top_cells(page)]
        assert shown == [cell.index for cell in top_cells(exact, 5, 64)], f"top cells by {mode}"
    page.select_option("#contrast", "none")


def test_a_clicked_column_and_its_contrast_are_exact(page, emoji_url: str, canvas_pixels, same_map, click_pixel) -> None:
    api = Api(emoji_url, {"seed": 12})
    lock_after_hover_data(page, api, "seed=12&x=22&y=27&direction=column", 22, 27, click_pixel)
    column = api.row(22, 27, "attn2", direction="column")  # (32, 32) on the query grid
    assert [value for _, value in shown_top_cells(page)] == sorted(column.ravel().tolist(), reverse=True)[:5]
    assert "≈" not in page.inner_text("#readout-stats")
    page.select_option("#contrast", "difference")
    page.wait_for_selector('#heatmap[data-contrast="difference"][data-direction="column"]')
    exact = api.contrast(22, 27, "attn2", "difference", direction="column").astype(np.float64)
    peak = np.abs(exact).max()
    same_map(canvas_pixels(page, "#heatmap"), api.colours(exact, -peak, peak))
    assert float(page.inner_text("#colorbar-high")) == pytest.approx(peak, rel=5e-3)


def test_pins_and_every_layer_are_exact_after_the_hover_data_arrived(
    page, emoji_url: str, canvas_pixels, same_map, click_pixel
) -> None:
    api = Api(emoji_url, {"seed": 12})
    lock_after_hover_data(page, api, "seed=12&x=22&y=27&scale=log", 22, 27, click_pixel)
    page.click("#pin")
    page.check("#compare-layers")
    pin = '#panels canvas[data-kind="pin"][data-x="22"][data-y="27"][data-painted]'
    page.wait_for_selector(pin)
    quantity, low, high = on_scale(api, api.row(22, 27, "attn2"), "log", "attn2")
    same_map(canvas_pixels(page, pin), api.colours(quantity, low, high))
    for layer in ("attn1", "attn2"):
        selector = f'#panels canvas[data-kind="layer"][data-layer="{layer}"][data-painted]'
        page.wait_for_selector(selector)
        quantity, low, high = on_scale(api, api.row(22, 27, layer), "log", layer)
        same_map(canvas_pixels(page, selector), api.colours(quantity, low, high))


def test_a_copied_link_shows_the_same_numbers_as_the_page_it_came_from(
    browser, emoji_url: str, canvas_pixels, click_pixel
) -> None:
    api = Api(emoji_url, {"seed": 12})
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    lock_after_hover_data(page, api, "seed=12&x=22&y=27&scale=log", 22, 27, click_pixel)
    readout = "() => [...document.querySelectorAll('#readout dd:not(#readout-under), #top-cells li, .colorbar span')].map((e) => e.textContent)"
    before, pixels, link = page.evaluate(readout), canvas_pixels(page, "#heatmap"), page.url
    again = context.new_page()
    again.goto(link)
    again.wait_for_selector('#heatmap[data-painted][data-x="22"][data-y="27"]')
    assert again.evaluate(readout) == before
    np.testing.assert_array_equal(canvas_pixels(again, "#heatmap"), pixels)
    context.close()


@pytest.mark.parametrize("scale", SCALES)
def test_a_clicked_query_on_a_biggan_is_exact(
    page, biggan_url: str, scale: str, canvas_pixels, same_map, click_pixel
) -> None:
    api = Api(biggan_url, {"seed": 0, "class": 1, "truncation": 1})
    lock_after_hover_data(page, api, f"seed=0&class=1&truncation=1&x=20&y=10&scale={scale}", 20, 10, click_pixel)
    layer = api.model["default_layer"]
    assert_exact_main_map(page, api, 20, 10, layer, scale, canvas_pixels, same_map)


def test_a_hover_preview_is_marked_approximate(page, emoji_url: str) -> None:
    api = Api(emoji_url, {"seed": 12})
    with page.expect_response(lambda response: "/slices.u8" in response.url):
        page.goto(f"{emoji_url}/?seed=12&x=22&y=27")
    page.wait_for_selector('#heatmap[data-painted][data-x="22"]')
    box = page.locator("#image-stack").bounding_box()
    page.mouse.move(box["x"] + 40.5 * box["width"] / 64, box["y"] + 10.5 * box["height"] / 64)
    page.wait_for_selector('#heatmap[data-x="40"][data-y="10"][data-preview="true"][data-source="compact"]')
    assert "sum ≈" in page.inner_text("#readout-stats")
    assert all(text.startswith("≈") for text in page.locator("#top-cells li").all_inner_texts())
    assert page.inner_text("#map-caption").startswith("Preview")
    assert api.row(40, 10, "attn2").size == 256


READOUT_SNAPSHOT = """() => ({
  seed: document.querySelector('#seed').value,
  painted: document.querySelector('#heatmap').dataset.seed,
  readout: [...document.querySelectorAll('#readout dd')].map((e) => e.textContent),
  top: document.querySelector('#top-cells').textContent,
  bar: [...document.querySelectorAll('.colorbar span, #colorbar-label')].map((e) => e.textContent),
  adds: [...document.querySelectorAll('#adds-layers .adds-difference-text, #adds-layers .adds-effect-text')]
    .map((e) => e.textContent),
})"""


def test_no_readout_shows_the_previous_samples_numbers_while_a_new_one_loads(
    page, server_url: str, every_frame, click_pixel
) -> None:
    page.goto(f"{server_url}/?seed=3&x=20&y=30")
    page.wait_for_selector('#heatmap[data-painted][data-seed="3"]')
    click_pixel(page, 21, 30)
    page.wait_for_selector('#heatmap[data-x="21"][data-preview="false"]')
    page.click("#adds summary")
    page.wait_for_selector('#adds-layers[data-seed="3"]')
    old = page.evaluate(READOUT_SNAPSHOT)
    held = []
    page.route("**/samples/4/**", lambda route: held.append(route))
    page.route("**/samples/4.png*", lambda route: held.append(route))
    frames = every_frame(page, READOUT_SNAPSHOT)
    page.click("#next-seed")
    page.wait_for_function("() => window.recorded_frames.filter((f) => f.seed === '4').length >= 5")
    loading = [frame for frame in frames() if frame["seed"] == "4"]
    for frame in loading:
        assert frame["painted"] == ""
        assert frame["readout"][:5] == ["–"] * 5, frame
        assert frame["top"] == "" and frame["bar"] == ["–", "–", ""], frame
        assert all(text not in old["adds"] for text in frame["adds"]), frame
    for route in held:
        route.continue_()
    page.unroute("**/samples/4/**")
    page.unroute("**/samples/4.png*")
    page.wait_for_selector('#heatmap[data-painted][data-seed="4"]')
    page.wait_for_function("() => document.querySelector('#top-cells').children.length === 5")
    after = page.evaluate(READOUT_SNAPSHOT)
    assert after["readout"][4] != "–" and after["top"] != old["top"]


def test_during_fast_sample_changes_no_frame_shows_another_samples_readout(page, server_url: str, every_frame) -> None:
    page.goto(f"{server_url}/?seed=30&x=20&y=30")
    page.wait_for_selector('#heatmap[data-painted][data-seed="30"]')
    frames = every_frame(page, """() => ({
      seed: document.querySelector('#seed').value,
      readout: document.querySelector('#readout').dataset.seed ?? null,
      stats: document.querySelector('#readout-stats').textContent,
      map: document.querySelector('#heatmap').dataset.seed,
    })""")
    for _ in range(4):
        page.click("#next-seed")
    page.wait_for_selector('#heatmap[data-painted][data-seed="34"]')
    page.wait_for_function("() => document.querySelector('#readout').dataset.seed === '34'")
    seen = frames()
    assert any(frame["readout"] is None for frame in seen), "the readout is blank while a sample loads"
    for frame in seen:
        assert frame["readout"] in (None, frame["seed"]), frame
        assert frame["map"] in ("", frame["seed"]), frame
        assert (frame["stats"] == "–") == (frame["readout"] is None), frame
