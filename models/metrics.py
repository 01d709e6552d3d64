"""Summary statistics of a generator's attention, as printed by `sagan-attn inspect`.

For maps A (B, N, M) whose row i (a query cell) sums to 1 over the M key cells:

- row entropy / log M: mean over rows of −Σⱼ Aᵢⱼ log Aᵢⱼ, divided by its uniform value; 1 is uniform.
- mean distance: Σⱼ Aᵢⱼ ‖cᵢ − cⱼ‖ between query and key cell centres, in output pixels, averaged over rows.
- query variation: ½ Σⱼ |Aᵢⱼ − āⱼ|, the total-variation distance of a row from the sample's average row ā.
- object share ratio: the object is the sample's non-background pixels (not near-white: some channel
  below 0.85 of full scale). With oⱼ the object's share of key cell j's pixels, a row puts Σⱼ Aᵢⱼ oⱼ of
  its mass on the object, while the object covers ō = meanⱼ oⱼ of the image. The ratio is the mean of
  Σⱼ Aᵢⱼ oⱼ / ō over query cells that are mostly object (half their pixels or more), then over samples
  whose object covers 2–98 % of the image. 1 is attention blind to the object; above 1 it stays on it.
- ring mass ratio: the mass a row puts on the outermost ring of key cells, over the ring's share of the
  cells (4K − 4 of K² on a K×K key grid). 1 is no preference for the border.
- attention effect: ‖γ·o‖ / ‖x‖ at each query cell, the L2 norms over channels of what the layer adds
  (γ times its attention output o) and of its input x, averaged over query cells and samples (see
  `models.analysis`). 0 is a layer that changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from models.analysis import EffectCapture
from models.capture import attention_layer_names
from models.geometry import cell_centres
from models.imaging import image_grid
from models.interception import InterceptedCapture
from models.registry import LoadedModel

__all__ = [
    "LayerStatistics",
    "attention_statistics",
    "format_attention_targets",
    "format_statistics",
    "save_sample_grid",
]

MIN_OBJECT_SHARE_RATIO = 1.5  # the default model's last layer: queries on the object look at the object
MAX_RING_MASS_RATIO = 1.0  # and the border ring gets at most its share


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
    object_share_ratio: float  # attention on the object / the object's area share, for object queries; nan if none
    ring_mass_ratio: float  # attention on the outermost ring of key cells / the ring's share of the cells
    attention_effect: float  # mean over query cells of ‖γ·o‖ / ‖x‖; 0 = the layer changes nothing
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


BACKGROUND_LEVEL = 0.85  # a pixel whose every channel is above this share of full scale is background


def object_fraction(images: torch.Tensor, grid: int) -> torch.Tensor:
    """images (B, 3, S, S) in [-1, 1] → (B, grid²): the share of each cell's pixels that are not background."""
    unit = (images.float() + 1) / 2  # (B, 3, S, S) in [0, 1]
    is_object = (unit.amin(dim=1, keepdim=True) <= BACKGROUND_LEVEL).float()  # (B, 1, S, S)
    return F.adaptive_avg_pool2d(is_object, grid).flatten(1)  # (B, grid²), row-major


def object_share_ratio(maps: torch.Tensor, images: torch.Tensor, query_grid: int, key_grid: int) -> list[float]:
    """One ratio per sample whose object covers 2–98 % of the image and holds a query cell; see the module doc."""
    on_object_keys = object_fraction(images, key_grid)  # (B, M)
    on_object_queries = object_fraction(images, query_grid)  # (B, N)
    ratios = []
    for sample_maps, key_share, query_share in zip(maps, on_object_keys, on_object_queries, strict=True):
        area = float(key_share.mean())
        queries = query_share >= 0.5  # (N,)
        if not 0.02 <= area <= 0.98 or not queries.any():
            continue
        mass_on_object = sample_maps[queries] @ key_share  # (Q,)
        ratios.append(float(mass_on_object.mean()) / area)
    return ratios


def ring_mass_ratio(maps: torch.Tensor, key_grid: int) -> float:
    """maps (B, N, M) on a key_grid×key_grid key grid → mass on the outer ring / the ring's share of cells."""
    ring = torch.ones(key_grid, key_grid, dtype=torch.bool)
    ring[1:-1, 1:-1] = False
    ring = ring.flatten()  # (M,)
    mass = maps[..., ring].sum(-1).mean()
    return float(mass) / (float(ring.sum()) / ring.numel())


def seed_classes(model: LoadedModel, seeds: Sequence[int]) -> list[int] | None:
    """The class of each seed in these statistics and grids: seed mod the number of classes (None if unconditional).

    Models with a truncation (BigGAN-deep) are refused: these statistics are defined for the emoji models.
    """
    if model.inputs.truncation is not None:
        raise ValueError(
            f"{model.path}: a {model.family} model takes a truncation; these statistics measure SAGAN-64 models"
        )
    if not model.inputs.conditional:
        return None
    return [seed % len(model.inputs.class_names) for seed in seeds]


