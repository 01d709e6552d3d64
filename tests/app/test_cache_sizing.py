"""The default sample cache is sized to the served model, and /api/health reports it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app.service import CACHED_SAMPLES, sample_nbytes
from models.registry import load
from tests.app.serving import BASE, slow_model, tiny_app


def test_the_byte_size_of_a_sample_is_known_before_one_is_made(checkpoint_path: Path, biggan_folder: Path) -> None:
    for path in (checkpoint_path, biggan_folder):
        with TestClient(tiny_app(load(path))) as client:
            service = client.app.state.models["tiny"]
            class_index, truncation = service.resolve(None, None)
            made = service.sample(3, class_index, truncation)
            assert made.nbytes == sample_nbytes(service.model)
            assert service.cache.max_bytes >= CACHED_SAMPLES * made.nbytes


def test_eight_samples_alternate_without_regenerating(checkpoint_path: Path) -> None:
    model, forward = slow_model(checkpoint_path, 0.0)
    assert CACHED_SAMPLES * sample_nbytes(model) > 28 * 2**20, "the test needs samples that the old 32 MiB bound drops"
    with TestClient(tiny_app(model)) as client:
        for _ in range(3):
            for seed in range(CACHED_SAMPLES):
                assert client.get(f"{BASE}/{seed}/heatmap.png?x=5&y=9&layer=attn2").status_code == 200
        health = client.get("/api/health").json()["models"]["tiny"]
    assert len(forward.passes) == CACHED_SAMPLES
    assert health["cached_samples"] == CACHED_SAMPLES
    assert health["cache_misses"] == CACHED_SAMPLES and health["cache_hits"] == 2 * CACHED_SAMPLES
    assert health["cache_bound_bytes"] >= CACHED_SAMPLES * sample_nbytes(model)
    assert health["queue"]["forward_passes"] == CACHED_SAMPLES


def test_a_cache_bound_in_settings_wins(checkpoint_path: Path) -> None:
    model, forward = slow_model(checkpoint_path, 0.0)
    with TestClient(tiny_app(model, cache_bytes=16 * 2**20)) as client:
        for _ in range(2):
            for seed in range(CACHED_SAMPLES):
                assert client.get(f"{BASE}/{seed}.png").status_code == 200
        health = client.get("/api/health").json()["models"]["tiny"]
    assert health["cache_bound_bytes"] == 14 * 2**20  # 7/8 of the setting; γ = 0 samples get the rest
    assert health["cached_samples"] < CACHED_SAMPLES and len(forward.passes) == 2 * CACHED_SAMPLES
