"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

__all__ = ["atomic_write", "save_atomic"]


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call `write` on `<path>.partial`, then rename it over `path` (atomic on one filesystem)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial_path = path.with_name(path.name + ".partial")
    write(partial_path)
    partial_path.replace(path)


def save_atomic(payload: Any, path: Path) -> None:
    """`torch.save(payload, path)` through a `.partial` file."""
    atomic_write(path, lambda partial_path: torch.save(payload, partial_path))
