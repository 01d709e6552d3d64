"""Training images: the two openly licensed emoji sets from the npm registry, or any folder of images.

Images become one uint8 tensor (N, 3, 64, 64), alpha composited onto white, cached outside git.
"""

from __future__ import annotations

import io
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

__all__ = ["EMOJI_SOURCES", "DatasetInfo", "load_dataset", "load_emoji", "load_folder"]

log = logging.getLogger(__name__)

IMAGE_SIZE = 64
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}


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


def _emoji_images_from_tarball(tarball: Path, vendor: str) -> list[Image.Image]:
    prefix = f"package/img/{vendor}/64/"
    images = []
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.startswith(prefix) and member.name.endswith(".png"):
                data = archive.extractfile(member).read()
                image = to_rgb_on_white(Image.open(io.BytesIO(data)))
                if image.size != (IMAGE_SIZE, IMAGE_SIZE):
                    image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
                images.append(image)
    if not images:
        raise RuntimeError(f"{tarball.name} holds no images under {prefix}")
    return images


def load_emoji(cache_dir: Path | None = None) -> tuple[torch.Tensor, DatasetInfo]:
    """Both emoji sets as (N, 3, 64, 64) uint8, fetched once with `npm pack` and cached."""
    cache_dir = cache_dir or default_cache_dir()
    cache_file = cache_dir / "emoji-64-v16.pt"
    info = DatasetInfo(
        name="emoji: " + " + ".join(f"{source.package}@{source.version}" for source in EMOJI_SOURCES),
        licence="; ".join(f"{source.vendor}: {source.licence}" for source in EMOJI_SOURCES),
        attribution="; ".join(source.attribution for source in EMOJI_SOURCES),
    )
    if cache_file.exists():
        return torch.load(cache_file, weights_only=True), info
    cache_dir.mkdir(parents=True, exist_ok=True)
    tensors = []
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
            tensors.append(images_to_tensor(_emoji_images_from_tarball(tarball, source.vendor)))
    images = torch.cat(tensors)
    partial = cache_file.with_name(cache_file.name + ".partial")
    torch.save(images, partial)
    partial.replace(cache_file)
    return images, info


def load_folder(folder: Path) -> tuple[torch.Tensor, DatasetInfo]:
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
    return images_to_tensor(images), info


def load_dataset(data: str) -> tuple[torch.Tensor, DatasetInfo]:
    if data == "emoji":
        return load_emoji()
    folder = Path(data)
    if not folder.is_dir():
        raise ValueError(f"--data must be 'emoji' or a folder of images; {data!r} is neither")
    return load_folder(folder)
