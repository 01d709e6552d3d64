"""Training images: the two openly licensed emoji sets from the npm registry, or any folder of images.

Images become one uint8 tensor (N, 3, 64, 64), alpha composited onto white, cached outside git. Each
emoji image also carries its `category` from the package's `emoji.json` (one of `EMOJI_CATEGORIES`)
and the index of its emoji there, shared by its skin-tone variants and by both vendors' drawings.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.files import save_atomic

__all__ = ["EMOJI_CATEGORIES", "EMOJI_SOURCES", "Dataset", "DatasetInfo", "load_dataset", "load_emoji", "load_folder"]

log = logging.getLogger(__name__)

IMAGE_SIZE = 64
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
# emoji.json's categories; its tenth, "Component" (skin-tone swatches and hair parts), gets no label.
EMOJI_CATEGORIES = (
    "Smileys & Emotion",
    "People & Body",
    "Animals & Nature",
    "Food & Drink",
    "Travel & Places",
    "Activities",
    "Objects",
    "Symbols",
    "Flags",
)
NO_CATEGORY = -1


@dataclass(frozen=True)
class EmojiSource:
    package: str
    version: str  # pinned, so a seeded run trains on the same images
    vendor: str
    licence: str
    attribution: str


EMOJI_SOURCES = (
    EmojiSource(
        "emoji-datasource-twitter",
        "16.0.0",
        "twitter",
        "CC-BY 4.0",
        "Twemoji, Copyright 2019 Twitter, Inc and other contributors, CC-BY 4.0 "
        "(via the npm package emoji-datasource-twitter)",
    ),
    EmojiSource(
        "emoji-datasource-google",
        "16.0.0",
        "google",
        "Apache 2.0",
        "Noto Emoji, Copyright Google Inc., Apache License 2.0 (via the npm package emoji-datasource-google)",
    ),
)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    licence: str
    attribution: str


@dataclass(frozen=True)
class Dataset:
    images: torch.Tensor  # (N, 3, 64, 64) uint8
    categories: torch.Tensor  # (N,) int64 index into EMOJI_CATEGORIES, NO_CATEGORY where unknown
    emoji_ids: torch.Tensor  # (N,) int64; images of one emoji (variants, vendors) share an id
    info: DatasetInfo

    def __len__(self) -> int:
        return len(self.images)


def default_cache_dir() -> Path:
    return Path(os.environ.get("SAGAN_ATTN_CACHE", Path.home() / ".cache" / "sagan-attn"))


def to_rgb_on_white(image: Image.Image) -> Image.Image:
    """Composite any transparency onto a white background and return RGB."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def images_to_tensor(images: list[Image.Image]) -> torch.Tensor:
    arrays = [np.asarray(image, dtype=np.uint8) for image in images]  # each (64, 64, 3)
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, 3, 64, 64)


def emoji_labels(emoji_json: list[dict]) -> dict[str, tuple[int, int]]:
    """Image file name → (category index or NO_CATEGORY, emoji index), skin-tone variants included."""
    labels = {}
    for emoji_id, emoji in enumerate(emoji_json):
        category = emoji.get("category")
        label = EMOJI_CATEGORIES.index(category) if category in EMOJI_CATEGORIES else NO_CATEGORY
        for entry in [emoji, *emoji.get("skin_variations", {}).values()]:
            labels[entry["image"]] = (label, emoji_id)
    return labels


def _emoji_images_from_tarball(tarball: Path, vendor: str) -> list[tuple[str, Image.Image]]:
    """(file name, image) of every 64-px image of `vendor`, in archive order."""
    prefix = f"package/img/{vendor}/64/"
    images = []
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.startswith(prefix) and member.name.endswith(".png"):
                data = archive.extractfile(member).read()
                image = to_rgb_on_white(Image.open(io.BytesIO(data)))
                if image.size != (IMAGE_SIZE, IMAGE_SIZE):
                    image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
                images.append((member.name.removeprefix(prefix), image))
    if not images:
        raise RuntimeError(f"{tarball.name} holds no images under {prefix}")
    return images


def _emoji_json_from_tarball(tarball: Path) -> list[dict]:
    with tarfile.open(tarball) as archive:
        return json.load(archive.extractfile("package/emoji.json"))


def load_emoji(cache_dir: Path | None = None) -> Dataset:
    """Both emoji sets with their labels, fetched once with `npm pack` and cached."""
    cache_dir = cache_dir or default_cache_dir()
    cache_file = cache_dir / "emoji-64-v16-labelled.pt"
    info = DatasetInfo(
        name="emoji: " + " + ".join(f"{source.package}@{source.version}" for source in EMOJI_SOURCES),
        licence="; ".join(f"{source.vendor}: {source.licence}" for source in EMOJI_SOURCES),
        attribution="; ".join(source.attribution for source in EMOJI_SOURCES),
    )
    if cache_file.exists():
        cached = torch.load(cache_file, weights_only=True)
        return Dataset(cached["images"], cached["categories"], cached["emoji_ids"], info)
    cache_dir.mkdir(parents=True, exist_ok=True)
    images, labels = [], []
    with tempfile.TemporaryDirectory() as workdir:
        for source in EMOJI_SOURCES:
            log.info("fetching %s with npm pack", source.package)
            result = subprocess.run(
                ["npm", "pack", "--silent", f"{source.package}@{source.version}"],
                cwd=workdir,
                capture_output=True,
                text=True,
                check=True,
            )
            tarball = Path(workdir) / result.stdout.strip().splitlines()[-1]
            by_file = emoji_labels(_emoji_json_from_tarball(tarball))
            for file_name, image in _emoji_images_from_tarball(tarball, source.vendor):
                images.append(image)
                labels.append(by_file.get(file_name, (NO_CATEGORY, -1 - len(labels))))
    label_tensor = torch.tensor(labels, dtype=torch.int64)  # (N, 2)
    dataset = Dataset(images_to_tensor(images), label_tensor[:, 0].clone(), label_tensor[:, 1].clone(), info)
    save_atomic(
        {"images": dataset.images, "categories": dataset.categories, "emoji_ids": dataset.emoji_ids}, cache_file
    )
    return dataset


def load_folder(folder: Path) -> Dataset:
    """Every image file under `folder`, composited onto white and resized to 64×64."""
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    images = []
    for path in paths:
        with Image.open(path) as image:
            rgb = to_rgb_on_white(image)
        images.append(rgb.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS))
    info = DatasetInfo(name=f"folder: {folder.name}", licence="unknown", attribution="unknown")
    count = len(images)
    return Dataset(images_to_tensor(images), torch.full((count,), NO_CATEGORY), torch.arange(count), info)


def load_dataset(data: str) -> Dataset:
    if data == "emoji":
        return load_emoji()
    folder = Path(data)
    if not folder.is_dir():
        raise ValueError(f"--data must be 'emoji' or a folder of images; {data!r} is neither")
    return load_folder(folder)
