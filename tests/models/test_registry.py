from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.biggan import generate, load_biggan_folder
from models.capture import AttentionCapture
from models.checkpoint import CheckpointError
from models.registry import AttentionLayer, load
from tests.models.biggan_reference import SMALL, randomised_reference, write_reference_files


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_reference_files(randomised_reference(SMALL), tmp_path_factory.mktemp("biggan"))


def test_a_biggan_folder_loads_as_a_family_without_naming_it(folder: Path) -> None:
    loaded = load(folder)
    assert loaded.family == "biggan-deep" and loaded.image_size == 32
    assert loaded.inputs.z_dim == 16 and loaded.inputs.class_names == tuple(str(i) for i in range(10))
    assert loaded.inputs.truncation == (0.0, 1.0)
    assert loaded.layers == (AttentionLayer("generator.layers.3", 32, 16, 8, pytest.approx(0.8)),)

    layer = loaded.layers[0]
    with AttentionCapture(loaded.module, [layer.name]) as capture:
        images = loaded.generate([3], [7], 0.6)
    assert capture.maps[layer.name].shape == (1, layer.query_grid**2, layer.key_grid**2)
    torch.testing.assert_close(images, generate(load_biggan_folder(folder), [3], [7], 0.6), rtol=0, atol=0)
    with pytest.raises(ValueError, match="truncation"):
        loaded.generate([3], [7], None)


def test_a_path_no_family_recognises_gets_one_line(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no model family recognises it \(known: biggan-deep\)"):
        load(tmp_path)
