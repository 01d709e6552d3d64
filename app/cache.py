"""Generated samples, what is derived from them, and a thread-safe cache of either, bounded in bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import numpy as np

__all__ = ["Ablated", "AnalysisKey", "Effects", "Sample", "SampleCache", "SampleKey"]

SampleKey = tuple[int, int | None, float | None]  # (seed, class index or None, truncation or None)
AnalysisKey = tuple[str, SampleKey, str | None]  # (what, sample, layer or None for every layer)


@dataclass(frozen=True)
class Sample:
    seed: int
    image: np.ndarray  # (S, S, 3) uint8
    attention: dict[str, np.ndarray]  # layer → (N, M) float32, row i = query cell i
    class_index: int | None = None
    truncation: float | None = None
    generate_seconds: float = 0.0  # the forward pass that made it
    heads: dict[str, np.ndarray] = field(default_factory=dict)  # layer with several heads → (H, N, M) float32

    @property
    def key(self) -> SampleKey:
        return self.seed, self.class_index, self.truncation

    @property
    def nbytes(self) -> int:
        maps = (*self.attention.values(), *self.heads.values())
        return self.image.nbytes + sum(matrix.nbytes for matrix in maps)


@dataclass(frozen=True)
class Ablated:
    """A sample regenerated with one layer's γ = 0, and how far it moved from the real one."""

    sample: SampleKey
    layer: str
    image: np.ndarray  # (S, S, 3) uint8: the γ = 0 sample
    difference: np.ndarray  # (S, S) float32: meanₖ |real − γ=0| over colour channels, images on [-1, 1]

    @property
    def key(self) -> AnalysisKey:
        return "ablation", self.sample, self.layer

    @property
    def nbytes(self) -> int:
        return self.image.nbytes + self.difference.nbytes


@dataclass(frozen=True)
class Effects:
    """‖γ·o‖ / ‖x‖ at each query cell of every attention layer of one sample."""

    sample: SampleKey
    maps: dict[str, np.ndarray]  # layer → (G, G) float32 on its query grid

    @property
    def key(self) -> AnalysisKey:
        return "effect", self.sample, None

    @property
    def nbytes(self) -> int:
        return sum(values.nbytes for values in self.maps.values())


class _Cacheable(Protocol):
    @property
    def key(self) -> Hashable: ...

    @property
    def nbytes(self) -> int: ...


Item = TypeVar("Item", bound=_Cacheable)


class SampleCache(Generic[Item]):
    """Least-recently-used items, evicted once their arrays pass `max_bytes`. Thread-safe; counts hits and misses."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, Item] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Item | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
            else:
                self.hits += 1
                self._items.move_to_end(key)
            return item

    def put(self, item: Item) -> int:
        """Add an item; return how many old ones were evicted to stay under the bound."""
        evicted_count = 0
        with self._lock:
            if item.key in self._items:
                return 0
            self._items[item.key] = item
            self._bytes += item.nbytes
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
