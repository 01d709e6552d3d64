"""A served model: a registry `LoadedModel`, its attention layers, and its cache of generated samples."""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import torch

from app.allocator import configure_allocator, return_freed_memory
from app.cache import Ablated, Effects, Sample, SampleCache, SampleKey
from app.etag import weights_etag
from app.limits import WorkLimit
from app.queue import GenerationQueue
from models.analysis import attention_effect, sample_without_attention
from models.capture import attention_layer_names
from models.families.base import mean_over_heads
from models.geometry import AttentionLayer
from models.imaging import to_uint8
from models.interrupt import Interrupted
from models.registry import LoadedModel

__all__ = ["EFFECT_SEEDS", "SEED_LIMIT", "ModelService", "default_cache_bytes", "sample_nbytes"]

SEED_LIMIT = 2**32
EFFECT_SEEDS = range(16)  # /effect-means reports each layer's mean ‖γ·o‖ / ‖x‖ over these seeds
EFFECT_BATCH = 4  # seeds per forward pass while measuring it
ANALYSIS_SHARE = 8  # γ = 0 samples and effect maps get 1/8 of the cache bound, samples the rest
CACHED_SAMPLES = 8  # the default cache bound holds at least this many samples of the served model
SMALLEST_DEFAULT_CACHE = 32 * 2**20

Result = TypeVar("Result")


def sample_nbytes(model: LoadedModel) -> int:
    """Bytes of one cached sample: its uint8 image, every layer's float32 (N, M) map and, for a layer of
    several heads, its (H, N, M) maps too."""
    maps = sum(
        4 * layer.query_grid**2 * layer.key_grid**2 * (1 + (layer.heads if layer.heads > 1 else 0))
        for layer in model.layers
    )
    return 3 * model.image_size**2 + maps


def default_cache_bytes(model: LoadedModel) -> int:
    """A bound whose sample share (all but 1/ANALYSIS_SHARE) holds CACHED_SAMPLES samples, at least 32 MiB."""
    needed = math.ceil(CACHED_SAMPLES * sample_nbytes(model) * ANALYSIS_SHARE / (ANALYSIS_SHARE - 1))
    return max(SMALLEST_DEFAULT_CACHE, needed + 2**20)


def _checked_key(seed: int, class_index: int | None, truncation: float | None) -> SampleKey:
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must be in [0, {SEED_LIMIT})")
    return seed, class_index, truncation


