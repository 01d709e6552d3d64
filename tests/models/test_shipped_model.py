"""The trained default model that `sagan-attn serve` loads with no arguments."""

from __future__ import annotations

import pytest
import torch

from app.settings import DEFAULT_CHECKPOINT
from models.checkpoint import load_checkpoint
from models.data import EMOJI_CATEGORIES
from models.families.sagan import sagan_model
from models.metrics import MAX_RING_MASS_RATIO, MIN_OBJECT_SHARE_RATIO, attention_statistics

MAX_BYTES = 20 * 2**20


@pytest.fixture(scope="module")
def shipped():
    assert DEFAULT_CHECKPOINT.exists(), f"{DEFAULT_CHECKPOINT} is missing: the trained default must be committed"
    return load_checkpoint(DEFAULT_CHECKPOINT)


def test_it_is_small_and_carries_its_provenance(shipped) -> None:
    assert DEFAULT_CHECKPOINT.stat().st_size <= MAX_BYTES
    training = shipped.training
    assert training["steps"] >= 1000
    assert "emoji-datasource-twitter" in training["data"] and "emoji-datasource-google" in training["data"]
    assert "CC-BY 4.0" in training["licence"] and "Apache 2.0" in training["licence"]
    assert "Twemoji" in training["attribution"] and "Noto Emoji" in training["attribution"]
    assert shipped.discriminator is not None


def test_it_is_conditional_on_the_nine_emoji_categories(shipped) -> None:
    assert shipped.config.conditional and shipped.class_names == EMOJI_CATEGORIES
    assert "class-conditional" in shipped.training["recipe"]


def test_its_last_layer_keeps_a_32_by_32_query_grid_and_an_explicit_softmax(shipped) -> None:
    last = {layer.name: layer for layer in sagan_model(shipped).layers}["attn2"]
    assert last.query_grid == 32
    assert isinstance(shipped.generator.attn2.softmax, torch.nn.Softmax)


def test_it_uses_attention_and_its_maps_stay_on_the_object(shipped) -> None:
    stats = {s.name: s for s in attention_statistics(sagan_model(shipped), seeds=range(16))}
    assert abs(stats["attn1"].gamma) > 0.01 and abs(stats["attn2"].gamma) > 0.01
    assert stats["attn2"].query_variation > 0.1
    assert stats["attn2"].object_share_ratio >= MIN_OBJECT_SHARE_RATIO  # queries on the emoji look at the emoji
    assert stats["attn2"].ring_mass_ratio <= MAX_RING_MASS_RATIO  # and not at the border
