from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.data import (
    EMOJI_CATEGORIES,
    NO_CATEGORY,
    _emoji_images_from_tarball,
    emoji_labels,
    images_to_tensor,
    load_dataset,
    load_folder,
)


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
    named = _emoji_images_from_tarball(tarball, "test")
    assert [name for name, _ in named] == ["empty.png", "red.png"]
    images = images_to_tensor([image for _, image in named])
    assert images.shape == (2, 3, 64, 64)
    by_mean = sorted(images, key=lambda image: float(image.float().mean()))
    red, empty = by_mean
    assert int(empty.min()) == 255, "transparent pixels become white"
    assert red[:, 32, 32].tolist() == [255, 0, 0] and red[:, 0, 0].tolist() == [255, 255, 255]


def test_folder_images_are_resized_to_64(tmp_path: Path) -> None:
    Image.new("RGB", (100, 50), (0, 128, 255)).save(tmp_path / "wide.jpg")
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(tmp_path / "tiny.png")
    (tmp_path / "notes.txt").write_text("not an image")
    dataset = load_folder(tmp_path)
    assert dataset.images.shape == (2, 3, 64, 64) and dataset.info.name == f"folder: {tmp_path.name}"


def test_bad_data_arguments_say_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be 'emoji' or a folder"):
        load_dataset(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="holds no images"):
        load_folder(tmp_path)


def test_emoji_labels_give_variants_their_emoji_and_category() -> None:
    emoji_json = [
        {"image": "1f44b.png", "category": "People & Body", "skin_variations": {"1F3FB": {"image": "1f44b-1f3fb.png"}}},
        {"image": "1f600.png", "category": "Smileys & Emotion"},
        {"image": "1f3fb.png", "category": "Component"},
    ]
    labels = emoji_labels(emoji_json)
    people = EMOJI_CATEGORIES.index("People & Body")
    assert labels["1f44b.png"] == labels["1f44b-1f3fb.png"] == (people, 0)
    assert labels["1f600.png"] == (EMOJI_CATEGORIES.index("Smileys & Emotion"), 1)
    assert labels["1f3fb.png"] == (NO_CATEGORY, 2)


def test_folder_images_each_count_as_their_own_emoji(tmp_path: Path) -> None:
    for index in range(3):
        Image.new("RGB", (8, 8), (index, 0, 0)).save(tmp_path / f"{index}.png")
    dataset = load_folder(tmp_path)
    assert dataset.emoji_ids.tolist() == [0, 1, 2] and (dataset.categories == NO_CATEGORY).all()
