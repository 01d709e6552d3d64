"""Differentiable augmentation (Zhao et al. 2020, "DiffAugment") for small-data GAN training.

Colour, translation and cutout, applied to real and fake images alike before D sees them. Every
random draw comes from the given CPU generator and then moves to the images' device, so a seeded run
draws the same augmentation on any device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["diff_augment"]


def _uniform(batch: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(batch, 1, 1, 1, generator=generator).to(device)


def augment_colour(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    batch, device = images.shape[0], images.device
    images = images + (_uniform(batch, generator, device) - 0.5)  # brightness
    mean = images.mean(dim=1, keepdim=True)  # (B, 1, H, W)
    images = (images - mean) * (_uniform(batch, generator, device) * 2) + mean  # saturation
    mean = images.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return (images - mean) * (_uniform(batch, generator, device) + 0.5) + mean  # contrast


def augment_translation(images: torch.Tensor, generator: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to `ratio` of its side, filling with white (+1)."""
    batch, channels, height, width = images.shape
    shift = int(height * ratio + 0.5)
    device = images.device
    dy = torch.randint(-shift, shift + 1, (batch, 1), generator=generator).to(device)
    dx = torch.randint(-shift, shift + 1, (batch, 1), generator=generator).to(device)
    padded = F.pad(images, (shift, shift, shift, shift), value=1.0)  # (B, C, H+2s, W+2s)
    rows = torch.arange(height, device=device) + shift + dy  # (B, H)
    cols = torch.arange(width, device=device) + shift + dx  # (B, W)
    return padded[
        torch.arange(batch, device=device)[:, None, None, None],
        torch.arange(channels, device=device)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]  # (B, C, H, W)


def augment_cutout(images: torch.Tensor, generator: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Blank one square of side `ratio`·H per image, at a random centre."""
    batch, _, height, width = images.shape
    cut_h, cut_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
    device = images.device
    top = torch.randint(0, height + 1 - cut_h % 2, (batch, 1, 1), generator=generator).to(device) - cut_h // 2
    left = torch.randint(0, width + 1 - cut_w % 2, (batch, 1, 1), generator=generator).to(device) - cut_w // 2
    rows = torch.arange(height, device=device)[None, :, None]  # (1, H, 1)
    cols = torch.arange(width, device=device)[None, None, :]  # (1, 1, W)
    inside = (rows >= top) & (rows < top + cut_h) & (cols >= left) & (cols < left + cut_w)  # (B, H, W)
    return images * (~inside).unsqueeze(1).to(images.dtype)


def diff_augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    images = augment_colour(images, generator)
    images = augment_translation(images, generator)
    return augment_cutout(images, generator)
