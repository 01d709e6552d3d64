"""The trained default model that `sagan-attn serve` loads with no arguments."""

from __future__ import annotations

import pytest

from app.settings import DEFAULT_CHECKPOINT
from models.checkpoint import load_checkpoint
from models.metrics import attention_statistics
from models.registry import sagan_model

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


def test_it_uses_attention_and_its_maps_depend_on_the_query(shipped) -> None:
    stats = {s.name: s for s in attention_statistics(sagan_model(shipped), seeds=range(16))}
    assert abs(stats["attn1"].gamma) > 0.01 and abs(stats["attn2"].gamma) > 0.01
    assert stats["attn2"].entropy_fraction <= 0.8  # the quality bar: well below uniform
    assert stats["attn2"].query_variation > 0.1
