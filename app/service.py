"""A served model: a registry `LoadedModel`, its attention layers, and its cache of generated samples."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import torch

from app.allocator import configure_allocator, return_freed_memory
from app.cache import Ablated, Effects, Sample, SampleCache, SampleKey
from app.etag import weights_etag
from models.analysis import attention_effect, sample_without_attention
from models.families.base import mean_over_heads
from models.geometry import AttentionLayer
from models.imaging import to_uint8
from models.registry import LoadedModel

__all__ = ["EFFECT_SEEDS", "SEED_LIMIT", "ModelService"]

SEED_LIMIT = 2**32
EFFECT_SEEDS = range(16)  # /effect-means reports each layer's mean ‖γ·o‖ / ‖x‖ over these seeds
EFFECT_BATCH = 4  # seeds per forward pass while measuring it
ANALYSIS_SHARE = 8  # γ = 0 samples and effect maps get 1/8 of the cache bound, samples the rest

Result = TypeVar("Result")


class ModelService:
    """One generator served by name. Samples, addressed by (seed, class, truncation), are made on demand and cached."""

    def __init__(self, name: str, model: LoadedModel, cache_bytes: int) -> None:
        self.name = name
        self.model = model
        self.generator = model.module
        self.layers: dict[str, AttentionLayer] = {layer.name: layer for layer in model.layers}
        self.default_layer = list(self.layers)[-1]
        self.etag = weights_etag(self.generator)
        analysis_bytes = cache_bytes // ANALYSIS_SHARE
        self.cache: SampleCache[Sample] = SampleCache(cache_bytes - analysis_bytes)
        self.analysis_cache: SampleCache[Ablated | Effects] = SampleCache(analysis_bytes)
        configure_allocator()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")
        self._effect_means: dict[str, float] | None = None  # measured on first request: 16 forward passes

    @property
    def image_size(self) -> int:
        return self.model.image_size

    def resolve(self, class_name_or_index: str | None, truncation: float | None) -> tuple[int | None, float | None]:
        """(class index, truncation) with defaults; SamplingInputError says which parameter is wrong."""
        return self.model.inputs.resolve(class_name_or_index, truncation)

    async def _on_generation_thread(self, work: Callable[..., Result], *args: Any) -> Result:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    async def sample_async(self, seed: int, class_index: int | None = None, truncation: float | None = None) -> Sample:
        """A cached sample at once; a new one from the single generation thread, off the event loop.

        One thread runs every forward pass: torch already spreads each one over the cores, and one
        thread keeps one malloc arena instead of one per pooled thread.
        """
        cached = self.cache.get((seed, class_index, truncation))
        if cached is not None:
            return cached
        return await self._on_generation_thread(self.sample, seed, class_index, truncation)

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
        image, heads = self.model.capture_heads(seed, class_index, truncation)
        seconds = time.perf_counter() - started
        several = {name: maps for name, maps in heads.items() if maps.shape[0] > 1}
        return Sample(seed, image, mean_over_heads(heads), class_index, truncation, seconds, several)

    def _forward(self, key: SampleKey) -> Callable[[], torch.Tensor]:
        """The forward pass that makes sample `key`: images (1, 3, S, S) in [-1, 1]."""
        seed, class_index, truncation = key
        classes = None if class_index is None else [class_index]
        return lambda: self.model.generate([seed], classes, truncation)

    def _remember(self, item: Ablated | Effects) -> None:
        for array in (item.image, item.difference) if isinstance(item, Ablated) else item.maps.values():
            array.setflags(write=False)
        if self.analysis_cache.put(item):
            return_freed_memory()

    def ablation(self, key: SampleKey, layer: str) -> Ablated:
        """Sample `key` regenerated with `layer`'s γ = 0 (`models.analysis`; the weights are never written)."""
        cached = self.analysis_cache.get(("ablation", key, layer))
        if isinstance(cached, Ablated):
            return cached
        result = sample_without_attention(self.generator, layer, self._forward(key))
        ablated = Ablated(key, layer, to_uint8(result.without[0].cpu()), result.difference[0].cpu().numpy())
        self._remember(ablated)
        return ablated

    def effects(self, key: SampleKey) -> Effects:
        """‖γ·o‖ / ‖x‖ per query cell of every layer for sample `key`, from one forward pass."""
        cached = self.analysis_cache.get(("effect", key, None))
        if isinstance(cached, Effects):
            return cached
        measured = attention_effect(self.generator, list(self.layers), self._forward(key))
        effects = Effects(key, {effect.layer: effect.map_of(0).cpu().numpy() for effect in measured})
        self._remember(effects)
        return effects

    async def ablation_async(self, sample: Sample, layer: str) -> Ablated:
        return await self._on_generation_thread(self.ablation, sample.key, layer)

    async def effects_async(self, sample: Sample) -> Effects:
        return await self._on_generation_thread(self.effects, sample.key)

    async def effect_means_async(self) -> dict[str, float]:
        if self._effect_means is None:
            return await self._on_generation_thread(self.effect_means)
        return self._effect_means

    def effect_means(self) -> dict[str, float]:
        """Each layer's mean ‖γ·o‖ / ‖x‖ over EFFECT_SEEDS, at the default class and truncation; measured once."""
        if self._effect_means is None:
            self._effect_means = self._measure_effect_means()
        return self._effect_means

    def _measure_effect_means(self) -> dict[str, float]:
        class_index, truncation = self.resolve(None, None)
        seeds = list(EFFECT_SEEDS)
        sums = dict.fromkeys(self.layers, 0.0)
        for start in range(0, len(seeds), EFFECT_BATCH):
            batch = seeds[start : start + EFFECT_BATCH]
            classes = None if class_index is None else [class_index] * len(batch)
            forward = functools.partial(self.model.generate, batch, classes, truncation)
            measured = attention_effect(self.generator, list(self.layers), forward)
            for effect in measured:
                sums[effect.layer] += float(effect.maps.double().sum())
        cells = {name: len(seeds) * layer.query_grid**2 for name, layer in self.layers.items()}
        return {name: total / cells[name] for name, total in sums.items()}

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
