from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.geometry import AttentionLayer, cell_bounds, cell_centres, pixel_to_cell, with_gammas
from models.sagan import Generator, generator_attention_layers


@pytest.mark.parametrize(
    ("x", "y", "grid", "expected"),
    [
        ((0, 0, 32, (0, 0, 0))),
        ((63, 0, 32, (0, 31, 31))),
        ((0, 63, 32, (31, 0, 992))),
        ((63, 63, 32, (31, 31, 1023))),
        ((32, 32, 32, (16, 16, 528))),
        ((31, 31, 32, (15, 15, 495))),
        ((0, 0, 16, (0, 0, 0))),
        ((63, 63, 16, (15, 15, 255))),
        ((32, 32, 16, (8, 8, 136))),
        ((33, 35, 16, (8, 8, 136))),
    ],
)
def test_pixel_to_cell_at_corners_and_centre(x: int, y: int, grid: int, expected: tuple[int, int, int]) -> None:
    assert pixel_to_cell(x, y, 64, grid) == expected


@pytest.mark.parametrize(("x", "y"), [(-1, 0), (0, 64), (64, 64)])
def test_pixel_outside_the_image_is_rejected(x: int, y: int) -> None:
    with pytest.raises(ValueError, match="outside the 64×64 image"):
        pixel_to_cell(x, y, 64, 32)


@given(st.integers(0, 63), st.integers(0, 63), st.sampled_from([1, 2, 4, 8, 16, 32, 64]))
def test_a_pixel_lies_inside_its_cell(x: int, y: int, grid: int) -> None:
    row, col, index = pixel_to_cell(x, y, 64, grid)
    assert 0 <= index < grid * grid and index == row * grid + col
    x0, y0, x1, y1 = cell_bounds(row, col, 64, grid)
    assert x0 <= x < x1 and y0 <= y < y1
    assert (x1 - x0, y1 - y0) == (64 // grid, 64 // grid)


@pytest.mark.parametrize(("grid", "image_size"), [(2, 64), (16, 64), (32, 64)])
def test_cell_centres_lie_inside_their_cells_in_flat_order(grid: int, image_size: int) -> None:
    centres = cell_centres(grid, image_size)
    assert centres.shape == (grid * grid, 2)
    for index, (x, y) in enumerate(centres):
        row, col, flat = pixel_to_cell(int(x), int(y), image_size, grid)
        assert flat == index
        x0, y0, x1, y1 = cell_bounds(row, col, image_size, grid)
        assert (x, y) == ((x0 + x1) / 2, (y0 + y1) / 2)
    np.testing.assert_array_equal(cell_centres(2, 64), [[16, 16], [48, 16], [16, 48], [48, 48]])


def test_layers_carry_the_generators_gamma(generator: Generator) -> None:
    layers = with_gammas(generator, generator_attention_layers(generator.config))
    assert all(isinstance(layer, AttentionLayer) for layer in layers)
    assert [(layer.name, layer.query_grid, layer.key_grid) for layer in layers] == [
        ("attn1", 16, 16),
        ("attn2", 32, 32),
    ]
    assert [layer.gamma for layer in layers] == pytest.approx([0.5, -0.7])
    assert layers[1].to_dict(64)["pixels_per_query_cell"] == 2
