"""A BigGAN-PyTorch folder served: /api/models names the weights file, and a non-finite sample is an error."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from app.cli import main
from app.main import create_app
from app.settings import Settings
from models.registry import load
from tests.models.biggan_pytorch_reference import RefGenerator, randomise, run_config, save_run

BASE = "/api/models/bp/samples"


def _folder(tmp_path: Path) -> Path:
    run = run_config()
    reference = RefGenerator(run)
    randomise(reference, 0)
    return save_run(reference, run, tmp_path / "weights")


def _settings(folder: Path) -> Settings:
    return Settings(checkpoint=folder, model_name="bp", cache_bytes=8 * 2**20, torch_threads=1)


def test_models_names_the_weights_file_and_the_classes(tmp_path: Path) -> None:
    with TestClient(create_app(_settings(_folder(tmp_path)))) as client:
        (model,) = client.get("/api/models").json()["models"]
        assert model["family"] == "biggan-pytorch" and model["format"] == "ajbrock/BigGAN-PyTorch (BigGAN.py)"
        assert model["training"]["weights"].startswith("G_ema.pth") and model["training"]["steps"] == 1234
        assert [layer["name"] for layer in model["layers"]] == ["blocks.1.1", "blocks.2.1"]
        assert model["classes"] == ["0", "1", "2", "3", "4"]
        assert client.get(f"{BASE}/3.png", params={"class": "2", "truncation": 0.5}).status_code == 200


def test_a_non_finite_sample_is_a_500_with_a_sentence_not_an_image(tmp_path: Path) -> None:
    loaded = load(_folder(tmp_path))
    finite = loaded.generate

    def nan_for_seed_7(seeds: Sequence[int], classes: Sequence[int] | None, truncation: float | None) -> torch.Tensor:
        images = finite(seeds, classes, truncation)
        return images.masked_fill(torch.tensor([seed == 7 for seed in seeds])[:, None, None, None], float("nan"))

    broken = dataclasses.replace(loaded, generate=nan_for_seed_7)
    with TestClient(create_app(_settings(loaded.path), broken)) as client:
        assert client.get(f"{BASE}/6.png").status_code == 200
        for path in (f"{BASE}/7.png", f"{BASE}/7/attention.npy"):
            response = client.get(path, params={"class": "1"})
            assert response.status_code == 500, path
            assert response.json()["detail"] == (
                "the sample of seed 7, class 1, truncation 1 is not finite: the model produced NaN or "
                "infinite values, so there is no image to draw"
            )


def test_serve_stops_with_one_line_naming_the_module_that_makes_nan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    state = torch.load(folder / "G_ema.pth", weights_only=True)
    state["blocks.0.0.bn2.stored_var"][5] = -1.0  # finite weights; the square root of var + eps is NaN
    torch.save(state, folder / "G_ema.pth")
    assert main(["serve", "--checkpoint", str(folder), "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"sagan-attn: {folder}: a dry-run sample (seed 0) is NaN")
    assert err.endswith("the first module whose output is not finite is blocks.0.0.bn2.bn\n"), err
