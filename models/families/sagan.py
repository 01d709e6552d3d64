"""SAGAN-64: our `sagan-attn/1` checkpoints and heykeetae's `{step}_G.pth` (see models/checkpoint.py).

Any path that is not a folder is this family's, a missing one too, so that it gets the checkpoint
loader's message. A seed becomes z as `models.sagan.sample_latents` draws it: a standard normal
from a CPU generator seeded with the seed, whatever the class; a class-conditional model (trained
with `train --conditional`) takes its class names from the checkpoint. The attention layers are `attn1` (16×16) and `attn2`
(32×32), with full or 2×2-pooled keys as the checkpoint's config says.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from models.checkpoint import LoadedCheckpoint, load_checkpoint
from models.families.base import LoadedModel, SamplingInputs
from models.geometry import AttentionLayer, layer_gamma
from models.sagan import generator_attention_layers, sample_latents

__all__ = ["SAGANFamily", "sagan_model"]

NAME = "sagan-64"


def sagan_model(checkpoint: LoadedCheckpoint) -> LoadedModel:
    """A loaded SAGAN-64 checkpoint as a `LoadedModel`; a class-conditional one takes a class per seed."""
    generator = checkpoint.generator.eval()
    config = checkpoint.config
    layers = tuple(
        AttentionLayer.of(layer, layer_gamma(generator, layer.name)) for layer in generator_attention_layers(config)
    )

    def generate(seeds: Sequence[int], classes: Sequence[int] | None, truncation: float | None) -> torch.Tensor:
        if truncation is not None:
            raise ValueError("a SAGAN-64 model has no truncation")
        if config.conditional != (classes is not None):
            wanted = "one class per seed" if config.conditional else "no class (it is unconditional)"
            raise ValueError(f"this SAGAN-64 model takes {wanted}")
        device = next(generator.parameters()).device
        latents = sample_latents(list(seeds), config.z_dim).to(device)
        if classes is None:
            return generator(latents)
        if len(classes) != len(seeds):
            raise ValueError(f"need one class per seed, got {len(seeds)} seeds and {len(classes)} classes")
        return generator(latents, torch.tensor(list(classes), dtype=torch.int64, device=device))

    def latents(seed: int, class_index: int | None, truncation: float | None) -> torch.Tensor:
        return sample_latents([seed], config.z_dim)[0]  # (z_dim,); the class does not change z

    return LoadedModel(
        family=NAME,
        path=checkpoint.path,
        module=generator,
        image_size=config.image_size,
        inputs=SamplingInputs(config.z_dim, checkpoint.class_names),
        layers=layers,
        generate=generate,
        source_format=checkpoint.source_format,
        config=config.to_dict(),
        training=dict(checkpoint.training),
        latents=latents,
    )


class SAGANFamily:
    """A file: our `sagan-attn/1` checkpoint or the reference's `{step}_G.pth`."""

    name = NAME
    needs = "a sagan-attn/1 checkpoint or a heykeetae {step}_G.pth file"

    def recognises(self, path: Path) -> bool:
        return not path.is_dir()

    def load(self, path: Path) -> LoadedModel:
        return sagan_model(load_checkpoint(path))
