"""Summary statistics of a generator's attention, as printed by `sagan-attn inspect`."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from models.capture import AttentionCapture
from models.checkpoint import LoadedCheckpoint
from models.geometry import cell_centres
from models.imaging import image_grid
from models.sagan import Generator, generator_attention_layers, sample_latents

__all__ = ["LayerStatistics", "attention_statistics", "format_statistics", "save_sample_grid"]


@dataclass(frozen=True)
class LayerStatistics:
    name: str
    query_grid: int
    key_grid: int
    gamma: float
    entropy_fraction: float  # mean row entropy / log(number of keys); 1.0 is uniform attention
    mean_distance_px: float  # mean distance from query to attended key, in output pixels
    query_variation: (
        float  # mean total-variation distance of a row from the sample's average row; 0 = every query looks alike
    )
    seeds: int


def row_entropy_fraction(maps: torch.Tensor) -> float:
    """maps (B, N, M) with rows summing to 1."""
    entropy = -(maps * maps.clamp_min(1e-12).log()).sum(-1)  # (B, N)
    return float(entropy.mean() / math.log(maps.shape[-1]))


def mean_attention_distance(maps: torch.Tensor, query_grid: int, key_grid: int, image_size: int) -> float:
    queries = torch.from_numpy(cell_centres(query_grid, image_size))  # (N, 2)
    keys = torch.from_numpy(cell_centres(key_grid, image_size))  # (M, 2)
    distances = torch.cdist(queries, keys)  # (N, M)
    return float((maps.double() * distances).sum(-1).mean())


def query_variation(maps: torch.Tensor) -> float:
    average_row = maps.mean(dim=1, keepdim=True)  # (B, 1, M)
    return float(0.5 * (maps - average_row).abs().sum(-1).mean())


@torch.inference_mode()
def attention_statistics(generator: Generator, seeds: Iterable[int], batch_size: int = 16) -> list[LayerStatistics]:
    generator.eval()
    seeds = list(seeds)
    layers = generator_attention_layers(generator.config)
    sums = {layer.name: [0.0, 0.0, 0.0] for layer in layers}
    for start in range(0, len(seeds), batch_size):
        chunk = seeds[start : start + batch_size]
        with AttentionCapture(generator, [layer.name for layer in layers]) as capture:
            generator(sample_latents(chunk, generator.config.z_dim))
        for layer in layers:
            maps = capture.maps[layer.name].float()
            weight = len(chunk)
            sums[layer.name][0] += row_entropy_fraction(maps) * weight
            sums[layer.name][1] += (
                mean_attention_distance(maps, layer.query_grid, layer.key_grid, generator.config.image_size) * weight
            )
            sums[layer.name][2] += query_variation(maps) * weight
    return [
        LayerStatistics(
            name=layer.name,
            query_grid=layer.query_grid,
            key_grid=layer.key_grid,
            gamma=float(getattr(generator, layer.name).gamma.detach()),
            entropy_fraction=sums[layer.name][0] / len(seeds),
            mean_distance_px=sums[layer.name][1] / len(seeds),
            query_variation=sums[layer.name][2] / len(seeds),
            seeds=len(seeds),
        )
        for layer in layers
    ]


def format_statistics(loaded: LoadedCheckpoint, statistics: list[LayerStatistics]) -> str:
    training = loaded.training
    lines = [
        f"checkpoint   {loaded.path}",
        f"format       {loaded.source_format}",
        f"trained on   {training.get('data', 'unknown')}, {training.get('steps', '?')} steps",
        f"measured over seeds 0..{statistics[0].seeds - 1}" if statistics else "no attention layers",
        "",
        "| layer | query grid | key grid | γ | row entropy / log N | mean distance (px) | query variation (TV) |",
        "|---|---|---|---|---|---|---|",
    ]
    for stat in statistics:
        lines.append(
            f"| {stat.name} | {stat.query_grid}×{stat.query_grid} | {stat.key_grid}×{stat.key_grid} | "
            f"{stat.gamma:+.4f} | {stat.entropy_fraction:.3f} | {stat.mean_distance_px:.1f} | "
            f"{stat.query_variation:.3f} |"
        )
    return "\n".join(lines)


@torch.inference_mode()
def save_sample_grid(generator: Generator, path: Path, seeds: range = range(64)) -> None:
    """The samples of `seeds` (the explorer's seeds), 8 per row, as one PNG."""
    generator.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    image_grid(generator(sample_latents(list(seeds), generator.config.z_dim))).save(path)
