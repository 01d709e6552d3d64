"""Servable generator families behind one small interface (`models.families.base`).

`load(path)` asks each family in `FAMILIES`, in order, whether it recognises the path, and loads
the model with the first that does. The app, CLI and notebook API use only this module and never
name a family. Families, tried in order: those that installed packages declare in the entry-point
group `sagan_attn.families` (each entry point names a `ModelFamily` class or factory, called with no
arguments; installing such a package runs its code here), then StudioGAN (a run folder with its YAML
and `model=G_ema-…pth` / `model=G-…pth`, or one such file), BigGAN-deep (a folder holding
`config.json` and `pytorch_model.bin`), BigGAN-PyTorch (a folder holding `G_ema.pth` or `G.pth` and
`state_dict.pth`) and SAGAN-64 (our `sagan-attn/1` files and heykeetae `{step}_G.pth`, any other path
that is not a folder).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import entry_points
from importlib.resources import files
from pathlib import Path

import torch

from models.checkpoint import CheckpointError
from models.families.base import LoadedModel, ModelFamily, SamplingInputError, SamplingInputs
from models.families.biggan_deep import BigGANDeepFamily
from models.families.biggan_pytorch import BigGANPyTorchFamily
from models.families.sagan import SAGANFamily
from models.families.studiogan import StudioGANFamily
from models.finite import check_dry_run

__all__ = [
    "FAMILIES",
    "SHIPPED_MODEL",
    "LoadedModel",
    "ModelFamily",
    "SamplingInputError",
    "SamplingInputs",
    "installed_families",
    "load",
]

SHIPPED_MODEL = Path(str(files("models").joinpath("emoji_sagan.pt")))  # what `sagan-attn serve` serves by default

# SAGAN-64 takes any file, so it comes after the families that recognise files by their names.
FAMILIES: tuple[ModelFamily, ...] = (StudioGANFamily(), BigGANDeepFamily(), BigGANPyTorchFamily(), SAGANFamily())
ENTRY_POINT_GROUP = "sagan_attn.families"


def installed_families() -> tuple[ModelFamily, ...]:
    """The families that installed packages declare in `sagan_attn.families`, by entry-point name."""
    found = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda entry: entry.name):
        try:
            family = entry.load()()
        except Exception as error:  # noqa: BLE001  another package's code: reported in one line
            raise CheckpointError(
                f"family {entry.name!r} ({entry.value}) from an installed package failed: {type(error).__name__}: {error}"
            ) from None
        found.append(family)
    return tuple(found)


def load(
    path: Path | str, device: torch.device | str = "cpu", families: Sequence[ModelFamily] | None = None
) -> LoadedModel:
    """The model at `path`, loaded by the first family that recognises it (installed ones first), moved to `device`.

    One dry-run sample checks the output: a model that makes NaN or ∞ is a CheckpointError naming
    the first module whose output is not finite (`models.finite.check_dry_run`).
    """
    path = Path(path)
    if families is None:
        families = (*installed_families(), *FAMILIES)
    for family in families:
        if family.recognises(path):
            model = family.load(path)
            model.module.to(device)
            check_dry_run(model)
            return model
    known = "; ".join(f"{family.name}: {getattr(family, 'needs', 'its own files')}" for family in families)
    raise CheckpointError(f"{path}: no model family recognises it (known: {known})")
