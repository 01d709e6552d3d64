from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from models.biggan import generate, load_biggan_folder
from models.capture import AttentionCapture
from models.checkpoint import CheckpointError, load_checkpoint
from models.geometry import AttentionLayer
from models.metrics import attention_statistics
from models.registry import FAMILIES, load
from models.sagan import sample_latents
from tests.models.biggan_reference import SMALL, randomised_reference, write_reference_files


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_reference_files(randomised_reference(SMALL), tmp_path_factory.mktemp("biggan"))


def test_sagan_is_the_catch_all_family_for_files_and_unconditional(checkpoint_path: Path) -> None:
    assert FAMILIES[-1].name == "sagan-64"
    model = load(checkpoint_path)
    assert model.family == "sagan-64" and model.image_size == 64 and model.path == checkpoint_path
    assert not model.inputs.conditional and model.inputs.truncation is None and model.inputs.z_dim == 16
    assert [(layer.name, layer.query_grid, layer.key_grid) for layer in model.layers] == [
        ("attn1", 16, 16),
        ("attn2", 32, 32),
    ]
    assert [layer.gamma for layer in model.layers] == pytest.approx([0.5, -0.7])
    generator = load_checkpoint(checkpoint_path).generator
    with torch.no_grad():
        expected = generator(sample_latents([4, 9], 16))
    torch.testing.assert_close(model.generate([4, 9], None, None), expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="unconditional"):
        model.generate([4], [1], None)


def test_an_unconditional_model_refuses_a_class_and_a_truncation(checkpoint_path: Path) -> None:
    inputs = load(checkpoint_path).inputs
    assert inputs.resolve(None, None) == (None, None)
    with pytest.raises(ValueError, match="takes no class"):
        inputs.resolve("3", None)
    with pytest.raises(ValueError, match="no truncation"):
        inputs.resolve(None, 0.5)


def test_a_biggan_folder_loads_as_a_family_without_naming_it(folder: Path) -> None:
    model = load(folder)
    assert model.family == "biggan-deep" and model.image_size == 32
    assert model.inputs.z_dim == 16 and model.inputs.class_names == tuple(str(i) for i in range(10))
    assert model.inputs.truncation == (0.0, 1.0) and model.inputs.default_truncation == 0.4
    assert model.layers == (AttentionLayer("generator.layers.3", 32, 16, 8, pytest.approx(0.8)),)

    layer = model.layers[0]
    with AttentionCapture(model.module, [layer.name]) as capture:
        images = model.generate([3], [7], 0.6)
    assert capture.maps[layer.name].shape == (1, layer.query_grid**2, layer.key_grid**2)
    torch.testing.assert_close(images, generate(load_biggan_folder(folder), [3], [7], 0.6), rtol=0, atol=0)
    with pytest.raises(ValueError, match="truncation"):
        model.generate([3], [7], None)


@pytest.mark.parametrize(
    ("given", "expected"),
    [((None, None), (0, 0.4)), (("7", 1.0), (7, 1.0)), (("3", 0.25), (3, 0.25)), (("9", 1e-6), (9, 1e-6))],
)
def test_class_and_truncation_resolve_with_defaults(folder: Path, given: tuple, expected: tuple) -> None:
    assert load(folder).inputs.resolve(*given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (("10", None), "class index must be in 0..9"),
        (("tench", None), "'tench' names no class"),
        ((None, 0.0), r"truncation must be in \(0, 1\]"),
        ((None, 1.5), r"truncation must be in \(0, 1\]"),
        ((None, math.nan), r"truncation must be in \(0, 1\]"),
    ],
)
def test_class_and_truncation_out_of_bounds_are_refused(folder: Path, given: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load(folder).inputs.resolve(*given)


def test_capture_gives_the_image_and_every_map_read_only(folder: Path) -> None:
    model = load(folder)
    image, maps = model.capture(5, 2, 0.7)
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    (matrix,) = maps.values()
    assert matrix.shape == (256, 64) and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-5)
    assert not image.flags.writeable and not matrix.flags.writeable


def test_statistics_refuse_a_model_with_a_truncation_in_one_line(folder: Path) -> None:
    with pytest.raises(ValueError, match="takes a truncation; these statistics measure SAGAN-64 models"):
        attention_statistics(load(folder), seeds=range(2))


def test_a_folder_no_family_recognises_gets_one_line(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no model family recognises it \(known: studiogan: .*") as error:
        load(tmp_path)
    message = str(error.value)
    assert "\n" not in message and "config.json and pytorch_model.bin" in message and "model=G_ema-" in message
    names = ("studiogan", "biggan-deep", "biggan-pytorch", "sagan-64")
    assert [message.index(f"{name}: ") for name in names] == sorted(message.index(f"{name}: ") for name in names)
    assert "G_ema.pth or G.pth and state_dict.pth" in message


def test_a_missing_file_gets_the_checkpoint_loaders_line(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        load(tmp_path / "absent.pt")


def test_models_move_to_the_device_asked_for(checkpoint_path: Path) -> None:
    assert load(checkpoint_path, device="cpu").device == torch.device("cpu")
