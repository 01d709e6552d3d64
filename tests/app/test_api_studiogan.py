"""A StudioGAN run through the API: which file was loaded, CIFAR-10 class names, maps on the pooled key grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from models.registry import load


def test_models_names_the_generator_file_and_cifar_classes(studiogan_folder: Path) -> None:
    settings = Settings(checkpoint=studiogan_folder, model_name="run", cache_bytes=8 * 2**20, torch_threads=1)
    with TestClient(create_app(settings)) as client:
        (model,) = client.get("/api/models").json()["models"]
        assert model["family"] == "studiogan" and model["format"] == "PyTorch-StudioGAN"
        assert model["checkpoint"] == model["config"]["generator_file"] == "model=G_ema-best-weights-step=2000.pth"
        assert model["training"]["steps"] == 2000 and model["training"]["data"] == "CIFAR10"
        assert model["classes"][0] == "airplane" and len(model["classes"]) == 10 and model["truncation"] is None
        (layer,) = model["layers"]
        assert (layer["name"], layer["query_grid"], layer["key_grid"]) == ("blocks.2.0", 16, 8)

        body = client.get("/api/models/run/samples/3/attention?class=airplane&x=20&y=9").json()
        assert body["class"] == 0
        _, maps = load(studiogan_folder).capture(3, 0)
        row = 9 * 16 // 32 * 16 + 20 * 16 // 32
        np.testing.assert_allclose(np.array(body["values"]).ravel(), maps["blocks.2.0"][row], rtol=0, atol=1e-7)
        assert client.get("/api/models/run/samples/3.png?truncation=0.5").status_code == 422
