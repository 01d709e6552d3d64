from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from app import render
from models.checkpoint import load_checkpoint
from models.imaging import to_uint8
from models.sagan import Generator, SAGANConfig, sample_latents

HandAttention = tuple[Callable[..., dict[str, torch.Tensor]], Callable[..., torch.Tensor]]

ByHand = Callable[[int], tuple[np.ndarray, dict[str, np.ndarray]]]

BASE = "/api/models/tiny/samples"


@pytest.fixture
def by_hand(checkpoint_path: Path, hand_attention: HandAttention) -> ByHand:
    """Image and attention of one seed, from the checkpoint file, with no hooks and no server code."""
    features_entering, attention_by_hand = hand_attention
    generator = load_checkpoint(checkpoint_path).generator

    def compute(seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        z = sample_latents([seed], generator.config.z_dim)
        with torch.no_grad():
            image = generator(z)[0]
            inputs = features_entering(generator, z)
            maps = {name: attention_by_hand(getattr(generator, name), inputs[name])[0].numpy() for name in inputs}
        return to_uint8(image), maps

    return compute


def decode(response_bytes: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response_bytes)).convert("RGB"))


def test_models_lists_layers_with_grids_and_gamma(client: TestClient) -> None:
    body = client.get("/api/models").json()
    assert body["default"] == "tiny"
    (model,) = body["models"]
    assert model["default_layer"] == "attn2"
    assert [(layer["name"], layer["query_grid"], layer["key_grid"]) for layer in model["layers"]] == [
        ("attn1", 16, 16),
        ("attn2", 32, 32),
    ]
    assert [layer["gamma"] for layer in model["layers"]] == pytest.approx([0.5, -0.7])
    assert model["training"]["attribution"] == "made in the test"


