"""Generated samples and a thread-safe cache of them, bounded in bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

__all__ = ["Sample", "SampleCache", "SampleKey"]

SampleKey = tuple[int, int | None, float | None]  # (seed, class index or None, truncation or None)


@dataclass(frozen=True)
class Sample:
    seed: int
    image: np.ndarray  # (S, S, 3) uint8
    attention: dict[str, np.ndarray]  # layer → (N, M) float32, row i = query cell i
    class_index: int | None = None
    truncation: float | None = None
    generate_seconds: float = 0.0  # the forward pass that made it

    @property
    def key(self) -> SampleKey:
        return self.seed, self.class_index, self.truncation

    @property
    def nbytes(self) -> int:
        return self.image.nbytes + sum(matrix.nbytes for matrix in self.attention.values())


class SampleCache:
    """Least-recently-used samples, evicted once their arrays pass `max_bytes`. Thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[SampleKey, Sample] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: SampleKey) -> Sample | None:
        with self._lock:
            sample = self._items.get(key)
            if sample is not None:
                self._items.move_to_end(key)
            return sample

    def put(self, sample: Sample) -> int:
        """Add a sample; return how many old ones were evicted to stay under the bound."""
        evicted_count = 0
        with self._lock:
            if sample.key in self._items:
                return 0
            self._items[sample.key] = sample
            self._bytes += sample.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes
                evicted_count += 1
        return evicted_count

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)
