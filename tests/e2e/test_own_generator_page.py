"""The README's command for the example transformer-style generator, explored in Chromium by head."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.e2e.conftest import PROJECT_ROOT

pytestmark = pytest.mark.e2e

# The command the README shows; the README runs it from docs/examples, here PYTHONPATH finds the module.
COMMAND = (str(Path(sys.executable).with_name("sagan-attn")),)
ARGUMENTS = ("--generator", "token_generator:build", "--generator-arg", "heads=4", "--device", "cpu")
EXAMPLES = str(PROJECT_ROOT / "docs" / "examples")


def test_pick_a_head_click_a_pixel_and_the_map_is_that_heads_api_row(
    page, start_server, same_map, canvas_pixels, heatmap_png, click_pixel
) -> None:
    environment = {"PYTHONPATH": os.pathsep.join([EXAMPLES, os.environ.get("PYTHONPATH", "")])}
    with start_server(None, command=COMMAND, arguments=ARGUMENTS, **environment) as url:
        model = httpx.get(f"{url}/api/models").json()["models"][0]
        layers = {layer["name"]: layer for layer in model["layers"]}
        assert {layer["heads"] for layer in layers.values()} == {4}
        assert layers["stages.1.0"]["kind"] == "fused attention" and model["image_size"] == 32

        page.goto(f"{url}/?seed=5&layer=stages.1.0")
        page.wait_for_selector('#heatmap[data-seed="5"][data-head="mean"]')
        assert page.locator("#head option").count() == 5
        page.select_option("#head", "2")
        click_pixel(page, 9, 20, image_size=32)
        selector = '#heatmap[data-head="2"][data-x="9"][data-y="20"][data-layer="stages.1.0"]'
        page.wait_for_selector(selector)
        drawn = canvas_pixels(page, "#heatmap")
        params = {"x": 9, "y": 20, "layer": "stages.1.0"}
        same_map(drawn, heatmap_png(url, model["name"], 5, head=2, **params))

        row = httpx.get(f"{url}/api/models/{model['name']}/samples/5/attention", params={**params, "head": 2}).json()
        mean = httpx.get(f"{url}/api/models/{model['name']}/samples/5/attention", params=params).json()
        assert not np.allclose(row["values"], mean["values"]), "head 2 should differ from the mean of heads"
        mean_drawing = heatmap_png(url, model["name"], 5, **params)
        assert np.abs(drawn.astype(int) - mean_drawing.astype(int)).max() > 8
        assert "head=2" in page.url
        page.select_option("#save-format", "svg")
        with page.expect_download() as download:
            page.click("#save-figure")
        assert download.value.suggested_filename == f"{model['name']}-5-stages.1.0-head2-row.svg"

        page.goto(f"{url}/?seed=5&layer=stages.1.0&head=4")
        page.wait_for_selector('#heatmap[data-seed="5"][data-head="mean"][data-painted]')
        assert page.inner_text("#notice-text") == "head=4: not a head here (0–3 or mean); using mean"
