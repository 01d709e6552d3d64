from __future__ import annotations

import torch

from models.augment import augment_cutout, augment_translation, diff_augment


def test_a_seed_fixes_the_augmentation() -> None:
    images = torch.rand(4, 3, 16, 16) * 2 - 1
    first = diff_augment(images, torch.Generator().manual_seed(5))
    second = diff_augment(images, torch.Generator().manual_seed(5))
    other = diff_augment(images, torch.Generator().manual_seed(6))
    assert torch.equal(first, second) and not torch.equal(first, other)
    assert first.shape == images.shape and first.device == images.device


def test_translation_fills_with_white_and_cutout_with_zero() -> None:
    black = -torch.ones(64, 3, 16, 16)
    shifted = augment_translation(black, torch.Generator().manual_seed(0))
    assert set(shifted.unique().tolist()) <= {-1.0, 1.0} and (shifted == 1.0).any(), "white enters from the border"
    cut = augment_cutout(black, torch.Generator().manual_seed(0))
    assert (cut == 0).any() and set(cut.unique().tolist()) <= {-1.0, 0.0}
