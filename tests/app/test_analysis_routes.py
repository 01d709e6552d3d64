"""γ = 0 samples, effect maps, contrast slices and figures through the API, against the pure functions."""

from __future__ import annotations

import copy
import io
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from app import render
from app.figure import caption
from app.views import FigureContrast, FigureView, figure_spec
from models.analysis import attention_effect, pixel_difference
from models.capture import count_forward_hooks
from models.checkpoint import load_checkpoint
from models.geometry import attention_slice
from models.imaging import to_uint8
from models.reading import (
    Contrast,
    Scale,
    average_row,
    column_contrast,
    contrast,
    mask_outline,
    row_contrast,
    top_mass_mask,
)
from models.sagan import Generator, sample_latents

BASE = "/api/models/tiny/samples"
FIGURE = "/api/models/tiny/figure"


@pytest.fixture
def reference(checkpoint_path: Path) -> Generator:
    """The served checkpoint, loaded apart from the server."""
    return load_checkpoint(checkpoint_path).generator.eval()


def decode(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def forward_of(generator: Generator, seeds: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return generator(sample_latents(seeds, generator.config.z_dim))  # (B, 3, S, S)


def without_gamma(generator: Generator, layer: str, seed: int) -> torch.Tensor:
    """A deep copy of the model with that layer's γ zeroed: the definition the route must meet."""
    ablated = copy.deepcopy(generator)
    with torch.no_grad():
        getattr(ablated, layer).gamma.zero_()
    return forward_of(ablated, [seed])


def state_of(generator: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in generator.state_dict().items()}


@pytest.mark.parametrize("layer", ["attn1", "attn2"])
def test_ablation_is_a_copy_with_gamma_zeroed_and_the_served_weights_stay_bit_identical(
    client: TestClient, reference: Generator, layer: str
) -> None:
    service = client.app.state.models["tiny"]
    before = state_of(service.generator)
    gammas = {name: float(getattr(service.generator, name).gamma.detach()) for name in ("attn1", "attn2")}
    response = client.get(f"{BASE}/6/ablation.png", params={"layer": layer})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = decode(response.content)
    np.testing.assert_array_equal(image, to_uint8(without_gamma(reference, layer, 6)[0]))
    assert not np.array_equal(image, decode(client.get(f"{BASE}/6.png").content)), "γ = 0 must change the sample"
    after = service.generator.state_dict()
    assert before.keys() == after.keys()
    for name, tensor in before.items():
        assert torch.equal(tensor, after[name]), name
    assert {name: float(getattr(service.generator, name).gamma.detach()) for name in gammas} == gammas
    assert count_forward_hooks(service.generator) == 0


def test_ablation_difference_is_the_channel_mean_of_the_absolute_difference(
    client: TestClient, reference: Generator
) -> None:
    response = client.get(f"{BASE}/3/ablation-difference.png", params={"layer": "attn1", "colormap": "magma"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    expected = pixel_difference(forward_of(reference, [3]), without_gamma(reference, "attn1", 3))[0].numpy()
    assert float(response.headers["x-difference-max"]) == pytest.approx(expected.max(), rel=1e-5)
    assert float(response.headers["x-difference-mean"]) == pytest.approx(expected.mean(), rel=1e-5)
    assert expected.max() > 0
    colours = render.colorize(render.scale_for_display(expected), render.colormap_lut("magma"))
    actual = decode(response.content)
    assert actual.shape == (64, 64, 3)
    assert np.abs(actual.astype(int) - colours.astype(int)).max() <= 2


@pytest.mark.parametrize(("layer", "grid"), [("attn1", 16), ("attn2", 32)])
def test_effect_equals_attention_effect_on_the_same_sample(
    client: TestClient, reference: Generator, layer: str, grid: int
) -> None:
    response = client.get(f"{BASE}/8/effect", params={"layer": layer})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    (expected,) = attention_effect(reference, [layer], lambda: forward_of(reference, [8]))
    assert body["layer"] == layer and body["query_grid"] == grid and len(body["values"]) == grid * grid
    np.testing.assert_allclose(np.array(body["values"]), expected.map_of(0).numpy().ravel(), rtol=1e-5, atol=1e-7)
    assert body["mean"] == pytest.approx(expected.mean, rel=1e-5)
    assert body["formula"].startswith("‖γ·o‖ / ‖x‖")


def test_effect_means_are_each_layers_mean_effect_over_seeds_0_to_15(client: TestClient, reference: Generator) -> None:
    body = client.get("/api/models/tiny/effect-means").json()
    assert body["seeds"] == list(range(16)) and body["class"] is None and body["truncation"] is None
    expected = attention_effect(reference, ["attn1", "attn2"], lambda: forward_of(reference, list(range(16))))
    means = [body["layers"][name] for name in ("attn1", "attn2")]
    assert means == pytest.approx([effect.mean for effect in expected], rel=1e-5)
    assert means[0] != pytest.approx(means[1])


def test_effect_means_are_measured_on_first_request_not_at_start_up(client: TestClient) -> None:
    service = client.app.state.models["tiny"]
    forward_passes = []
    handle = service.generator.register_forward_hook(lambda *_: forward_passes.append(1))
    try:
        assert "attention_effect_mean" not in str(client.get("/api/models").json())
        assert forward_passes == []
        first = client.get("/api/models/tiny/effect-means")
        assert len(forward_passes) == 4  # seeds 0–15 in batches of 4
        again = client.get("/api/models/tiny/effect-means")
        assert len(forward_passes) == 4 and again.json() == first.json()
    finally:
        handle.remove()


@pytest.mark.parametrize("mode", ["ratio", "difference"])
@pytest.mark.parametrize("direction", ["row", "column"])
def test_contrast_equals_the_reading_functions_on_the_apis_own_row_and_matrix(
    client: TestClient, mode: str, direction: str
) -> None:
    x, y, layer = 45, 7, "attn1"
    place = {"layer": layer, "x": x, "y": y, "direction": direction}
    response = client.get(f"{BASE}/4/contrast.f32", params={**place, "mode": mode})
    assert response.status_code == 200 and response.headers["content-type"] == "application/octet-stream"
    values = np.frombuffer(response.content, dtype="<f4")
    matrix = np.frombuffer(client.get(f"{BASE}/4/attention.f32", params={"layer": layer}).content, "<f4")
    matrix = matrix.reshape(256, 256)
    shown = client.get(f"{BASE}/4/attention", params=place).json()
    index = shown["cell"]["index"]
    assert response.headers["x-grid"] == "16" and response.headers["x-cell"] == str(index)
    api_slice = np.array(shown["values"]).ravel()
    average = average_row(matrix)
    if direction == "row":
        by_function = row_contrast(matrix, index, Contrast(mode))
        from_the_slice = contrast(api_slice, average, Contrast(mode))
    else:
        by_function = column_contrast(matrix, index, Contrast(mode))
        from_the_slice = contrast(api_slice, average[index], Contrast(mode))
    np.testing.assert_allclose(values, by_function, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(values, from_the_slice, rtol=1e-4, atol=1e-6)
    formula = response.headers["x-formula"]
    assert formula.isascii() and "abar" in formula and ("/" if mode == "ratio" else " - ") in formula
    assert not np.allclose(values, 1.0 if mode == "ratio" else 0.0), "the contrast must show something"


@pytest.mark.parametrize(("width", "height"), [(640, 320), (300, 900), (1201, 599)])
def test_figure_png_decodes_to_the_size_asked_for(client: TestClient, width: int, height: int) -> None:
    params = {"seed": 5, "pins": "10,50;32,8;60,60", "width": width, "height": height, "scale": "uniform"}
    response = client.get(f"{FIGURE}.png", params=params)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == (width, height)


def test_figure_svg_carries_the_caption(client: TestClient) -> None:
    params = {"seed": 5, "pins": "10,50; 32,8", "layer": "attn1", "direction": "column", "scale": "log"}
    response = client.get(f"{FIGURE}.svg", params=params)
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    text = "".join(ET.fromstring(response.content).itertext())
    for part in ("model tiny", "layer attn1", "seed 5", "direction column", "scale log", "(10, 50)", "(32, 8)"):
        assert part in text, part
    assert "log10(attention / uniform)" in text


def test_figure_outlines_each_pins_top_mass_set_and_says_so(client: TestClient) -> None:
    service = client.app.state.models["tiny"]
    pins = [(10, 50), (32, 8)]
    sample = service.sample(5)
    view = FigureView(
        model="tiny",
        layer="attn2",
        seed=5,
        query_grid=32,
        key_grid=32,
        direction="row",
        scale=Scale.relative,
        contrast=FigureContrast.none,
        colormap="viridis",
        mass=50.0,
    )
    spec = figure_spec(sample.image, sample.attention["attn2"], pins, view)
    for (x, y), pin in zip(pins, spec.pins, strict=True):
        values, _ = attention_slice(sample.attention["attn2"], x, y, "row", 64, 32, 32)
        assert list(pin.outline) == mask_outline(top_mass_mask(values, 50.0), cell_size=2.0)
        assert pin.outline
    assert not any(
        pin.outline for pin in figure_spec(sample.image, sample.attention["attn2"], pins, replace(view, mass=0)).pins
    )

    params = {"seed": 5, "pins": "10,50;32,8", "mass": 50}
    text = "".join(ET.fromstring(client.get(f"{FIGURE}.svg", params=params).content).itertext())
    assert "holding 50 % of each pin's attention" in text
    assert client.get(f"{FIGURE}.svg", params={**params, "mass": 101}).status_code == 422


def test_the_figure_scales_each_pin_as_the_page_does(client: TestClient) -> None:
    service = client.app.state.models["tiny"]
    sample = service.sample(12)
    matrix = sample.attention["attn2"]
    pins = [(10, 50), (32, 8)]
    view = FigureView("tiny", "attn2", 12, 32, 32, "row", Scale.relative, FigureContrast.none, "viridis", mass=50.0)
    spec = figure_spec(sample.image, matrix, pins, view)
    assert not spec.shared
    for (x, y), pin in zip(pins, spec.pins, strict=True):
        values, _ = attention_slice(matrix, x, y, "row", 64, 32, 32)
        assert (pin.low, pin.high) == (0.0, float(values.max()))
    shared = figure_spec(sample.image, matrix, pins, replace(view, scale=Scale.absolute))
    assert shared.shared and (shared.low, shared.high) == (0.0, float(matrix.max()))
    logged = figure_spec(sample.image, matrix, pins, replace(view, scale=Scale.log))
    assert all(pin.high - pin.low == pytest.approx(4.0) for pin in logged.pins)
    assert len({pin.high for pin in logged.pins}) == 2, "each pin keeps its own top decades"
    assert "top mass 50 %" in caption(spec) and "each map on its own colour range" in caption(spec)


def test_a_column_nobody_looks_at_gets_no_outline_rather_than_an_error() -> None:
    matrix = np.full((1024, 1024), 1 / 1024, dtype=np.float32)
    matrix[:, 0] = 0.0  # key cell 0: no query looks at it
    view = FigureView("tiny", "attn2", 5, 32, 32, "column", Scale.relative, FigureContrast.none, "viridis", mass=50.0)
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    spec = figure_spec(image, matrix, [(0, 0), (40, 40)], view)
    assert list(spec.pins[0].outline) == [] and spec.pins[1].outline


def test_figure_with_a_contrast_names_its_formula(client: TestClient) -> None:
    params = {"seed": 5, "pins": "10,50", "contrast": "difference"}
    text = "".join(ET.fromstring(client.get(f"{FIGURE}.svg", params=params).content).itertext())
    assert "scale contrast difference" in text and "A[i,j] - abar[j]" in text


@pytest.mark.parametrize(
    "path",
    [
        "/7/ablation.png?layer=attn1",
        "/7/ablation-difference.png",
        "/7/effect",
        "/7/contrast.f32?x=3&y=9&mode=difference",
    ],
)
def test_new_sample_routes_revalidate_against_the_weights(client: TestClient, path: str) -> None:
    first = client.get(BASE + path)
    assert first.status_code == 200 and first.headers["cache-control"] == "no-cache"
    unchanged = client.get(BASE + path, headers={"If-None-Match": first.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert client.get(BASE + path, headers={"If-None-Match": '"other"'}).content == first.content


@pytest.mark.parametrize("suffix", ["png?width=400&height=200", "svg"])
def test_figures_revalidate_and_never_skip_input_checks(client: TestClient, suffix: str) -> None:
    url = f"{FIGURE}.{suffix}{'&' if '?' in suffix else '?'}seed=1&pins=1,1"
    etag = client.get(url).headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url.replace("pins=1,1", "pins=1,99"), headers={"If-None-Match": etag}).status_code == 422


def test_a_bad_colormap_is_refused_even_when_revalidating(client: TestClient) -> None:
    url = f"{BASE}/2/ablation-difference.png"
    etag = client.get(url).headers["etag"]
    assert client.get(f"{url}?colormap=zzz", headers={"If-None-Match": etag}).status_code == 422


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        (f"{BASE}/1/ablation.png?layer=attn9", "unknown layer 'attn9'"),
        (f"{BASE}/1/ablation-difference.png?colormap=zzz", "unknown colormap 'zzz'"),
        (f"{BASE}/1/effect?layer=attn9", "unknown layer 'attn9'"),
        (f"{BASE}/1/contrast.f32?x=1&y=1&mode=quotient", "'ratio' or 'difference'"),
        (f"{BASE}/1/contrast.f32?x=64&y=1", "x must be below the image size 64"),
        (f"{BASE}/1/contrast.f32?x=1&y=1&direction=diagonal", "'row' or 'column'"),
        (f"{BASE}/1/ablation.png?class=3", "unconditional"),
        (f"{FIGURE}.png?seed=1", "pins"),
        (f"{FIGURE}.png?pins=1,1", "seed"),
        (f"{FIGURE}.png?seed=1&pins=", "pin 1 ('') is not"),
        (f"{FIGURE}.png?seed=1&pins=1,1;", "pin 2 ('') is not"),
        (f"{FIGURE}.png?seed=1&pins=a,b", "pin 1 ('a,b') is not"),
        (f"{FIGURE}.png?seed=1&pins=3,4;64,0", "pin 2 (64, 0) lies outside the 64×64 image"),
        (f"{FIGURE}.png?seed=1&pins=" + ";".join(["1,1"] * 11), "give 1..10 pins"),
        (f"{FIGURE}.png?seed=1&pins=1,1&width=100", "greater than or equal to 200"),
        (f"{FIGURE}.png?seed=1&pins=1,1&height=5000", "less than or equal to 4096"),
        (f"{FIGURE}.png?seed=1&pins=1,1&width=1000&height=200", "factor of 4 at most"),
        (f"{FIGURE}.png?seed=1&pins=1,1&scale=linear", "'relative', 'absolute', 'uniform' or 'log'"),
        (f"{FIGURE}.svg?seed=1&pins=1,1&contrast=zzz", "'none', 'ratio' or 'difference'"),
        (f"{FIGURE}.svg?seed=1&pins=1,1&colormap=zzz", "unknown colormap 'zzz'"),
        (f"{FIGURE}.svg?seed=4294967296&pins=1,1", "less than 4294967296"),
    ],
)
def test_bad_input_gets_a_422_that_says_what_to_fix(client: TestClient, url: str, fragment: str) -> None:
    response = client.get(url)
    assert response.status_code == 422
    assert fragment in response.text


def test_openapi_documents_the_new_routes_and_the_formulas(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("ablation.png", "ablation-difference.png", "effect", "contrast.f32"):
        assert f"/api/models/{{model}}/samples/{{seed}}/{path}" in paths, path
    assert "/api/models/{model}/figure.png" in paths and "/api/models/{model}/figure.svg" in paths
    contrast_doc = paths["/api/models/{model}/samples/{seed}/contrast.f32"]["get"]["description"]
    assert "Aᵢⱼ / āⱼ" in contrast_doc and "Aᵢⱼ − āⱼ" in contrast_doc
    assert "‖γ·o‖₂ / ‖x‖₂" in paths["/api/models/{model}/samples/{seed}/effect"]["get"]["description"]
