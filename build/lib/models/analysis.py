"""What attention adds to a generator: its samples without a layer's attention, and how much it moves the features.

Both SAGAN's and BigGAN's attention modules return y = x + γ·o, where x is the layer's input and o
the attention output before γ (SAGAN: V Aᵀ; BigGAN: O(G Aᵀ)). Two measures follow:

- **γ = 0 sample.** The forward pass rerun with one layer's γ replaced by 0, so the layer returns
  its input unchanged. The model is never modified: a forward hook swaps the layer's output for
  that of a private copy of the layer with γ = 0 (a few 1×1 convolutions), so no parameter of the
  model is touched, no other thread sees the change, and nothing assumes the x + γ·o identity.
  The per-pixel difference is meanₖ |image − image₀|ₖ over the 3 colour channels, in image units
  ([−1, 1] images, so 0..2).
- **Attention effect.** At each query cell (h, w): e = ‖y − x‖₂ / ‖x‖₂, the L2 norms taken over
  channels, i.e. ‖γ·o‖ / ‖x‖. One (H, W) map per layer on its query grid, and its mean over cells.
  Where ‖x‖ = 0 the denominator is taken as 1e-12. 0 means attention changes nothing; 0.1 means it
  moves the features by a tenth of their size.

The functions take the forward pass as a callable (`forward()` runs the model and returns its
images), so they work on any module whose attention layers `models.capture` finds by name: SAGAN's
`attn1`/`attn2`, BigGAN-deep's `generator.layers.N`. Hooks are thread-scoped and always removed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Self

import torch
from torch import nn

from models.capture import LayerHooks, resolve_layers

__all__ = [
    "Ablation",
    "AttentionEffect",
    "AttentionRemoved",
    "EffectCapture",
    "attention_effect",
    "effect_map",
    "pixel_difference",
    "sample_without_attention",
]

Forward = Callable[[], torch.Tensor]  # runs the model, returns images (B, 3, S, S) in [-1, 1]
NORM_FLOOR = 1e-12


def _without_gamma(layer: nn.Module) -> nn.Module:
    """A private copy of an attention layer with γ = 0 and none of the original's hooks."""
    clone = copy.deepcopy(layer)
    for module in clone.modules():
        module._forward_hooks.clear()
        module._forward_pre_hooks.clear()
    with torch.no_grad():
        clone.gamma.zero_()
    return clone


class AttentionRemoved(LayerHooks):
    """While active, the chosen layers compute with γ = 0 in forward passes of the entering thread.

    Each layer's output is replaced by that of a private γ = 0 copy of the layer, applied to the same
    input; the model's own parameters are never written.
    """

    def _register(self, name: str, layer: nn.Module) -> None:
        clone = _without_gamma(layer)

        def replace(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor | None:
            return clone(*inputs) if self._in_thread() else None

        self._handles.append(layer.register_forward_hook(replace))


class EffectCapture(LayerHooks):
    """Records, per chosen layer, its input x and y − x (= γ·o) for forward passes of the entering thread."""

    def __init__(self, model: nn.Module, layers: Iterable[str]) -> None:
        super().__init__(model, layers)
        self._inputs: dict[str, list[torch.Tensor]] = {}
        self._added: dict[str, list[torch.Tensor]] = {}

    def __enter__(self) -> Self:
        self._inputs = {name: [] for name in self.layers}
        self._added = {name: [] for name in self.layers}
        return super().__enter__()

    def _register(self, name: str, layer: nn.Module) -> None:
        def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            if self._in_thread():
                x = inputs[0].detach()  # (B, C, H, W)
                self._inputs[name].append(x)
                self._added[name].append(output.detach() - x)  # (B, C, H, W): γ·o

        self._handles.append(layer.register_forward_hook(record))

    def _collected(self, chunks: dict[str, list[torch.Tensor]]) -> dict[str, torch.Tensor]:
        missing = [name for name, parts in chunks.items() if not parts]
        if missing:
            raise RuntimeError(f"no forward pass reached {missing} while capturing")
        return {name: torch.cat(parts) for name, parts in chunks.items()}

    @property
    def inputs(self) -> dict[str, torch.Tensor]:
        """Each layer's input x, (B, C, H, W), batches of several passes concatenated in order."""
        return self._collected(self._inputs)

    @property
    def added(self) -> dict[str, torch.Tensor]:
        """What each layer adds to its input, y − x = γ·o, (B, C, H, W)."""
        return self._collected(self._added)

    @property
    def effects(self) -> dict[str, torch.Tensor]:
        """Each layer's ‖γ·o‖ / ‖x‖ per query cell, (B, H, W)."""
        inputs = self.inputs
        return {name: effect_map(inputs[name], added) for name, added in self.added.items()}


def effect_map(features: torch.Tensor, added: torch.Tensor) -> torch.Tensor:
    """‖added‖₂ / ‖features‖₂ over channels at each cell: (B, C, H, W) twice → (B, H, W); see the module doc."""
    added_norm = torch.linalg.vector_norm(added.double(), dim=1)  # (B, H, W)
    feature_norm = torch.linalg.vector_norm(features.double(), dim=1).clamp_min(NORM_FLOOR)  # (B, H, W)
    return (added_norm / feature_norm).float()


def pixel_difference(images: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over the colour channels: (B, 3, S, S) twice → (B, S, S), in image units."""
    return (images.float() - other.float()).abs().mean(dim=1)


@dataclass(frozen=True)
class Ablation:
    layer: str
    images: torch.Tensor  # (B, 3, S, S): the real samples
    without: torch.Tensor  # (B, 3, S, S): the same samples with the layer's γ = 0
    difference: torch.Tensor  # (B, S, S): meanₖ |images − without| over channels


@torch.no_grad()
def sample_without_attention(
    model: nn.Module, layer: str, forward: Forward, images: torch.Tensor | None = None
) -> Ablation:
    """The samples `forward()` makes, and the same samples with `layer`'s γ set to 0; see the module doc.

    `images`, if given, are the samples `forward()` makes, already at hand; otherwise they are made here.
    """
    names = resolve_layers(model, [layer])
    if len(names) != 1:
        raise KeyError(f"{layer!r} matches the attention layers {names}; give exactly one")
    (name,) = names
    if images is None:
        images = forward()  # (B, 3, S, S)
    with AttentionRemoved(model, [name]):
        without = forward()  # (B, 3, S, S)
    return Ablation(name, images, without, pixel_difference(images, without))


@dataclass(frozen=True)
class AttentionEffect:
    layer: str
    query_grid: tuple[int, int]  # (H, W) of the layer's feature map
    maps: torch.Tensor  # (B, H, W): ‖γ·o‖ / ‖x‖ at each query cell
    mean: float  # over samples and query cells

    def map_of(self, sample: int = 0) -> torch.Tensor:
        return self.maps[sample]  # (H, W)


@torch.no_grad()
def attention_effect(model: nn.Module, layers: Iterable[str], forward: Forward) -> list[AttentionEffect]:
    """‖γ·o‖ / ‖x‖ per query cell for each chosen layer (names or fnmatch patterns), in model order."""
    with EffectCapture(model, layers) as capture:
        forward()
    return [
        AttentionEffect(name, (maps.shape[1], maps.shape[2]), maps, float(maps.mean()))
        for name, maps in capture.effects.items()
    ]
