"""A served model: the generator, its attention layers, and a byte-bounded cache of generated samples."""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from models.capture import AttentionCapture
from models.checkpoint import LoadedCheckpoint
from models.sagan import generator_attention_layers, sample_latents

__all__ = ["LayerView", "ModelService", "Sample", "SampleCache"]

SEED_LIMIT = 2**32


@dataclass(frozen=True)
class LayerView:
    name: str
    query_grid: int
    key_grid: int
    channels: int
    gamma: float


@dataclass(frozen=True)
class Sample:
    seed: int
    image: np.ndarray  # (S, S, 3) uint8
    attention: dict[str, np.ndarray]  # layer → (N, M) float32, row i = query cell i

    @property
    def nbytes(self) -> int:
        return self.image.nbytes + sum(matrix.nbytes for matrix in self.attention.values())


class SampleCache:
    """Least-recently-used samples, evicted once their arrays pass `max_bytes`. Thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[int, Sample] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, seed: int) -> Sample | None:
        with self._lock:
            sample = self._items.get(seed)
            if sample is not None:
                self._items.move_to_end(seed)
            return sample

    def put(self, sample: Sample) -> int:
        """Add a sample; return how many old ones were evicted to stay under the bound."""
        evicted_count = 0
        with self._lock:
            if sample.seed in self._items:
                return 0
            self._items[sample.seed] = sample
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


def image_to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] → (H, W, 3) uint8."""
    return ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


def weights_digest(module: torch.nn.Module) -> str:
    """A short hash of a module's parameters and buffers: changes whenever the weights do."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class ModelService:
    """One generator served by name. Samples are generated on demand and cached."""

    def __init__(self, name: str, loaded: LoadedCheckpoint, cache_bytes: int) -> None:
        self.name = name
        self.loaded = loaded
        self.generator = loaded.generator.eval()
        self.config = loaded.config
        self.layers = {
            info.name: LayerView(
                name=info.name,
                query_grid=info.query_grid,
                key_grid=info.key_grid,
                channels=info.channels,
                gamma=float(getattr(self.generator, info.name).gamma.detach()),
            )
            for info in generator_attention_layers(self.config)
        }
        self.default_layer = list(self.layers)[-1]
        # Every response is a pure function of URL and weights, so the weights name its version.
        self.etag = f'"{weights_digest(self.generator)}"'
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
        image = image_to_uint8(images[0])
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
            "layers": [
                {
                    "name": layer.name,
                    "query_grid": layer.query_grid,
                    "key_grid": layer.key_grid,
                    "channels": layer.channels,
                    "gamma": layer.gamma,
                    "pixels_per_query_cell": self.image_size // layer.query_grid,
                    "pixels_per_key_cell": self.image_size // layer.key_grid,
                }
                for layer in self.layers.values()
            ],
        }
