"""Generator output → pixels: one image as a uint8 array, a batch as one grid image."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

__all__ = ["image_grid", "to_uint8", "to_unit_range"]


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels 0..255 → float in [-1, 1], the generator's output range."""
    return images.float() / 127.5 - 1.0


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(..., 3, H, W) in [-1, 1] → (..., H, W, 3) uint8; one image or a batch."""
    pixels = ((images.detach().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # (..., 3, H, W)
    return pixels.movedim(-3, -1).cpu().numpy()  # (..., H, W, 3)


def image_grid(images: torch.Tensor, columns: int = 8, gutter: int = 2) -> Image.Image:
    """(B, 3, H, W) in [-1, 1] → one PIL image of `columns` per row with white gutters."""
    pixels = to_uint8(images)  # (B, H, W, 3)
    count, height, width, _ = pixels.shape
    rows = (count + columns - 1) // columns
    canvas = np.full((rows * (height + gutter) + gutter, columns * (width + gutter) + gutter, 3), 255, np.uint8)
    for index, image in enumerate(pixels):
        top = gutter + (index // columns) * (height + gutter)
        left = gutter + (index % columns) * (width + gutter)
        canvas[top : top + height, left : left + width] = image
    return Image.fromarray(canvas)
