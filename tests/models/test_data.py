from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.data import _emoji_images_from_tarball, images_to_tensor, load_dataset, load_folder


def png_bytes(rgba: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def test_emoji_tarball_images_are_composited_onto_white(tmp_path: Path) -> None:
    tarball = tmp_path / "emoji-datasource-test-1.0.0.tgz"
    transparent = np.zeros((64, 64, 4), dtype=np.uint8)
    red_square = transparent.copy()
    red_square[16:48, 16:48] = [255, 0, 0, 255]
    with tarfile.open(tarball, "w:gz") as archive:
        for name, rgba in (
            ("package/img/test/64/empty.png", transparent),
            ("package/img/test/64/red.png", red_square),
            ("package/img/test/32/ignored.png", red_square),
            ("package/README.md", None),
        ):
            data = png_bytes(rgba) if rgba is not None else b"readme"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    images = images_to_tensor(_emoji_images_from_tarball(tarball, "test"))
    assert images.shape == (2, 3, 64, 64)
    by_mean = sorted(images, key=lambda image: float(image.float().mean()))
    red, empty = by_mean
    assert int(empty.min()) == 255, "transparent pixels become white"
    assert red[:, 32, 32].tolist() == [255, 0, 0] and red[:, 0, 0].tolist() == [255, 255, 255]


def test_folder_images_are_resized_to_64(tmp_path: Path) -> None:
    Image.new("RGB", (100, 50), (0, 128, 255)).save(tmp_path / "wide.jpg")
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(tmp_path / "tiny.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images, info = load_folder(tmp_path)
    assert images.shape == (2, 3, 64, 64) and info.name == f"folder: {tmp_path.name}"


def test_bad_data_arguments_say_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be 'emoji' or a folder"):
        load_dataset(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="holds no images"):
        load_folder(tmp_path)
