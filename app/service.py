"""A served model: the generator, its attention layers, and its cache of generated samples."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from app.allocator import configure_allocator, return_freed_memory
from app.cache import Sample, SampleCache
from app.etag import weights_etag
from models.capture import AttentionCapture
from models.checkpoint import LoadedCheckpoint
from models.geometry import AttentionLayer, with_gammas
from models.imaging import to_uint8
from models.sagan import generator_attention_layers, sample_latents

__all__ = ["SEED_LIMIT", "ModelService"]

SEED_LIMIT = 2**32


class ModelService:
    """One generator served by name. Samples are generated on demand and cached."""

    def __init__(self, name: str, loaded: LoadedCheckpoint, cache_bytes: int) -> None:
        self.name = name
        self.loaded = loaded
        self.generator = loaded.generator.eval()
        self.config = loaded.config
        self.layers: dict[str, AttentionLayer] = {
            layer.name: layer for layer in with_gammas(self.generator, generator_attention_layers(self.config))
        }
        self.default_layer = list(self.layers)[-1]
        self.etag = weights_etag(self.generator)
        self.cache = SampleCache(cache_bytes)
        configure_allocator()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")

    @property
    def image_size(self) -> int:
        return self.config.image_size

    async def sample_async(self, seed: int) -> Sample:
        """A cached sample at once; a new one from the single generation thread, off the event loop.

        One thread runs every forward pass: torch already spreads each one over the cores, and one
        thread keeps one malloc arena instead of one per pooled thread.
        """
        cached = self.cache.get(seed)
        if cached is not None:
            return cached
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.sample, seed)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def sample(self, seed: int) -> Sample:
        if not 0 <= seed < SEED_LIMIT:
            raise ValueError(f"seed must be in [0, {SEED_LIMIT})")
        cached = self.cache.get(seed)
        if cached is not None:
            return cached
        sample = self.generate(seed)
        if self.cache.put(sample):
            return_freed_memory()
        return sample

    def generate(self, seed: int) -> Sample:
        with torch.inference_mode(), AttentionCapture(self.generator, list(self.layers)) as capture:
            images = self.generator(sample_latents([seed], self.config.z_dim))
        attention = {name: maps[0].float().numpy() for name, maps in capture.maps.items()}
        for matrix in attention.values():
            matrix.setflags(write=False)
        image = to_uint8(images[0])
        image.setflags(write=False)
        return Sample(seed=seed, image=image, attention=attention)

    def describe(self) -> dict[str, Any]:
        training = self.loaded.training
        return {
            "name": self.name,
            "checkpoint": self.loaded.path.name,
            "format": self.loaded.source_format,
            "image_size": self.image_size,
            "z_dim": self.config.z_dim,
            "config": self.config.to_dict(),
            "training": {key: training.get(key) for key in ("data", "steps", "licence", "attribution")},
            "default_layer": self.default_layer,
            "layers": [layer.to_dict(self.image_size) for layer in self.layers.values()],
        }
