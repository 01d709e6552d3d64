"""The page as an instrument: hover previews and a click locks, keyboard only, loading without a
foreign map, bad URL values, history, accessible names, layout on a desktop and a phone."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.e2e


def url_state(page) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlparse(page.url).query).items()}


def pointer_at(page, selector: str, x: float, y: float, size: int = 64) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    return box["x"] + (x + 0.5) * box["width"] / size, box["y"] + (y + 0.5) * box["height"] / size


def test_hover_previews_but_never_moves_a_locked_query(page, server_url: str) -> None:
    page.goto(f"{server_url}/?seed=14&x=10&y=50")
    page.wait_for_selector('#heatmap[data-x="10"][data-y="50"][data-preview="false"]')
    for x, y in [(4, 12), (30, 30), (40, 20)]:
        page.mouse.move(*pointer_at(page, "#image-stack", x, y))
    page.wait_for_selector('#heatmap[data-x="40"][data-y="20"][data-preview="true"]')
    assert (url_state(page)["x"], url_state(page)["y"]) == ("10", "50")

    # The map alone reads values; it never moves the query.
    page.mouse.move(*pointer_at(page, "#map-stack", 31, 0, size=32))
    page.wait_for_selector('#heatmap[data-x="10"][data-y="50"][data-preview="false"]')
    under = page.locator("#readout-under")
    assert under.get_attribute("data-index") == "31"
    row = httpx.get(f"{server_url}/api/models/tiny/samples/14/attention", params={"x": 10, "y": 50}).json()
    assert float(under.get_attribute("data-value")) == pytest.approx(np.ravel(row["values"])[31], rel=0.02, abs=1e-4)
    assert (url_state(page)["x"], url_state(page)["y"]) == ("10", "50")

    page.mouse.click(*pointer_at(page, "#image-stack", 20, 21))
    page.wait_for_selector('#heatmap[data-x="20"][data-y="21"]')
    page.mouse.move(*pointer_at(page, "#image-stack", 50, 5))
    page.wait_for_selector('#heatmap[data-x="50"][data-y="5"][data-preview="true"]')
    assert (url_state(page)["x"], url_state(page)["y"], url_state(page)["hover"]) == ("20", "21", "preview")

    page.goto(f"{server_url}/?seed=14&x=10&y=50&hover=off")
    page.wait_for_selector('#heatmap[data-x="10"][data-painted]')
    assert not page.locator("#follow").is_checked()
    page.mouse.move(*pointer_at(page, "#image-stack", 40, 20))
    page.wait_for_timeout(300)
    assert page.locator("#heatmap").get_attribute("data-x") == "10"


def focus_by_tab(page, test: str, limit: int = 60) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(test):
            return
    raise AssertionError(f"Tab never reached an element where {test}")


def test_keyboard_alone_switches_the_direction_and_moves_the_query(page, server_url: str) -> None:
    page.goto(f"{server_url}/?seed=2&x=32&y=32")
    page.wait_for_selector("#heatmap[data-painted]")
    focus_by_tab(page, "document.activeElement.name === 'direction'")
    page.keyboard.press("ArrowDown")
    page.wait_for_selector('#heatmap[data-direction="column"]')
    assert page.locator('input[value="column"]').is_checked()
    assert page.locator("#heatmap").get_attribute("data-x") == "32"

    focus_by_tab(page, "document.activeElement.id === 'image-stack'")
    ring = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert ring != "none"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    page.wait_for_selector('#heatmap[data-x="33"][data-y="33"][data-direction="column"]')
    page.keyboard.press("Shift+ArrowLeft")
    page.wait_for_selector('#heatmap[data-x="31"][data-y="33"]')
    page.keyboard.press("p")
    page.wait_for_selector('#panels canvas[data-kind="pin"][data-x="31"][data-y="33"][data-painted]')
    assert url_state(page)["pins"] == "31,33"


def test_a_fast_seed_change_never_shows_another_samples_map(page, server_url: str, slow_network, every_frame) -> None:
    page.goto(f"{server_url}/?seed=20")
    page.wait_for_selector('#heatmap[data-seed="20"]')
    slow_network(page, 60, 1_000_000)
    recorded = every_frame(
        page,
        """() => ({
        seeds: ["#sample", "#heatmap", "#overlay", "#map-outline"].map((s) => document.querySelector(s).dataset.seed),
        loading: !document.getElementById("loading").hidden,
    })""",
    )
    for _ in range(4):
        page.click("#next-seed")
    page.wait_for_selector('#heatmap[data-seed="24"]', timeout=20000)
    page.wait_for_selector("#loading", state="hidden")
    page.wait_for_timeout(100)
    frames = recorded()
    assert len(frames) > 10
    for frame in frames:
        shown = {seed for seed in frame["seeds"] if seed}
        assert len(shown) <= 1, f"a frame showed maps or images of several seeds: {frame}"
    assert any(frame["loading"] for frame in frames), "the page never said it was loading"
    assert frames[-1]["seeds"][:3] == ["24", "24", "24"]


def test_bad_url_values_are_clamped_or_defaulted_with_a_notice(
    page, server_url: str, same_map, canvas_pixels, heatmap_png
) -> None:
    page.goto(f"{server_url}/?seed=3&colormap=zzz&x=999&y=-5&opacity=abc&layer=nope&direction=up&scale=big&mass=300")
    page.wait_for_selector('#heatmap[data-x="63"][data-y="0"][data-painted]')
    notice = page.locator("#notice")
    assert notice.is_visible()
    text = notice.inner_text()
    for expected in [
        "colormap=zzz",
        "using viridis",
        "x=999",
        "clamped to 63",
        "y=-5",
        "clamped to 0",
        "opacity=abc",
        "using 0.6",
        "layer=nope",
        "direction=up",
        "scale=big",
        "mass=300",
    ]:
        assert expected in text
    state = url_state(page)
    assert state | {"seed": "3"} == state and (state["colormap"], state["x"], state["y"], state["opacity"]) == (
        "viridis",
        "63",
        "0",
        "0.6",
    )
    assert (state["layer"], state["direction"], state["scale"], state["mass"]) == ("attn2", "row", "relative", "100")
    same_map(canvas_pixels(page, "#heatmap"), heatmap_png(server_url, "tiny", 3, x=63, y=0, colormap="viridis"))
    page.click("#notice-close")
    assert not notice.is_visible()


def test_links_history_and_accessible_names(page, server_url: str) -> None:
    page.goto(f"{server_url}/?seed=30&opacity=0.35")
    page.wait_for_selector('#heatmap[data-seed="30"]')
    png = parse_qs(urlparse(page.locator("#link-png").get_attribute("href")).query)
    assert png["opacity"] == ["0.35"]
    for selector in ["#heatmap", "#overlay", "#colorbar"]:
        assert page.locator(selector).get_attribute("aria-label")
    assert "pixel (32, 32)" in page.locator("#heatmap").get_attribute("aria-label")
    page.click("#next-seed")
    page.wait_for_selector('#heatmap[data-seed="31"]')
    page.fill("#seed", "77")
    page.press("#seed", "Enter")
    page.wait_for_selector('#heatmap[data-seed="77"]')
    page.go_back()
    page.wait_for_selector('#heatmap[data-seed="31"]')
    assert page.locator("#seed").input_value() == "31"
    page.go_back()
    page.wait_for_selector('#heatmap[data-seed="30"]')
    page.go_forward()
    page.wait_for_selector('#heatmap[data-seed="31"]')


def test_desktop_layout_keeps_the_view_above_the_fold(browser, server_url: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.goto(f"{server_url}/?seed=4")
    page.wait_for_selector("#heatmap[data-painted]")
    for selector in ["#image-stack", "#map-stack", "#readout-stats", "#colorbar"]:
        box = page.locator(selector).bounding_box()
        assert box["y"] + box["height"] <= 720, f"{selector} ends at {box['y'] + box['height']}"
    assert page.locator("#image-stack").bounding_box()["width"] >= 320
    context.close()


def test_on_a_phone_the_sample_is_large_and_a_finger_drag_scrubs(browser, server_url: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto(f"{server_url}/?seed=4&x=5&y=5")
    page.wait_for_selector("#heatmap[data-painted]")
    box = page.locator("#image-stack").bounding_box()
    assert box["width"] >= 340 and box["y"] <= 160, box
    cdp = context.new_cdp_session(page)
    start = pointer_at(page, "#image-stack", 10, 10)
    end = pointer_at(page, "#image-stack", 40, 44)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": start[0], "y": start[1]}]})
    for step in range(1, 11):
        x = start[0] + (end[0] - start[0]) * step / 10
        y = start[1] + (end[1] - start[1]) * step / 10
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_selector('#heatmap[data-x="40"][data-y="44"]')
    assert (url_state(page)["x"], url_state(page)["y"]) == ("40", "44")
    assert page.evaluate("scrollY") == 0
    context.close()