class ModelService:
    """One generator served by name. Samples, addressed by (seed, class, truncation), are made on demand and cached."""

    def __init__(
        self,
        name: str,
        model: LoadedModel,
        cache_bytes: int | None = None,
        max_pending: int = 32,
        batch_size: int = 1,
        analysis_limit: tuple[int, int] = (1, 12),
    ) -> None:
        self.name = name
        self.model = model
        self.generator = model.module
        self.layers: dict[str, AttentionLayer] = {layer.name: layer for layer in model.layers}
        self.default_layer = list(self.layers)[-1]
        self.etag = weights_etag(self.generator)
        cache_bytes = cache_bytes or default_cache_bytes(model)
        analysis_bytes = cache_bytes // ANALYSIS_SHARE
        self.cache: SampleCache[Sample] = SampleCache(cache_bytes - analysis_bytes)
        self.analysis_cache: SampleCache[Ablated | Effects] = SampleCache(analysis_bytes)
        configure_allocator()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")
        self.queue: GenerationQueue[SampleKey, Sample] = GenerationQueue(
            self._make, self._executor, max_pending, batch_size, group=lambda key: key[2]
        )
        self._effect_means: dict[str, float] | None = None  # measured on first request: 16 forward passes
        self.analysis_limit = WorkLimit("γ = 0 samples and effect maps", *analysis_limit)

    @property
    def image_size(self) -> int:
        return self.model.image_size

    def resolve(self, class_name_or_index: str | None, truncation: float | None) -> tuple[int | None, float | None]:
        """(class index, truncation) with defaults; SamplingInputError says which parameter is wrong."""
        return self.model.inputs.resolve(class_name_or_index, truncation)

    async def _on_generation_thread(self, work: Callable[..., Result], *args: Any) -> Result:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    async def sample_async(self, seed: int, class_index: int | None = None, truncation: float | None = None) -> Sample:
        """A cached sample at once; a new one through the generation queue (`app.queue`), off the event loop.

        One thread runs every forward pass: torch already spreads each one over the cores, and one
        thread keeps one malloc arena instead of one per pooled thread. QueueFullError past its bound.
        """
        key = _checked_key(seed, class_index, truncation)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        return await self.queue.get(key)

    async def close(self) -> None:
        await self.queue.close()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def sample(self, seed: int, class_index: int | None = None, truncation: float | None = None) -> Sample:
        key = _checked_key(seed, class_index, truncation)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        made = self._make([key])
        assert made is not None, "a pass that is always wanted is never stopped"
        return made[0]

    def _make(self, keys: Sequence[SampleKey], wanted: Callable[[], bool] = lambda: True) -> list[Sample] | None:
        """New samples for `keys`, which share a truncation: one forward pass for all of them, each cached;
        None if the pass stopped part-way because `wanted()` turned false."""
        try:
            samples = self.generate_batch(keys, stop=lambda: not wanted())
        except Interrupted:
            return None
        if sum(self.cache.put(sample) for sample in samples):
            return_freed_memory()
        return samples

    def generate(self, seed: int, class_index: int | None = None, truncation: float | None = None) -> Sample:
        return self.generate_batch([(seed, class_index, truncation)])[0]

    def generate_batch(self, keys: Sequence[SampleKey], stop: Callable[[], bool] = lambda: False) -> list[Sample]:
        truncation = keys[0][2]
        classes = None if keys[0][1] is None else [class_index for _, class_index, _ in keys]
        started = time.perf_counter()
        captured = self.model.capture_batch([seed for seed, _, _ in keys], classes, truncation, stop)
        seconds = time.perf_counter() - started
        samples = []
        for (seed, class_index, _), (image, heads) in zip(keys, captured, strict=True):
            several = {name: maps for name, maps in heads.items() if maps.shape[0] > 1}
            samples.append(Sample(seed, image, mean_over_heads(heads), class_index, truncation, seconds, several))
        return samples

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
        measured = attention_effect(self.generator, self.effect_layers, self._forward(key))
        effects = Effects(key, {effect.layer: effect.map_of(0).cpu().numpy() for effect in measured})
        self._remember(effects)
        return effects

    async def _analysed(self, work: Callable[..., Result], *args: Any) -> Result:
        """`work` on the generation thread, under the bound on analysis at once (ServerBusyError past it)."""
        async with self.analysis_limit.slot():
            return await self._on_generation_thread(work, *args)

    async def ablation_async(self, sample: Sample, layer: str) -> Ablated:
        cached = self.analysis_cache.get(("ablation", sample.key, layer))
        return cached if isinstance(cached, Ablated) else await self._analysed(self.ablation, sample.key, layer)

    async def effects_async(self, sample: Sample) -> Effects:
        cached = self.analysis_cache.get(("effect", sample.key, None))
        return cached if isinstance(cached, Effects) else await self._analysed(self.effects, sample.key)

    async def effect_means_async(self) -> dict[str, float]:
        if self._effect_means is None:
            return await self._analysed(self.effect_means)
        return self._effect_means

    @property
    def effect_layers(self) -> list[str]:
        """The layers whose effect can be measured: our attention modules, with a softmax child and a γ."""
        ours = set(attention_layer_names(self.generator))
        return [name for name in self.layers if name in ours and hasattr(self.generator.get_submodule(name), "gamma")]

    def effect_means(self) -> dict[str, float]:
        """Each layer's mean ‖γ·o‖ / ‖x‖ over EFFECT_SEEDS, at the default class and truncation; measured once."""
        if self._effect_means is None:
            self._effect_means = self._measure_effect_means()
        return self._effect_means

    def _measure_effect_means(self) -> dict[str, float]:
        class_index, truncation = self.resolve(None, None)
        seeds = list(EFFECT_SEEDS)
        sums = dict.fromkeys(self.effect_layers, 0.0)
        for start in range(0, len(seeds), EFFECT_BATCH):
            batch = seeds[start : start + EFFECT_BATCH]
            classes = None if class_index is None else [class_index] * len(batch)
            forward = functools.partial(self.model.generate, batch, classes, truncation)
            measured = attention_effect(self.generator, self.effect_layers, forward)
            for effect in measured:
                sums[effect.layer] += float(effect.maps.double().sum())
        cells = {name: len(seeds) * self.layers[name].query_grid ** 2 for name in sums}
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
            "training": {key: training.get(key) for key in ("data", "steps", "licence", "attribution", "weights")},
            "default_layer": self.default_layer,
            "layers": [layer.to_dict(self.image_size) for layer in self.layers.values()],
        }
