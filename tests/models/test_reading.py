from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from models.reading import (
    LOG_DECADES,
    Contrast,
    Scale,
    average_row,
    column_contrast,
    mask_outline,
    row_contrast,
    scale_slice,
    top_cells,
    top_mass_mask,
)

ROW = np.array([[0.1, 0.2], [0.3, 0.4]])  # a row over a 2×2 key grid, M = 4


def smallest_set_size(values: np.ndarray, share: float) -> int:
    """By brute force: the fewest cells whose values sum to at least `share` of the total."""
    target = share * values.sum()
    for size in range(1, values.size + 1):
        if any(sum(combo) >= target for combo in itertools.combinations(values.tolist(), size)):
            return size
    raise AssertionError("unreachable: all cells hold the whole mass")


def test_top_mass_set_is_the_smallest_set_holding_p_percent() -> None:
    rng = np.random.default_rng(0)
    for trial in range(60):
        values = rng.dirichlet(np.full(8, 0.5)).reshape(2, 4)
        percent = float(rng.uniform(5, 100))
        mask = top_mass_mask(values, percent)
        assert mask.shape == values.shape and mask.dtype == bool
        assert values[mask].sum() >= percent / 100 * values.sum() - 1e-12, trial
        assert mask.sum() == smallest_set_size(values.ravel(), percent / 100), trial
        assert values[mask].min() >= values[~mask].max(initial=0.0), "the set must hold the largest cells"


def test_top_mass_set_on_a_hand_made_row() -> None:
    row = np.array([0.05, 0.5, 0.15, 0.3])
    assert top_mass_mask(row, 40).tolist() == [False, True, False, False]
    assert top_mass_mask(row, 60).tolist() == [False, True, False, True]
    assert top_mass_mask(row, 81).tolist() == [False, True, True, True]
    assert top_mass_mask(row, 100).tolist() == [True, True, True, True]
    assert top_mass_mask(np.array([0.0, 1.0, 0.0]), 100).tolist() == [False, True, False]
    with pytest.raises(ValueError, match="percent"):
        top_mass_mask(row, 0)


def test_relative_and_absolute_scales() -> None:
    relative = scale_slice(ROW, Scale.relative)
    assert (relative.low, relative.high) == (0.0, 0.4)
    np.testing.assert_allclose(relative.display, ROW / 0.4, rtol=1e-6)
    np.testing.assert_array_equal(relative.quantity, ROW)

    absolute = scale_slice(ROW, Scale.absolute, shared_max=0.8)
    assert (absolute.low, absolute.high) == (0.0, 0.8)
    np.testing.assert_allclose(absolute.display, ROW / 0.8, rtol=1e-6)
    assert scale_slice(ROW, Scale.absolute, shared_max=0.2).display.max() == 1.0  # clipped
    with pytest.raises(ValueError, match="shared maximum"):
        scale_slice(ROW, Scale.absolute)


def test_uniform_and_log_scales_are_relative_to_one_over_m() -> None:
    uniform = scale_slice(ROW, Scale.uniform, key_count=4)
    np.testing.assert_allclose(uniform.quantity, [[0.4, 0.8], [1.2, 1.6]])
    assert uniform.high == pytest.approx(1.6)
    np.testing.assert_allclose(uniform.display, [[0.25, 0.5], [0.75, 1.0]], rtol=1e-6)

    log = scale_slice(np.array([[0.0, 0.025], [0.25, 0.725]]), Scale.log, key_count=4)
    assert log.quantity[1, 0] == pytest.approx(0.0)  # 0.25 = 1/M: uniform
    assert log.quantity[0, 1] == pytest.approx(-1.0)  # a tenth of uniform
    assert log.quantity[0, 0] == -math.inf and log.display[0, 0] == 0.0
    assert log.high == pytest.approx(math.log10(2.9)) and log.low == pytest.approx(log.high - LOG_DECADES)
    assert log.display[1, 1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="key cells"):
        scale_slice(ROW, Scale.log)


def test_contrast_of_a_row_against_the_average_row() -> None:
    matrix = np.array([[0.9, 0.1], [0.5, 0.5], [0.3, 0.7], [0.1, 0.9]])  # N = 4 queries, M = 2 keys
    np.testing.assert_allclose(average_row(matrix), [0.45, 0.55])
    np.testing.assert_allclose(row_contrast(matrix, 0, Contrast.ratio), [2.0, 0.1 / 0.55])
    np.testing.assert_allclose(row_contrast(matrix, 0, Contrast.difference), [0.45, -0.45])


def test_contrast_of_a_column_lies_on_the_query_grid() -> None:
    matrix = np.array([[0.9, 0.1], [0.5, 0.5], [0.3, 0.7], [0.1, 0.9]])
    ratio = column_contrast(matrix, 1, Contrast.ratio)
    assert ratio.shape == (4,)  # one entry per query cell (a 2×2 query grid)
    np.testing.assert_allclose(ratio, np.array([0.1, 0.5, 0.7, 0.9]) / 0.55)
    np.testing.assert_allclose(column_contrast(matrix, 1, Contrast.difference), [-0.45, -0.05, 0.15, 0.35])
    assert ratio.mean() == pytest.approx(1.0)


def test_contrast_ratio_is_one_where_the_average_is_zero() -> None:
    matrix = np.array([[1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(row_contrast(matrix, 0, Contrast.ratio), [1.0, 1.0])


def test_top_cells_carry_their_grid_cell_and_pixels() -> None:
    values = np.array([[0.1, 0.4], [0.4, 0.1]])  # a 2×2 grid under a 64×64 image: 32 px cells
    cells = top_cells(values, 3, image_size=64)
    assert [(c.rank, c.index, c.row, c.col, c.value) for c in cells] == [
        (1, 1, 0, 1, 0.4),
        (2, 2, 1, 0, 0.4),
        (3, 0, 0, 0, 0.1),
    ]
    assert cells[0].pixels == (32, 0, 64, 32)

    key_row = np.zeros((16, 16))
    key_row[3, 5] = 1.0  # a row on a 16×16 key grid: 4 px cells
    column = np.zeros((32, 32))
    column[3, 5] = 1.0  # a column on a 32×32 query grid: 2 px cells
    assert top_cells(key_row, 1, 64)[0].pixels == (20, 12, 24, 16)
    assert top_cells(column, 1, 64)[0].pixels == (10, 6, 12, 8)


def test_mask_outline_traces_the_boundary() -> None:
    single = np.zeros((4, 4), dtype=bool)
    single[1, 2] = True
    segments = mask_outline(single, cell_size=16)
    assert sorted(segments) == sorted(
        [((32, 16), (48, 16)), ((32, 32), (48, 32)), ((32, 16), (32, 32)), ((48, 16), (48, 32))]
    )
    pair = single.copy()
    pair[1, 3] = True
    assert len(mask_outline(pair)) == 6  # the shared edge is inside
