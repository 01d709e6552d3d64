"""Class-conditional models through the API: class and truncation parameters, and the compact transfer."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app import render
from models.imagenet import imagenet_class_names
from models.registry import load

BASE = "/api/models/big/samples"


def decode(response_bytes: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response_bytes)).convert("RGB"))


def test_models_lists_classes_truncation_and_layers(biggan_client: TestClient) -> None:
    (model,) = biggan_client.get("/api/models").json()["models"]
    assert model["family"] == "biggan-deep" and model["image_size"] == 32
    assert model["classes"] == list(imagenet_class_names()) and model["classes"][1] == "goldfish"
    assert model["truncation"] == {"low": 0.0, "high": 1.0, "low_excluded": True, "default": 0.4}
    (layer,) = model["layers"]
    assert (layer["name"], layer["query_grid"], layer["key_grid"], layer["channels"]) == (
        "generator.layers.3",
        16,
        8,
        32,
    )
    assert layer["gamma"] == pytest.approx(0.8)


def test_an_unconditional_model_lists_no_classes(client: TestClient) -> None:
    (model,) = client.get("/api/models").json()["models"]
    assert model["classes"] is None and model["truncation"] is None


def test_sample_is_the_registry_image_of_seed_class_and_truncation(
    biggan_client: TestClient, biggan_folder: Path
) -> None:
    model = load(biggan_folder)
    image, maps = model.capture(3, 1, 0.7)
    shown = decode(biggan_client.get(f"{BASE}/3.png?class=1&truncation=0.7").content)
    assert shown.shape == (32, 32, 3)
    np.testing.assert_array_equal(shown, image)
    by_name = decode(biggan_client.get(f"{BASE}/3.png?class=goldfish&truncation=0.7").content)
    np.testing.assert_array_equal(by_name, image)
    other_class = decode(biggan_client.get(f"{BASE}/3.png?class=2&truncation=0.7").content)
    other_truncation = decode(biggan_client.get(f"{BASE}/3.png?class=1&truncation=0.3").content)
    assert np.abs(other_class.astype(int) - image).max() > 8
    assert np.abs(other_truncation.astype(int) - image).max() > 8

    body = biggan_client.get(f"{BASE}/3/attention?class=goldfish&truncation=0.7&x=20&y=9").json()
    assert (body["class"], body["truncation"]) == (1, 0.7)
    row = 9 * 16 // 32 * 16 + 20 * 16 // 32
    np.testing.assert_allclose(np.array(body["values"]).ravel(), maps["generator.layers.3"][row], rtol=0, atol=1e-7)


def test_defaults_are_class_0_and_the_models_truncation(biggan_client: TestClient) -> None:
    default = biggan_client.get(f"{BASE}/4.png").content
    assert default == biggan_client.get(f"{BASE}/4.png?class=0&truncation=0.4").content


def test_names_are_case_sensitive_first(biggan_client: TestClient) -> None:
    corgi = biggan_client.get(f"{BASE}/0/attention?class=Cardigan&x=0&y=0").json()
    sweater = biggan_client.get(f"{BASE}/0/attention?class=cardigan&x=0&y=0").json()
    assert (corgi["class"], sweater["class"]) == (264, 474)


@pytest.mark.parametrize(
    ("query", "where", "fragment"),
    [
        ("class=1000", "class", "class index must be in 0..999, got 1000"),
        ("class=-1", "class", "names no class"),
        ("class=no%20such%20animal", "class", "'no such animal' names no class"),
        ("truncation=0", "truncation", "greater than 0"),
        ("truncation=1.01", "truncation", "less than or equal to 1"),
        ("truncation=nan", "truncation", ""),
        ("truncation=-inf", "truncation", "greater than 0"),
    ],
)
@pytest.mark.parametrize("route", ["7.png", "7/heatmap.png?x=1&y=1", "7/attention?x=1&y=1", "7/slices.u8"])
def test_class_and_truncation_out_of_bounds_get_422(
    biggan_client: TestClient, route: str, query: str, where: str, fragment: str
) -> None:
    joiner = "&" if "?" in route else "?"
    response = biggan_client.get(f"{BASE}/{route}{joiner}{query}")
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", where] and fragment in error["msg"]


@pytest.mark.parametrize("query", ["class=1", "class=goldfish", "truncation=0.5"])
def test_an_unconditional_model_refuses_class_and_truncation(client: TestClient, query: str) -> None:
    response = client.get(f"/api/models/tiny/samples/1/attention?x=1&y=1&{query}")
    assert response.status_code == 422
    assert "no class" in response.text or "no truncation" in response.text


def test_pixels_are_bounded_by_the_models_image_size(biggan_client: TestClient) -> None:
    assert biggan_client.get(f"{BASE}/1/attention?x=31&y=31").status_code == 200
    response = biggan_client.get(f"{BASE}/1/attention?x=32&y=0")
    assert response.status_code == 422 and "below the image size 32" in response.text


@pytest.mark.parametrize("direction", ["row", "column"])
def test_raw_slice_is_the_json_slice(biggan_client: TestClient, direction: str) -> None:
    query = f"class=5&truncation=0.5&x=13&y=27&direction={direction}"
    response = biggan_client.get(f"{BASE}/2/slice.f32?{query}")
    values = np.frombuffer(response.content, dtype="<f4")
    expected = np.array(biggan_client.get(f"{BASE}/2/attention?{query}").json()["values"], dtype=np.float32)
    side = 8 if direction == "row" else 16  # a row lies on the 8×8 key grid, a column on the 16×16 query grid
    assert values.shape == (side * side,) and response.headers["x-grid"] == str(side)
    np.testing.assert_array_equal(values, expected.ravel())
    assert response.headers["server-timing"].startswith("generate;dur=")


def decode_compact(body: bytes, count: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    scales = np.frombuffer(body[: 4 * count], dtype="<f4")
    quantised = np.frombuffer(body[4 * count :], dtype=np.uint8).reshape(count, length)
    return scales, quantised


@pytest.mark.parametrize(("direction", "count", "length"), [("row", 256, 64), ("column", 64, 256)])
def test_compact_slices_hold_every_slice_to_within_half_a_step(
    biggan_client: TestClient, biggan_folder: Path, direction: str, count: int, length: int
) -> None:
    matrix = load(biggan_folder).capture(6, 9, 0.9)[1]["generator.layers.3"]  # (256, 64)
    slices = matrix if direction == "row" else matrix.T
    response = biggan_client.get(
        f"{BASE}/6/slices.u8?class=9&truncation=0.9&direction={direction}", headers={"Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in response.headers
    assert (response.headers["x-slices"], response.headers["x-slice-length"]) == (str(count), str(length))
    assert len(response.content) == count * 4 + count * length
    scales, quantised = decode_compact(response.content, count, length)
    np.testing.assert_array_equal(scales, slices.max(axis=1))
    error = np.abs(quantised * scales[:, None] / 255 - slices)
    assert (error <= scales[:, None] / 510 + 1e-7).all()
    # q is the colour-table index the heatmap PNG uses for that slice
    lut_index = render.lut_indices(render.scale_for_display(slices[37]))
    np.testing.assert_array_equal(quantised[37], lut_index)


def test_compact_slices_are_gzipped_when_accepted_with_their_own_etag(biggan_client: TestClient) -> None:
    url = f"{BASE}/6/slices.u8?class=9&truncation=0.9"
    plain = biggan_client.get(url, headers={"Accept-Encoding": "identity"})
    zipped = biggan_client.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == plain.content  # httpx decodes it
    assert zipped.headers["etag"] != plain.headers["etag"]
    revalidated = biggan_client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]})
    assert revalidated.status_code == 304
    crossed = biggan_client.get(url, headers={"Accept-Encoding": "identity", "If-None-Match": zipped.headers["etag"]})
    assert crossed.status_code == 200
    assert len(gzip.compress(plain.content, compresslevel=1)) < len(plain.content)


def test_a_class_name_that_mentions_truncation_is_still_a_class_error(biggan_client: TestClient) -> None:
    response = biggan_client.get(f"{BASE}/1.png?class=truncation")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "class"]


def test_analysis_routes_take_class_and_truncation(biggan_client: TestClient) -> None:
    means = biggan_client.get("/api/models/big/effect-means").json()
    assert means["class"] == 0 and means["truncation"] > 0 and means["layers"]["generator.layers.3"] > 0
    params = {"class": "goldfish", "truncation": 0.5}
    effect = biggan_client.get(f"{BASE}/3/effect", params=params).json()
    assert effect["query_grid"] == 16 and len(effect["values"]) == 256
    other = biggan_client.get(f"{BASE}/3/effect", params={**params, "class": 2}).json()
    assert effect["values"] != other["values"]
    ablated = biggan_client.get(f"{BASE}/3/ablation.png", params=params)
    assert decode(ablated.content).shape == (32, 32, 3)
    assert ablated.content != biggan_client.get(f"{BASE}/3.png", params=params).content
    row = biggan_client.get(f"{BASE}/3/contrast.f32", params={**params, "x": 31, "y": 0})
    assert row.headers["x-grid"] == "8" and len(row.content) == 64 * 4 and row.headers["x-cell"] == "15"
    figure = biggan_client.get("/api/models/big/figure.svg", params={**params, "seed": 3, "pins": "1,1"})
    assert "class 1 (goldfish) · truncation 0.5" in figure.text


def test_downloads_name_the_class_and_truncation(biggan_client: TestClient) -> None:
    matrix = biggan_client.get(f"{BASE}/4/attention.npy?class=3&truncation=0.5")
    figure = biggan_client.get("/api/models/big/figure.svg?seed=4&class=3&truncation=0.5&pins=1,1")
    assert matrix.status_code == figure.status_code == 200
    (layer,) = [layer["name"] for layer in biggan_client.get("/api/models").json()["models"][0]["layers"]]
    assert matrix.headers["content-disposition"] == f'attachment; filename="big-4-class3-truncation0.5-{layer}.npy"'
    assert figure.headers["content-disposition"] == f'inline; filename="big-4-class3-truncation0.5-{layer}-row.svg"'
