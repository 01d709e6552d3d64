from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from app import render
from app.render import Direction


def _matrix(query_grid: int, key_grid: int, seed: int = 0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(query_grid**2, key_grid**2))
    weights = np.exp(logits)
    return (weights / weights.sum(1, keepdims=True)).astype(np.float32)


def test_row_lies_on_the_key_grid_and_column_on_the_query_grid() -> None:
    matrix = _matrix(query_grid=32, key_grid=16)
    row, index = render.attention_slice(matrix, 10, 20, Direction.row, 64, 32, 16)
    assert index == 10 * 32 + 5 and row.shape == (16, 16)
    np.testing.assert_array_equal(row.ravel(), matrix[index])
    assert row.sum() == pytest.approx(1.0, abs=1e-5)

    column, key_index = render.attention_slice(matrix, 10, 20, Direction.column, 64, 32, 16)
    assert key_index == 5 * 16 + 2 and column.shape == (32, 32)
    np.testing.assert_array_equal(column.ravel(), matrix[:, key_index])


@given(st.lists(st.floats(0, 1e3, allow_nan=False, width=32), min_size=4, max_size=64))
def test_display_scaling_maps_the_maximum_to_one(values: list[float]) -> None:
    scaled = render.scale_for_display(np.array(values, dtype=np.float32))
    assert scaled.min() >= 0.0 and scaled.max() <= 1.0
    if max(values) > 0:
        assert scaled.max() == pytest.approx(1.0)
    else:
        assert scaled.max() == 0.0


def test_colormap_lut_matches_matplotlib_and_rejects_unknown_names() -> None:
    lut = render.colormap_lut("viridis")
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert tuple(lut[0]) == (68, 1, 84) and tuple(lut[255]) == (253, 231, 37)
    assert not np.array_equal(render.colormap_lut("magma"), lut)
    with pytest.raises(KeyError):
        render.colormap_lut("no-such-map")


@given(
    st.integers(1, 32),
    st.integers(8, 200),
    st.floats(0, 1),
    st.booleans(),
    st.sampled_from(["viridis", "gray", "magma"]),
)
def test_rendered_heatmaps_have_the_asked_size_and_decode(
    side: int, size: int, opacity: float, overlay: bool, colormap: str
) -> None:
    values = np.random.default_rng(side).random((side, side)).astype(np.float32)
    image = np.full((64, 64, 3), 200, dtype=np.uint8) if overlay else None
    rgb = render.render_heatmap(values, render.colormap_lut(colormap), size, image, opacity, marker=(0, 0, 2, 2))
    assert rgb.shape == (size, size, 3) and rgb.dtype == np.uint8
    decoded = np.asarray(Image.open(io.BytesIO(render.encode_png(rgb))))
    np.testing.assert_array_equal(decoded, rgb)


def test_heatmap_pixels_are_the_lut_colours_of_the_scaled_values() -> None:
    values = np.array([[0.0, 0.5], [0.25, 1.0]], dtype=np.float32) * 3e-3
    lut = render.colormap_lut("gray")
    rgb = render.render_heatmap(values, lut, size=2)
    assert rgb[:, :, 0].tolist() == [[0, 128], [64, 255]]


def test_blend_weights_heat_by_opacity() -> None:
    image = np.zeros((2, 2, 3), np.uint8)
    heat = np.full((2, 2, 3), 200, np.uint8)
    assert render.blend(image, heat, 0.25)[0, 0, 0] == 50
    assert render.blend(image, heat, 0.0)[0, 0, 0] == 0
