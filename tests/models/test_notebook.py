from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pytorch_pretrained_biggan import truncated_noise_sample

from models.notebook import Cell, Model, default_model_path, open_model
from models.registry import SHIPPED_MODEL, load


def test_a_sagan_sample_gives_the_maps_rows_and_columns_with_their_geometry(checkpoint_path: Path) -> None:
    model = open_model(checkpoint_path)
    assert model.classes is None and list(model.layers) == ["attn1", "attn2"]
    sample = model.sample(5)
    image, maps = load(checkpoint_path).capture(5)
    np.testing.assert_array_equal(sample.image, image)
    np.testing.assert_array_equal(sample.map("attn1"), maps["attn1"])

    looks = sample.row(20, 41)  # attn2: 32×32 queries and keys, 2 pixels per cell
    assert looks.layer.name == "attn2" and looks.direction == "row"
    assert looks.cell == Cell(row=20, col=10, index=650, grid=32) and looks.pixels_per_cell == 2
    np.testing.assert_array_equal(looks.values, maps["attn2"][650].reshape(32, 32))
    assert looks.values.sum() == pytest.approx(1.0, abs=1e-5)

    seen_by = sample.column(20, 41, "attn1")  # 16×16: 4 pixels per cell
    assert seen_by.cell == Cell(row=10, col=5, index=165, grid=16) and seen_by.pixels_per_cell == 4
    np.testing.assert_array_equal(seen_by.values, maps["attn1"][:, 165].reshape(16, 16))


def test_a_biggan_sample_keeps_the_query_and_key_grids_apart(biggan_folder: Path) -> None:
    model = open_model(biggan_folder)
    assert model.classes[1] == "goldfish" and model.image_size == 32
    sample = model.sample(3, "goldfish", truncation=0.7)
    assert (sample.class_index, sample.truncation) == (1, 0.7)
    matrix = sample.map()  # (16·16 queries, 8·8 keys)
    assert matrix.shape == (256, 64)

    looks = sample.row(31, 0)  # query cell on the 16×16 query grid; values on the 8×8 key grid
    assert looks.cell == Cell(row=0, col=15, index=15, grid=16)
    assert looks.values.shape == (8, 8) and looks.pixels_per_cell == 4
    np.testing.assert_array_equal(looks.values, matrix[15].reshape(8, 8))
    seen_by = sample.column(31, 0)  # key cell on the 8×8 key grid; values on the 16×16 query grid
    assert seen_by.cell == Cell(row=0, col=7, index=7, grid=8)
    assert seen_by.values.shape == (16, 16) and seen_by.pixels_per_cell == 2
    np.testing.assert_array_equal(seen_by.values, matrix[:, 7].reshape(16, 16))

    default = model.sample(3)
    assert (default.class_index, default.truncation) == (0, 0.4)


def test_bad_requests_say_what_is_wrong(checkpoint_path: Path, biggan_folder: Path) -> None:
    sample = open_model(checkpoint_path).sample(1)
    with pytest.raises(KeyError, match="unknown layer 'attn9'"):
        sample.row(0, 0, "attn9")
    with pytest.raises(ValueError, match="outside the 64×64 image"):
        sample.row(64, 0)
    with pytest.raises(ValueError, match="takes no class"):
        open_model(checkpoint_path).sample(1, "goldfish")
    with pytest.raises(ValueError, match="truncation must be in"):
        open_model(biggan_folder).sample(1, 2, truncation=0.0)


def test_the_default_is_the_servers_default_model(monkeypatch: pytest.MonkeyPatch, checkpoint_path: Path) -> None:
    monkeypatch.delenv("SAGAN_ATTN_CHECKPOINT", raising=False)
    assert default_model_path() == SHIPPED_MODEL
    monkeypatch.setenv("SAGAN_ATTN_CHECKPOINT", str(checkpoint_path))
    assert open_model().loaded.path == checkpoint_path


def test_a_studiogan_run_samples_by_cifar_class_name(studiogan_folder: Path) -> None:
    model = open_model(studiogan_folder)
    assert model.classes[0] == "airplane" and list(model.layers) == ["blocks.2.0"]
    sample = model.sample(6, "airplane")
    assert (sample.class_index, sample.truncation) == (0, None)
    image, maps = load(studiogan_folder).capture(6, 0)
    np.testing.assert_array_equal(sample.image, image)
    looks = sample.row(31, 0)  # 16×16 queries, 8×8 pooled keys
    assert looks.cell == Cell(row=0, col=15, index=15, grid=16) and looks.values.shape == (8, 8)
    np.testing.assert_array_equal(looks.values, maps["blocks.2.0"][15].reshape(8, 8))
    with pytest.raises(ValueError, match="no truncation"):
        model.sample(6, "airplane", truncation=0.5)


def _fed_z(model: Model, *sample: object) -> tuple[np.ndarray, np.ndarray]:
    """(sample.z, the first argument the generator module was called with)."""
    fed: list[torch.Tensor] = []
    handle = model.loaded.module.register_forward_pre_hook(lambda module, args: fed.append(args[0].clone()))
    try:
        result = model.sample(*sample)  # type: ignore[arg-type]
    finally:
        handle.remove()
    return result.z, fed[0][0].cpu().numpy()


def test_sample_z_is_what_the_sagan_generator_was_fed(checkpoint_path: Path) -> None:
    model = open_model(checkpoint_path)
    z, fed = _fed_z(model, 5)
    expected = torch.randn(z.shape[0], generator=torch.Generator().manual_seed(5)).numpy()
    np.testing.assert_array_equal(z, fed)
    np.testing.assert_array_equal(z, expected)
    np.testing.assert_array_equal(model.latents(5), expected)


def test_sample_z_is_what_biggan_deep_was_fed_and_the_packages_draw(biggan_folder: Path) -> None:
    model = open_model(biggan_folder)
    for seed, truncation in ((3, 0.7), (8, 0.4)):
        z, fed = _fed_z(model, seed, "goldfish", truncation)
        expected = truncated_noise_sample(batch_size=1, dim_z=z.shape[0], truncation=truncation, seed=seed)[0]
        np.testing.assert_array_equal(z, fed)
        np.testing.assert_array_equal(z, expected)
        np.testing.assert_array_equal(model.latents(seed, "goldfish", truncation), expected)
    np.testing.assert_array_equal(model.latents(3), model.latents(3, 0, 0.4))  # the default truncation