def test_sample_png_is_the_generated_image(client: TestClient, by_hand: ByHand) -> None:
    response = client.get(f"{BASE}/11.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    expected, _ = by_hand(11)
    np.testing.assert_array_equal(decode(response.content), expected)
    assert decode(client.get(f"{BASE}/11.png?size=256").content).shape == (256, 256, 3)


@pytest.mark.parametrize("layer", ["attn1", "attn2"])
@pytest.mark.parametrize("direction", ["row", "column"])
def test_attention_json_matches_a_forward_pass_by_hand(
    client: TestClient, by_hand: ByHand, layer: str, direction: str
) -> None:
    x, y = 45, 7
    body = client.get(f"{BASE}/4/attention", params={"layer": layer, "x": x, "y": y, "direction": direction}).json()
    _, maps = by_hand(4)
    grid = 16 if layer == "attn1" else 32
    index = (y * grid // 64) * grid + x * grid // 64
    expected = maps[layer][index] if direction == "row" else maps[layer][:, index]
    np.testing.assert_allclose(np.array(body["values"]).ravel(), expected, rtol=1e-4, atol=1e-7)
    assert body["cell"] == {"row": y * grid // 64, "col": x * grid // 64, "index": index, "grid": grid}
    if direction == "row":
        assert body["sum"] == pytest.approx(1.0, abs=1e-5)


def test_default_layer_is_the_last(client: TestClient) -> None:
    body = client.get(f"{BASE}/4/attention", params={"x": 0, "y": 0}).json()
    assert body["layer"] == "attn2" and body["shape"] == [32, 32]


def test_heatmap_png_is_the_coloured_row_computed_by_hand(client: TestClient, by_hand: ByHand) -> None:
    response = client.get(f"{BASE}/9/heatmap.png", params={"x": 20, "y": 50, "colormap": "magma"})
    assert response.status_code == 200
    _, maps = by_hand(9)
    row = maps["attn2"][25 * 32 + 10].reshape(32, 32)
    expected = render.colorize(render.scale_for_display(row), render.colormap_lut("magma"))
    actual = decode(response.content)
    assert actual.shape == (32, 32, 3)
    assert np.abs(actual.astype(int) - expected.astype(int)).max() <= 2


def test_marker_outlines_the_query_cell(client: TestClient) -> None:
    params = {"x": 6, "y": 6, "layer": "attn2", "size": 64, "marker": "true", "colormap": "gray"}
    marked = decode(client.get(f"{BASE}/9/heatmap.png", params=params).content)
    plain = decode(client.get(f"{BASE}/9/heatmap.png", params={**params, "marker": "false"}).content)
    changed = np.argwhere((marked != plain).any(axis=2))
    # cell (row 3, col 3) of the 32×32 grid covers pixels 6–7; the outline is drawn on it, rim one pixel out
    assert changed.min(axis=0).tolist() == [5, 5] and changed.max(axis=0).tolist() == [8, 8]


def test_heatmap_overlay_blends_over_the_sample(client: TestClient, by_hand: ByHand) -> None:
    params = {"x": 1, "y": 1, "layer": "attn1", "overlay": "true", "opacity": 0.0}
    transparent = decode(client.get(f"{BASE}/9/heatmap.png", params=params).content)
    image, _ = by_hand(9)
    np.testing.assert_array_equal(transparent, image)
    opaque = decode(client.get(f"{BASE}/9/heatmap.png", params={**params, "opacity": 1.0, "size": 128}).content)
    assert opaque.shape == (128, 128, 3) and not np.array_equal(opaque[::2, ::2], image)


def test_full_matrix_npy_matches_by_hand(client: TestClient, by_hand: ByHand) -> None:
    response = client.get(f"{BASE}/2/attention.npy", params={"layer": "attn1"})
    matrix = np.load(io.BytesIO(response.content))
    _, maps = by_hand(2)
    assert matrix.shape == (256, 256) and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix, maps["attn1"], rtol=1e-4, atol=1e-7)


def test_raw_float32_matrix_for_the_page(client: TestClient, by_hand: ByHand) -> None:
    response = client.get(f"{BASE}/2/attention.f32")
    assert response.headers["x-query-grid"] == "32" and response.headers["x-key-grid"] == "32"
    matrix = np.frombuffer(response.content, dtype="<f4").reshape(1024, 1024)
    _, maps = by_hand(2)
    np.testing.assert_allclose(matrix, maps["attn2"], rtol=1e-4, atol=1e-7)


def test_colormap_lut_endpoint(client: TestClient) -> None:
    body = client.get("/api/colormaps/viridis").json()
    assert len(body["lut"]) == 256 and body["lut"][0] == [68, 1, 84]
    assert "magma" in client.get("/api/colormaps").json()["colormaps"]


def test_same_seed_same_image_across_app_restarts(client: TestClient, checkpoint_path: Path) -> None:
    from app.main import create_app
    from app.settings import Settings

    first = client.get(f"{BASE}/123.png").content
    with TestClient(create_app(Settings(checkpoint=checkpoint_path, model_name="tiny"))) as other:
        assert other.get(f"{BASE}/123.png").content == first


@pytest.mark.parametrize(
    "path",
    ["/7.png", "/7/heatmap.png?x=5&y=9", "/7/attention.npy?layer=attn1", "/7/attention.f32?layer=attn2"],
)
def test_cached_responses_revalidate_against_the_weights(
    client: TestClient,
    checkpoint_path: Path,
    tmp_path: Path,
    path: str,
    tiny_config: SAGANConfig,
    make_generator: Callable[..., Generator],
) -> None:
    from app.main import create_app
    from app.settings import Settings
    from models.checkpoint import save_checkpoint

    first = client.get(BASE + path)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-cache"
    etag = first.headers["etag"]
    unchanged = client.get(BASE + path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert client.get(BASE + path, headers={"If-None-Match": '"other"'}).content == first.content

    retrained = tmp_path / "retrained" / "tiny.pt"
    retrained.parent.mkdir()
    save_checkpoint(retrained, tiny_config, make_generator(seed=5), None, {"steps": 4, "data": "test data"})
    with TestClient(create_app(Settings(checkpoint=retrained, model_name="tiny"))) as other:
        fresh = other.get(BASE + path, headers={"If-None-Match": etag})
        assert fresh.status_code == 200
        assert fresh.headers["etag"] != etag
        assert fresh.content != first.content


def test_revalidation_never_skips_input_checks(client: TestClient) -> None:
    etag = client.get(f"{BASE}/1/heatmap.png?x=1&y=1").headers["etag"]
    response = client.get(f"{BASE}/1/heatmap.png?x=1&y=1&colormap=nope", headers={"If-None-Match": etag})
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("url", "status", "fragment"),
    [
        (f"{BASE}/1/heatmap.png?x=64&y=0", 422, "x must be below the image size 64, got 64"),
        (f"{BASE}/1/heatmap.png?x=9999&y=0", 422, "x must be below the image size 64, got 9999"),
        (f"{BASE}/1/slice.f32?x=0&y=100", 422, "y must be below the image size 64, got 100"),
        (f"{BASE}/1/heatmap.png?x=-1&y=0", 422, "greater than or equal to 0"),
        (f"{BASE}/1/heatmap.png?x=a&y=0", 422, "valid integer"),
        (f"{BASE}/4294967296.png", 422, "less than 4294967296"),
        (f"{BASE}/-1.png", 422, "greater than or equal to 0"),
        (f"{BASE}/1/heatmap.png?x=1&y=1&layer=attn9", 422, "unknown layer 'attn9'"),
        (f"{BASE}/1/heatmap.png?x=1&y=1&direction=diagonal", 422, "'row' or 'column'"),
        (f"{BASE}/1/heatmap.png?x=1&y=1&colormap=nope", 422, "unknown colormap 'nope'"),
        (f"{BASE}/1/heatmap.png?x=1&y=1&opacity=1.5", 422, "less than or equal to 1"),
        (f"{BASE}/1/heatmap.png?x=1&y=1&size=5000", 422, "less than or equal to 1024"),
        (f"{BASE}/1/heatmap.png?x=1&y=1&colormap={'v' * 500}", 422, "at most 64 characters"),
        ("/api/models/nope/samples/1.png", 404, "unknown model 'nope'"),
    ],
)
def test_bad_input_gets_a_4xx_that_says_what_is_allowed(
    client: TestClient, url: str, status: int, fragment: str
) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert fragment in response.text


def test_page_hands_models_to_the_script_through_data_attributes(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert 'data-default-model="tiny"' in response.text
    assert "where this pixel looks" in response.text and "what looks at this pixel" in response.text


def test_openapi_documents_both_directions(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "where this pixel looks" in schema["info"]["description"].lower()
    assert "/api/models/{model}/samples/{seed}/heatmap.png" in schema["paths"]


def test_pooled_key_grid_through_the_api(tmp_path: Path, make_generator: Callable[..., Generator]) -> None:
    from app.main import create_app
    from app.settings import Settings
    from models.checkpoint import save_checkpoint
    from models.sagan import SAGANConfig

    config = SAGANConfig(z_dim=16, g_conv_dim=16, d_conv_dim=16, attn_key_pool=2)
    path = tmp_path / "pooled.pt"
    save_checkpoint(path, config, make_generator(config), None, {"steps": 1})
    with TestClient(create_app(Settings(checkpoint=path, model_name="tiny"))) as client:
        layers = client.get("/api/models").json()["models"][0]["layers"]
        assert [(layer["query_grid"], layer["key_grid"]) for layer in layers] == [(16, 8), (32, 16)]
        row = client.get(f"{BASE}/1/attention", params={"x": 63, "y": 0}).json()
        assert row["shape"] == [16, 16] and row["cell"]["index"] == 31 and row["sum"] == pytest.approx(1.0, abs=1e-5)
        column = client.get(f"{BASE}/1/attention", params={"x": 63, "y": 0, "direction": "column"}).json()
        assert column["shape"] == [32, 32] and column["cell"] == {"row": 0, "col": 15, "index": 15, "grid": 16}
        assert client.get(f"{BASE}/1/heatmap.png", params={"x": 6, "y": 6, "marker": "true"}).status_code == 200
