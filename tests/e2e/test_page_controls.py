"""Typed values are clamped by the same rules as URL values, with the same notices, and every notice says
in a few words what happened."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

pytestmark = pytest.mark.e2e


def notices(page) -> list[str]:
    return page.locator("#notice-text").inner_text().split(" · ") if page.locator("#notice").is_visible() else []


def test_url_notices_say_what_happened_in_a_few_words(page, server_url: str) -> None:
    pins = ";".join(f"{i},{i}" for i in range(30))
    page.goto(f"{server_url}/?seed=1.5&head=1&x=70&mass=abc&pins={pins};99,1")
    page.wait_for_selector('#heatmap[data-painted][data-seed="2"]')
    assert notices(page) == [
        "seed=1.5: rounded to 2",
        "head=1: this layer has one head; using mean",
        "x=70: above 63; clamped to 63",
        "mass=abc: not a number; using 0",
        "pins=0,0;1,1;2,2;3,3;4,4;…: dropped 1 not x,y inside the image; cut to 10 pins",
    ]
    assert parse_qs(urlparse(page.url).query)["pins"] == [";".join(f"{i},{i}" for i in range(10))]


def test_typed_values_are_clamped_with_the_url_notice(page, server_url: str) -> None:
    page.goto(f"{server_url}/?seed=4")
    page.wait_for_selector('#heatmap[data-painted][data-seed="4"]')
    page.fill("#mass", "150")
    page.dispatch_event("#mass", "change")
    page.wait_for_selector('#map-outline[data-mass="100"]')
    assert page.locator("#mass").input_value() == "100"
    assert notices(page) == ["mass=150: above 100; clamped to 100"]

    page.fill("#seed", "7.4")
    page.dispatch_event("#seed", "change")
    page.wait_for_selector('#heatmap[data-painted][data-seed="7"]')
    assert page.locator("#seed").input_value() == "7"
    assert notices(page)[-1] == "seed=7.4: rounded to 7"

    page.fill("#save-width", "50")
    with page.expect_download():
        page.click("#save-figure")
    page.wait_for_selector('#save-figure[data-result="saved"]')
    assert page.locator("#save-width").input_value() == "400"
    assert notices(page)[-1] == "width=50: below 400; clamped to 400"
    assert parse_qs(urlparse(page.get_attribute("#save-figure", "data-href")).query)["width"] == ["400"]

    assert page.locator("#save-width").is_enabled()
    page.select_option("#save-format", "svg")
    assert page.locator("#save-width").is_disabled(), "SVG ignores the width"
