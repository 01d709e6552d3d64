"""Servable generator families behind one small interface (`models.families.base`).

`load(path)` asks each family in `FAMILIES`, in order, whether it recognises the path, and loads
the model with the first that does. The app, CLI and notebook API use only this module and never
name a family. Families, tried in order: those that installed packages declare in the entry-point
group `sagan_attn.families` (each entry point names a `ModelFamily` class or factory, called with no
arguments; installing such a package runs its code here), then SAGAN-64 (our `sagan-attn/1` files
and heykeetae `{step}_G.pth`, any path that is not a folder) and BigGAN-deep (a folder holding
`config.json` and `pytorch_model.bin`).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import entry_points
from importlib.resources import files
from pathlib import Path

import torch

from models import biggan
from models.checkpoint import CheckpointError
from models.families.base import LoadedModel, ModelFamily, SamplingInputError, SamplingInputs
from models.families.biggan_deep import BigGANDeepFamily
from models.families.sagan import SAGANFamily

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

FAMILIES: tuple[ModelFamily, ...] = (SAGANFamily(), BigGANDeepFamily())
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
    """The model at `path`, loaded by the first family that recognises it (installed ones first), moved to `device`."""
    path = Path(path)
    if families is None:
        families = (*installed_families(), *FAMILIES)
    for family in families:
        if family.recognises(path):
            model = family.load(path)
            model.module.to(device)
            return model
    known = ", ".join(family.name for family in families)
    raise CheckpointError(
        f"{path}: no model family recognises it (known: {known}); "
        f"a folder must hold {biggan.CONFIG_NAME} and {biggan.WEIGHTS_NAME}"
    )
