from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from models.checkpoint import LoadedCheckpoint
from models.families.sagan import sagan_model
from models.metrics import (
    LayerStatistics,
    attention_statistics,
    format_attention_targets,
    mean_attention_distance,
    object_share_ratio,
    query_variation,
    ring_mass_ratio,
    row_entropy_fraction,
)
from models.registry import LoadedModel
from models.sagan import Generator


def as_model(generator: Generator) -> LoadedModel:
    return sagan_model(LoadedCheckpoint(Path("tiny.pt"), generator.config, generator, None))


def test_uniform_attention_has_entropy_one_and_no_query_variation() -> None:
    uniform = torch.full((1, 16, 16), 1 / 16)
    assert row_entropy_fraction(uniform) == pytest.approx(1.0)
    assert query_variation(uniform) == pytest.approx(0.0)


def test_attention_on_self_has_entropy_zero_and_distance_zero() -> None:
    identity = torch.eye(16).unsqueeze(0)
    assert row_entropy_fraction(identity) == pytest.approx(0.0, abs=1e-6)
    assert mean_attention_distance(identity, 4, 4, 64) == pytest.approx(0.0)
    assert query_variation(identity) == pytest.approx(1 - 1 / 16)


def test_distance_is_in_output_pixels() -> None:
    maps = torch.zeros(1, 4, 4)
    maps[0, :, 1] = 1.0  # every query on a 2×2 grid looks at the top-right cell
    # cells are 32 px wide: from cell 0 to cell 1 is 32 px; from cell 2 (bottom left) it is 32·√2
    expected = (32 + 0 + 32 * math.sqrt(2) + 32) / 4
    assert mean_attention_distance(maps, 2, 2, 64) == pytest.approx(expected)


def test_statistics_of_a_generator(generator: Generator) -> None:
    stats = attention_statistics(as_model(generator), seeds=range(3), batch_size=2)
    assert [(s.name, s.query_grid, s.seeds) for s in stats] == [("attn1", 16, 3), ("attn2", 32, 3)]
    assert all(0.0 < s.entropy_fraction < 1.0 and s.mean_distance_px > 0 for s in stats)


def test_ring_mass_ratio_is_one_for_uniform_rows_and_counts_only_the_border() -> None:
    uniform = torch.full((2, 4, 16), 1 / 16)  # 4×4 key grid: 12 ring cells of 16
    assert ring_mass_ratio(uniform, 4) == pytest.approx(1.0)
    centre = torch.zeros(1, 4, 16)
    centre[..., 5] = 1.0  # cell (1, 1) is inside the ring
    assert ring_mass_ratio(centre, 4) == pytest.approx(0.0)
    corner = torch.zeros(1, 4, 16)
    corner[..., 0] = 1.0
    assert ring_mass_ratio(corner, 4) == pytest.approx(16 / 12)


def test_object_share_ratio_compares_attention_on_the_object_with_its_area() -> None:
    images = torch.ones(1, 3, 64, 64)  # white background
    images[:, :, :32, :32] = -1.0  # a black object filling the top-left quarter
    on_object = torch.zeros(1, 4, 4)  # 2×2 query and key grids: cell 0 is the object
    on_object[0, :, 0] = 1.0
    assert object_share_ratio(on_object, images, 2, 2) == [pytest.approx(4.0)]
    uniform = torch.full((1, 4, 4), 0.25)
    assert object_share_ratio(uniform, images, 2, 2) == [pytest.approx(1.0)]
    blank = torch.ones(1, 3, 64, 64)
    assert object_share_ratio(uniform, blank, 2, 2) == [], "no object: the sample does not count"


def test_statistics_include_the_object_and_ring_measures(generator: Generator) -> None:
    stats = attention_statistics(as_model(generator), seeds=range(2), batch_size=2)
    assert all(s.ring_mass_ratio > 0 for s in stats)
    assert all(math.isnan(s.object_share_ratio) or s.object_share_ratio > 0 for s in stats)


def layer_with(object_share: float, ring_mass: float) -> LayerStatistics:
    return LayerStatistics(
        name="attn2",
        query_grid=32,
        key_grid=16,
        gamma=-0.1,
        entropy_fraction=0.8,
        mean_distance_px=30.0,
        query_variation=0.3,
        object_share_ratio=object_share,
        ring_mass_ratio=ring_mass,
        attention_effect=0.1,
        seeds=64,
    )


def test_attention_targets_say_met_or_by_how_much_they_are_missed() -> None:
    met = format_attention_targets(layer_with(object_share=1.5, ring_mass=0.8)).splitlines()
    assert met[1].endswith("1.50, met") and met[2].endswith("0.80, met")
    missed = format_attention_targets(layer_with(object_share=0.86, ring_mass=3.7)).splitlines()
    assert missed[1].endswith("0.86, missed by 0.64") and missed[2].endswith("3.70, missed by 2.70")
    assert met[3].startswith("- query variation") and met[3].endswith(f"{layer_with(1.5, 0.8).query_variation:.3f}")
    blank = format_attention_targets(layer_with(object_share=float("nan"), ring_mass=1.0)).splitlines()
    assert "no query cell on an object" in blank[1]