@torch.inference_mode()
def attention_statistics(model: LoadedModel, seeds: Iterable[int], batch_size: int = 16) -> list[LayerStatistics]:
    """The statistics of every attention layer over `seeds` (classes: `seed_classes`), maps averaged over heads.

    ‖γ·o‖ / ‖x‖ needs one of our attention modules (with `softmax` and `gamma`); it is NaN for the others.
    """
    seeds = list(seeds)
    layers = model.layers
    sums = {layer.name: [0.0, 0.0, 0.0, 0.0, 0.0] for layer in layers}
    object_ratios: dict[str, list[float]] = {layer.name: [] for layer in layers}
    gated = [name for name in attention_layer_names(model.module) if name in sums]
    for start in range(0, len(seeds), batch_size):
        chunk = seeds[start : start + batch_size]
        with InterceptedCapture(model.module) as capture, EffectCapture(model.module, gated) as effect:
            images = model.generate(chunk, seed_classes(model, chunk), None).cpu()
        effects = effect.effects if gated else {}
        captured = capture.layers
        for layer in layers:
            maps = captured[layer.name].maps.mean(1).cpu()  # (B, N, M): the mean over heads
            weight = len(chunk)
            sums[layer.name][4] += float(effects[layer.name].mean()) * weight if layer.name in effects else math.nan
            sums[layer.name][3] += ring_mass_ratio(maps, layer.key_grid) * weight
            object_ratios[layer.name] += object_share_ratio(maps, images, layer.query_grid, layer.key_grid)
            sums[layer.name][0] += row_entropy_fraction(maps) * weight
            sums[layer.name][1] += (
                mean_attention_distance(maps, layer.query_grid, layer.key_grid, model.image_size) * weight
            )
            sums[layer.name][2] += query_variation(maps) * weight
    return [
        LayerStatistics(
            name=layer.name,
            query_grid=layer.query_grid,
            key_grid=layer.key_grid,
            gamma=layer.gamma if layer.name in gated else math.nan,
            entropy_fraction=sums[layer.name][0] / len(seeds),
            mean_distance_px=sums[layer.name][1] / len(seeds),
            query_variation=sums[layer.name][2] / len(seeds),
            object_share_ratio=sum(object_ratios[layer.name]) / len(object_ratios[layer.name])
            if object_ratios[layer.name]
            else math.nan,
            ring_mass_ratio=sums[layer.name][3] / len(seeds),
            attention_effect=sums[layer.name][4] / len(seeds),
            seeds=len(seeds),
        )
        for layer in layers
    ]


def _or_dash(value: float, spec: str) -> str:
    """A statistic that does not apply (NaN: a layer without γ) as "—"."""
    return "—" if math.isnan(value) else format(value, spec)


def format_statistics(model: LoadedModel, statistics: list[LayerStatistics]) -> str:
    training = model.training
    lines = [
        f"checkpoint   {model.path}",
        f"format       {model.source_format}",
        f"trained on   {training.get('data', 'unknown')}, {training.get('steps', '?')} steps",
        f"measured over seeds 0..{statistics[0].seeds - 1}" if statistics else "no attention layers",
        "",
        (
            "| layer | query grid | key grid | γ | row entropy / log M | mean distance (px) | query variation (TV) "
            "| object share ratio | ring mass ratio | ‖γ·o‖ / ‖x‖ |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for stat in statistics:
        lines.append(
            f"| {stat.name} | {stat.query_grid}×{stat.query_grid} | {stat.key_grid}×{stat.key_grid} | "
            f"{_or_dash(stat.gamma, '+.4f')} | {stat.entropy_fraction:.3f} | {stat.mean_distance_px:.1f} | "
            f"{stat.query_variation:.3f} | {stat.object_share_ratio:.2f} | {stat.ring_mass_ratio:.2f} | "
            f"{_or_dash(stat.attention_effect, '.4f')} |"
        )
    return "\n".join(lines)


def format_attention_targets(last: LayerStatistics) -> str:
    """The default model's attention targets, checked on its last layer."""
    share, ring = last.object_share_ratio, last.ring_mass_ratio
    if math.isnan(share):
        share_verdict = "no query cell on an object in these samples"
    else:
        share_verdict = "met" if share >= MIN_OBJECT_SHARE_RATIO else f"missed by {MIN_OBJECT_SHARE_RATIO - share:.2f}"
    ring_verdict = "met" if ring <= MAX_RING_MASS_RATIO else f"missed by {ring - MAX_RING_MASS_RATIO:.2f}"
    return "\n".join(
        [
            f"targets ({last.name}, the last layer)",
            f"- object share ratio at least {MIN_OBJECT_SHARE_RATIO:.1f}: {share:.2f}, {share_verdict}",
            f"- ring mass ratio at most {MAX_RING_MASS_RATIO:.1f}: {ring:.2f}, {ring_verdict}",
            f"- query variation (reported, no target): {last.query_variation:.3f}",
        ]
    )


@torch.inference_mode()
def save_sample_grid(model: LoadedModel, path: Path, seeds: range = range(64)) -> None:
    """The samples of `seeds` (the explorer's seeds; classes: `seed_classes`), 8 per row, as one PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image_grid(model.generate(list(seeds), seed_classes(model, seeds), None).cpu()).save(path)
