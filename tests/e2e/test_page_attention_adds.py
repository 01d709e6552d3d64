"""What attention adds, on the page: each layer's γ = 0 sample, its difference map and the ‖γ·o‖/‖x‖
map equal what the API serves, the served γ stays as it was, and a sample change never leaves
another sample's panel on screen."""

from __future__ import annotations

import copy
import io
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import load_checkpoint
from models.imaging import to_uint8
from models.sagan import sample_latents

pytestmark = pytest.mark.e2e

LAYERS = ("attn1", "attn2")


def gammas(server_url: str) -> dict[str, float]:
    model = httpx.get(f"{server_url}/api/models").json()["models"][0]
    return {layer["name"]: layer["gamma"] for layer in model["layers"]}


def blob_bytes(page, selector: str) -> bytes:
    """The bytes behind an <img> of the page (a blob: URL), as the page holds them."""
    data = page.evaluate(
        "(selector) => fetch(document.querySelector(selector).src).then((r) => r.arrayBuffer())"
        ".then((buffer) => Array.from(new Uint8Array(buffer)))",
        selector,
    )
    return bytes(data)


def without_gamma(checkpoint: Path, layer: str, seed: int) -> np.ndarray:
    """A deep copy of the served checkpoint with that layer's γ zeroed, run on the seed: (S, S, 3) uint8."""
    generator = copy.deepcopy(load_checkpoint(checkpoint).generator.eval())
    with torch.no_grad():
        getattr(generator, layer).gamma.zero_()
        image = generator(sample_latents([seed], generator.config.z_dim))  # (1, 3, S, S)
    return np.asarray(to_uint8(image[0]))


def numbers_in(text: str) -> tuple[float, ...]:
    """The numbers a caption shows after "max", "mean" or a colon, as floats."""
    return tuple(float(match) for match in re.findall(r"(?:max|mean|:) (-?[0-9.]+(?:e[-+]?[0-9]+)?)", text))


def open_by_keyboard(page) -> None:
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement === document.querySelector('#adds summary')"):
            page.keyboard.press("Enter")
            return
    raise AssertionError("Tab never reached the 'What attention adds' summary")


def test_what_attention_adds_equals_the_api_and_leaves_gamma_unchanged(
    page, server_url: str, tiny_checkpoint: Path, canvas_pixels, same_map
) -> None:
    seed = 7
    before = gammas(server_url)
    base = f"{server_url}/api/models/tiny/samples/{seed}"
    lut = np.asarray(httpx.get(f"{server_url}/api/colormaps/magma").json()["lut"], dtype=np.uint8)

    page.goto(f"{server_url}/?seed={seed}&colormap=magma")
    page.wait_for_selector(f'#heatmap[data-seed="{seed}"]')
    assert page.locator(".adds-layer").count() == 0, "nothing is fetched while the panel is closed"
    open_by_keyboard(page)
    page.wait_for_selector(f'#adds-layers[data-seed="{seed}"]')
    effect_means = httpx.get(f"{server_url}/api/models/tiny/effect-means").json()["layers"]

    for name in LAYERS:
        section = f'.adds-layer[data-layer="{name}"][data-seed="{seed}"]'
        assert page.locator(section).get_attribute("aria-label")
        page.wait_for_selector(f"{section} h2[data-effect-mean]")  # the means follow the figures
        assert float(page.get_attribute(f"{section} h2", "data-effect-mean")) == effect_means[name]
        assert numbers_in(page.inner_text(f"{section} h2"))[-1] == pytest.approx(effect_means[name], rel=0.01)

        served = httpx.get(f"{base}/ablation.png", params={"layer": name})
        shown = blob_bytes(page, f"{section} .adds-ablation")
        assert shown == served.content
        pixels = np.asarray(Image.open(io.BytesIO(shown)).convert("RGB"))
        np.testing.assert_array_equal(pixels, without_gamma(tiny_checkpoint, name, seed))
        assert page.evaluate(f"document.querySelector('{section} .adds-ablation').naturalWidth") == 64
        assert page.get_attribute(f"{section} .adds-ablation", "alt")

        difference = httpx.get(f"{base}/ablation-difference.png", params={"layer": name, "colormap": "magma"})
        assert blob_bytes(page, f"{section} .adds-difference") == difference.content
        image = page.locator(f"{section} .adds-difference")
        for header, key in (("X-Difference-Max", "max"), ("X-Difference-Mean", "mean")):
            assert float(image.get_attribute(f"data-{key}")) == float(difference.headers[header])
        shown_max, shown_mean = numbers_in(page.inner_text(f"{section} .adds-difference-text"))
        assert shown_max == pytest.approx(float(difference.headers["X-Difference-Max"]), rel=0.01)
        assert shown_mean == pytest.approx(float(difference.headers["X-Difference-Mean"]), rel=0.01)

        effect = httpx.get(f"{base}/effect", params={"layer": name}).json()
        values = np.asarray(effect["values"], dtype=np.float64).reshape(effect["query_grid"], effect["query_grid"])
        canvas = page.locator(f"{section} .adds-effect")
        assert float(canvas.get_attribute("data-mean")) == effect["mean"]
        assert float(canvas.get_attribute("data-max")) == pytest.approx(values.max(), rel=1e-12)
        assert numbers_in(page.inner_text(f"{section} .adds-effect-text")) == pytest.approx(
            (values.max(), effect["mean"]), rel=0.01
        )
        expected = lut[np.floor(values / values.max() * 255 + 0.5).astype(int)]
        same_map(canvas_pixels(page, f"{section} .adds-effect"), expected)

    assert gammas(server_url) == before


def test_a_sample_change_never_leaves_another_samples_panel(page, server_url: str, slow_network, every_frame) -> None:
    page.goto(f"{server_url}/?seed=40")
    page.wait_for_selector('#heatmap[data-seed="40"]')
    page.click("#adds summary")
    page.wait_for_selector('#adds-layers[data-seed="40"]')
    slow_network(page, 80, 500_000)
    recorded = every_frame(
        page,
        """() => ({
        wanted: document.getElementById("seed").value,
        tagged: [...document.querySelectorAll("#adds-layers [data-seed]")].map((node) => node.dataset.seed),
    })""",
    )
    for _ in range(3):
        page.click("#next-seed")
    page.wait_for_selector('#adds-layers[data-seed="43"]', timeout=30000)
    page.wait_for_timeout(100)
    frames = recorded()
    assert len(frames) > 10
    for frame in frames:
        foreign = {seed for seed in frame["tagged"] if seed and seed != frame["wanted"]}
        assert not foreign, f"the panel showed seed {foreign} while seed {frame['wanted']} was asked for"
    assert any(not any(frame["tagged"]) for frame in frames), "the old panel was not cleared"
    assert frames[-1]["tagged"] and set(frames[-1]["tagged"]) == {"43"}
