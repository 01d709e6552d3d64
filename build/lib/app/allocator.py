"""glibc allocator settings, so memory freed by evicted samples goes back to the OS."""

from __future__ import annotations

import ctypes

__all__ = ["configure_allocator", "return_freed_memory"]


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both must exist
        return libc
    except (OSError, AttributeError):
        return None


_GLIBC = _glibc()
_M_MMAP_THRESHOLD = -3


def configure_allocator() -> None:
    """Serve every allocation of 1 MiB or more with its own mmap, so an evicted sample's arrays go
    straight back to the OS; glibc would otherwise raise the threshold and keep them in its heap."""
    if _GLIBC is not None:
        _GLIBC.mallopt(_M_MMAP_THRESHOLD, 2**20)


def return_freed_memory() -> None:
    """Hand memory freed by evicted samples back to the OS."""
    if _GLIBC is not None:
        _GLIBC.malloc_trim(0)
