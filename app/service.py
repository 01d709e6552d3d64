"""A served model: a registry `LoadedModel`, its attention layers, and its cache of generated samples."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.allocator import configure_allocator, return_freed_memory
from app.cache import Sample, SampleCache
from app.etag import weights_etag
from models.geometry import AttentionLayer
from models.registry import LoadedModel

__all__ = ["SEED_LIMIT", "ModelService"]

SEED_LIMIT = 2**32


class ModelService:
    """One generator served by name. Samples, addressed by (seed, class, truncation), are made on demand and cached."""

    def __init__(self, name: str, model: LoadedModel, cache_bytes: int) -> None:
        self.name = name
        self.model = model
        self.generator = model.module
        self.layers: dict[str, AttentionLayer] = {layer.name: layer for layer in model.layers}
        self.default_layer = list(self.layers)[-1]
        self.etag = weights_etag(self.generator)
        self.cache = SampleCache(cache_bytes)
        configure_allocator()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")

    @property
    def image_size(self) -> int:
        return self.model.image_size

    def resolve(self, class_name_or_index: str | None, truncation: float | None) -> tuple[int | None, float | None]:
        """(class index, truncation) with defaults; SamplingInputError says which parameter is wrong."""
        return self.model.inputs.resolve(class_name_or_index, truncation)

    async def sample_async(self, seed: int, class_index: int | None = None, truncation: float | None = None) -> Sample:
        """A cached sample at once; a new one from the single generation thread, off the event loop.

        One thread runs every forward pass: torch already spreads each one over the cores, and one
        thread keeps one malloc arena instead of one per pooled thread.
        """
        cached = self.cache.get((seed, class_index, truncation))
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.sample, seed, class_index, truncation)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def sample(self, seed: int, class_index: int | None = None, truncation: float | None = None) -> Sample:
        if not 0 <= seed < SEED_LIMIT:
            raise ValueError(f"seed must be in [0, {SEED_LIMIT})")
        cached = self.cache.get((seed, class_index, truncation))
        if cached is not None:
            return cached
        sample = self.generate(seed, class_index, truncation)
        if self.cache.put(sample):
            return_freed_memory()
        return sample

    def generate(self, seed: int, class_index: int | None = None, truncation: float | None = None) -> Sample:
        started = time.perf_counter()
        image, attention = self.model.capture(seed, class_index, truncation)
        seconds = time.perf_counter() - started
        return Sample(seed, image, attention, class_index, truncation, generate_seconds=seconds)

    def describe(self) -> dict[str, Any]:
        model = self.model
        training = model.training
        return {
            "name": self.name,
            "family": model.family,
            "checkpoint": model.path.name,
            "format": model.source_format,
            "image_size": self.image_size,
            **model.inputs.to_dict(),
            "config": model.config,
            "training": {key: training.get(key) for key in ("data", "steps", "licence", "attribution")},
            "default_layer": self.default_layer,
            "layers": [layer.to_dict(self.image_size) for layer in self.layers.values()],
        }
