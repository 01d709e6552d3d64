"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["save_torch_atomically", "write_atomically"]


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """`write(partial_path)`, then rename it to `path`: an interrupted write leaves the old file whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial_path = path.with_name(path.name + ".partial")
    write(partial_path)
    partial_path.replace(path)


def save_torch_atomically(payload: object, path: Path) -> None:
    write_atomically(path, lambda partial_path: torch.save(payload, partial_path))
