"""The page's compact form of a whole attention map: every slice of one direction as 8 bits with a scale.

A map (N, M) is cut into slices, rows (N slices of M values, each on the key grid) or columns
(M slices of N values, each on the query grid). Each slice is divided by its maximum s and stored
as q = ⌊255·v/s + ½⌋ (uint8). The body is

    K float32 little-endian scales s, then K·L uint8 values, slice after slice (row-major),

K slices of length L. A value is q·s/255, within s/510 of the float32 value. Since a heatmap
scales a slice by its maximum, q is exactly the colour-table index the heatmap PNG uses.
"""

from __future__ import annotations

import gzip

import numpy as np

__all__ = ["compact_slices", "gzip_if_accepted"]


def compact_slices(matrix: np.ndarray, direction: str) -> bytes:
    """(N, M) float32 → scales then uint8 slices: rows for "row", columns for "column"."""
    slices = matrix if direction == "row" else matrix.T  # (K, L)
    scales = slices.max(axis=1).astype(np.float32)  # (K,)
    safe = np.where(scales > 0, scales, 1.0).astype(np.float32)[:, None]  # (K, 1)
    quantised = np.floor(np.clip(slices / safe, 0.0, 1.0) * np.float32(255.0) + np.float32(0.5))  # (K, L)
    return scales.astype("<f4").tobytes() + quantised.astype(np.uint8).tobytes()


def gzip_if_accepted(body: bytes, accept_encoding: str) -> tuple[bytes, bool]:
    """The body gzipped (fast level) when the client accepts gzip; whether it was."""
    if "gzip" not in accept_encoding.lower():
        return body, False
    return gzip.compress(body, compresslevel=1, mtime=0), True
