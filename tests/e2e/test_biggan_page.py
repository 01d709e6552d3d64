"""The page on a small random-weight BigGAN-deep (1,000 classes, 32×32 images, 16×16 queries, 8×8 pooled keys)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

pytestmark = pytest.mark.e2e

IMAGE_SIZE = 32
MODEL = "small-biggan"

RECORD_ABORTS = """
window.abortedRequests = [];
const originalFetch = window.fetch;
window.fetch = (url, options = {}) => {
  options.signal?.addEventListener("abort", () => window.abortedRequests.push(String(url)));
  return originalFetch(url, options);
};
"""


@pytest.fixture(scope="module")
def biggan_url(start_server: Callable[..., AbstractContextManager[str]], biggan_folder: Path) -> Iterator[str]:
    with start_server(biggan_folder) as url:
        yield url


def test_pick_a_class_click_a_pixel_and_see_the_apis_row_on_the_key_grid(
    page, biggan_url: str, canvas_pixels, heatmap_png, click_pixel
) -> None:
    page.goto(f"{biggan_url}/?seed=4")
    page.wait_for_selector('#heatmap[data-painted][data-cls="0"]')
    assert page.locator("#class-group").is_visible()
    assert page.locator("#class-names option").count() == 1000
    page.locator("#follow").uncheck()

    page.locator("#class").fill("goldfish")
    page.locator("#class").press("Enter")
    page.locator("#class").dispatch_event("change")
    page.wait_for_selector('#heatmap[data-cls="1"]')
    assert page.locator("#class").input_value() == "1: goldfish"
    assert page.locator("#sample").get_attribute("src").endswith("/samples/4.png?class=1&truncation=0.4")

    click_pixel(page, 21, 6, IMAGE_SIZE)
    page.wait_for_selector('#heatmap[data-x="21"][data-y="6"][data-cls="1"]')
    shown = canvas_pixels(page, "#heatmap")
    assert shown.shape == (8, 8, 3), "a row lies on the pooled 8×8 key grid"
    expected = heatmap_png(biggan_url, MODEL, 4, x=21, y=6, direction="row", **{"class": 1, "truncation": 0.4})
    np.testing.assert_array_equal(shown, expected)
    other = heatmap_png(biggan_url, MODEL, 4, x=2, y=30, direction="row", **{"class": 1, "truncation": 0.4})
    assert np.abs(shown.astype(int) - other).max() > 8, "maps of distant points should differ"

    query = parse_qs(urlparse(page.url).query)
    assert (query["class"], query["truncation"], query["x"], query["y"]) == (["1"], ["0.4"], ["21"], ["6"])
    rendering = page.evaluate("getComputedStyle(document.querySelector('#sample')).imageRendering")
    assert rendering == "pixelated"
    assert page.evaluate("document.querySelector('#sample').naturalWidth") == IMAGE_SIZE


def test_a_copied_link_with_class_and_truncation_reproduces_the_view(
    page, biggan_url: str, canvas_pixels, heatmap_png, click_pixel
) -> None:
    page.goto(f"{biggan_url}/?seed=9&class=264&truncation=0.8&x=3&y=30&direction=column")
    page.wait_for_selector('#heatmap[data-painted][data-x="3"][data-y="30"]')
    assert page.locator("#class").input_value() == "264: Cardigan"
    assert page.locator("#truncation").input_value() == "0.8"
    expected = heatmap_png(biggan_url, MODEL, 9, x=3, y=30, direction="column", **{"class": 264, "truncation": 0.8})
    np.testing.assert_array_equal(canvas_pixels(page, "#heatmap"), expected)
    assert expected.shape == (16, 16, 3), "a column lies on the 16×16 query grid"


def test_the_first_map_needs_one_slice_and_hover_data_follows_for_previews(
    page, biggan_url: str, canvas_pixels, heatmap_png, click_pixel
) -> None:
    requests: list[str] = []
    held = []
    page.on("request", lambda request: requests.append(request.url))
    page.route("**/slices.u8*", lambda route: held.append(route))  # hover data held back until released

    page.goto(f"{biggan_url}/?seed=11&class=7")
    page.wait_for_selector('#heatmap[data-painted][data-source="slice"]')
    assert any("/samples/11/slice.f32" in url for url in requests)
    assert "≈" not in page.inner_text("#readout-stats"), "the first map's numbers are exact float32"
    # 16×16 queries over 8×8 pooled keys on a 32 px image: each grid has its own cell size
    assert page.inner_text("#readout-mapping").endswith("2×2 pixels per query cell: x 16–17, y 16–17; 4×4 per key cell")
    assert not any("attention.f32" in url or "attention.npy" in url for url in requests)

    assert len(held) == 1 and "direction=row" in held[0].request.url
    for route in held:
        route.continue_()
    page.wait_for_timeout(300)
    box = page.locator("#image-stack").bounding_box()
    page.mouse.move(box["x"] + 30.5 * box["width"] / IMAGE_SIZE, box["y"] + 1.5 * box["height"] / IMAGE_SIZE)
    page.wait_for_selector('#heatmap[data-x="30"][data-y="1"][data-source="compact"][data-preview="true"]')
    assert "sum ≈" in page.inner_text("#readout-stats") and "8-bit hover data" in page.inner_text("#readout-stats")
    expected = heatmap_png(biggan_url, MODEL, 11, x=30, y=1, direction="row", **{"class": 7, "truncation": 0.4})
    np.testing.assert_array_equal(canvas_pixels(page, "#heatmap"), expected)
    click_pixel(page, 30, 1, IMAGE_SIZE)
    page.wait_for_selector('#heatmap[data-x="30"][data-y="1"][data-source="slice"][data-preview="false"]')
    assert "≈" not in page.inner_text("#readout-stats"), "a clicked query's numbers are exact float32"
    assert not any("attention.f32" in url or "attention.npy" in url for url in requests)


def test_a_fast_sample_change_aborts_the_stale_requests(page, biggan_url: str) -> None:
    page.add_init_script(RECORD_ABORTS)
    held = []

    def hold_seed_20(route) -> None:
        if "/samples/20/" in route.request.url:
            held.append(route)  # never answered: the page must give up on it
        else:
            route.continue_()

    page.route("**/api/models/*/samples/**", hold_seed_20)
    page.goto(f"{biggan_url}/?seed=20")
    page.wait_for_function("() => document.querySelector('#seed').value === '20'")
    page.wait_for_timeout(200)
    assert any("/samples/20/slice.f32" in route.request.url for route in held)
    page.click("#next-seed")
    page.wait_for_selector('#heatmap[data-seed="21"]')
    aborted = page.evaluate("window.abortedRequests")
    assert any("/samples/20/slice.f32" in url for url in aborted), aborted
    assert not any("/samples/21/" in url for url in aborted), aborted


@pytest.mark.parametrize(
    ("query", "shown", "truncation", "notes"),
    [
        ("class=goldfish&truncation=abc", "1: goldfish", "0.4", ["truncation=abc: not a number; using 0.4"]),
        (
            "class=5000&truncation=7",
            "0: tench",
            "1",
            ["class=5000: not a class here (0–999 or a name); using 0: tench", "truncation=7: above 1; clamped to 1"],
        ),
        ("class=Cardigan", "264: Cardigan", "0.4", []),
        ("class=cardigan&truncation=0.001", "474: cardigan", "0.01", ["truncation=0.001: below 0.01; clamped to 0.01"]),
    ],
)
def test_class_and_truncation_in_the_url_are_read_as_the_api_reads_them(
    page, biggan_url: str, query: str, shown: str, truncation: str, notes: list[str]
) -> None:
    page.goto(f"{biggan_url}/?seed=3&{query}")
    index = shown.split(":")[0]
    page.wait_for_selector(f'#heatmap[data-painted][data-cls="{index}"][data-truncation="{truncation}"]')
    assert page.locator("#class").input_value() == shown
    assert page.locator("#truncation").input_value() == truncation
    notice = page.locator("#notice-text").inner_text() if page.locator("#notice").is_visible() else ""
    assert notice.split(" · ") == notes if notes else notice == ""
    assert parse_qs(urlparse(page.url).query)["class"] == [index]


def test_a_retyped_class_name_shows_the_class_again(page, biggan_url: str) -> None:
    page.goto(f"{biggan_url}/?seed=3&class=1")
    page.wait_for_selector('#heatmap[data-painted][data-cls="1"]')
    page.locator("#class").fill("Goldfish")
    page.locator("#class").dispatch_event("change")
    page.wait_for_function("() => document.querySelector('#class').value === '1: goldfish'")


def test_a_typed_class_that_names_none_keeps_the_class_with_a_notice(page, biggan_url: str) -> None:
    page.goto(f"{biggan_url}/?seed=3&class=1")
    page.wait_for_selector('#heatmap[data-painted][data-cls="1"]')
    page.locator("#class").fill("5000")
    page.locator("#class").dispatch_event("change")
    page.wait_for_selector("#notice:not([hidden])")
    assert page.inner_text("#notice-text") == "class=5000: not a class here (0–999 or a name); using 1: goldfish"
    assert page.locator("#class").input_value() == "1: goldfish"


def test_axe_finds_no_moderate_serious_or_critical_violations_with_the_class_controls(
    page, biggan_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.e2e.test_page_reading import axe_source

    page.goto(f"{biggan_url}/?seed=3&class=goldfish&truncation=abc&pins=1,1;20,20")
    page.wait_for_selector('#panels canvas[data-x="20"][data-painted]')
    page.add_script_tag(content=axe_source(tmp_path_factory))
    result = page.evaluate("axe.run(document).then((r) => r.violations.map((v) => ({id: v.id, impact: v.impact})))")
    assert [violation for violation in result if violation["impact"] in ("moderate", "serious", "critical")] == []


def test_a_valid_class_replaces_the_notice_of_a_bad_one_and_the_open_gallery_follows_it(
    page, biggan_url: str
) -> None:
    page.goto(f"{biggan_url}/?seed=3&class=1")
    page.wait_for_selector('#heatmap[data-painted][data-cls="1"]')
    page.click("#gallery summary")
    page.wait_for_selector('#gallery-grid button[data-seed="0"] img[src*="class=1"]')
    page.locator("#class").fill("5000")
    page.locator("#class").dispatch_event("change")
    page.wait_for_selector("#notice:not([hidden])")
    page.locator("#class").fill("2")
    page.locator("#class").dispatch_event("change")
    page.wait_for_selector('#heatmap[data-painted][data-cls="2"]')
    assert page.locator("#notice").is_hidden()
    thumbnails = page.locator("#gallery-grid img")
    assert thumbnails.count() == 12
    assert all("class=2" in thumbnails.nth(i).get_attribute("src") for i in range(12))


def test_a_conditional_models_effect_means_name_their_class(page, biggan_url: str) -> None:
    page.goto(f"{biggan_url}/?seed=3&class=1")
    page.wait_for_selector('#heatmap[data-painted][data-cls="1"]')
    page.click("#adds summary")
    page.wait_for_selector(".adds-layer h2[data-effect-mean]", timeout=120_000)
    assert "over seeds 0–15 of class 0: tench:" in page.inner_text(".adds-layer h2")
