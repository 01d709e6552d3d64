from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.files import atomic_write, save_atomic
from models.imaging import image_grid, to_uint8


def test_to_uint8_maps_the_range_ends_and_moves_channels_last() -> None:
    image = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 4).expand(3, 1, 4)  # (3, 1, 4)
    pixels = to_uint8(image)
    assert pixels.shape == (1, 4, 3) and pixels.dtype == np.uint8
    assert pixels[0, :, 0].tolist() == [0, 128, 255, 255]
    assert to_uint8(image.unsqueeze(0).expand(2, 3, 1, 4)).shape == (2, 1, 4, 3)


def test_image_grid_places_each_image_between_white_gutters() -> None:
    images = torch.stack([torch.full((3, 4, 4), value) for value in (-1.0, 1.0, -1.0)])  # (3, 3, 4, 4)
    grid = np.asarray(image_grid(images, columns=2, gutter=2))
    assert grid.shape == (2 * (4 + 2) + 2, 2 * (4 + 2) + 2, 3)
    assert (grid[2:6, 2:6] == 0).all() and (grid[2:6, 8:12] == 255).all() and (grid[8:12, 2:6] == 0).all()
    assert (grid[0:2] == 255).all() and (grid[8:12, 8:12] == 255).all()


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.pt"
    save_atomic({"step": 1}, path)
    assert torch.load(path)["step"] == 1

    def fail_half_way(partial: Path) -> None:
        partial.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail_half_way)
    assert torch.load(path)["step"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.pt", "state.pt.partial"]
