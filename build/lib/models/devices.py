"""Which device to run on, and what its hardware supports."""

from __future__ import annotations

import torch

__all__ = ["DEVICE_CHOICES", "has_native_bf16", "resolve_device"]

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """ "auto" → CUDA when torch sees it, else CPU; "cuda" without CUDA is an error."""
    if name not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, not {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but this torch sees no CUDA device (a CPU build, or no GPU)")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def has_native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 has hardware support: on CUDA, as torch reports it; on a CPU, AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return True
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
