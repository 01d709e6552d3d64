"""Our checkpoint format: one dict of tensors and plain values that loads with `weights_only=True`.

    {
      "format": "sagan-attn/1",
      "config": {...SAGANConfig fields...},
      "generator": state_dict,
      "discriminator": state_dict or None,
      "training": {"steps", "data", "licence", "attribution"},
      "classes": [class names in index order] (class-conditional models only),
    }

`load_checkpoint` also accepts the reference implementation's `{step}_G.pth` state dicts. Every
problem with a file surfaces as one `CheckpointError` line naming the file.
"""

from __future__ import annotations

import math
import pickle
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from models.file_reading import check_regular_file
from models.files import save_atomic
from models.reference import convert_reference_generator, is_reference_discriminator, is_reference_state_dict
from models.sagan import Discriminator, Generator, SAGANConfig

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "LoadedCheckpoint",
    "check_state_dict",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "sagan-attn/1"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message is one line naming the file."""


@dataclass
class LoadedCheckpoint:
    path: Path
    config: SAGANConfig
    generator: Generator
    discriminator: Discriminator | None
    training: dict[str, Any] = field(default_factory=dict)
    source_format: str = CHECKPOINT_FORMAT
    class_names: tuple[str, ...] | None = None  # index order; None for an unconditional model


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: tensor.detach().cpu() for key, tensor in module.state_dict().items()}


def save_checkpoint(
    path: Path,
    config: SAGANConfig,
    generator: Generator,
    discriminator: Discriminator | None,
    training: dict[str, Any],
    class_names: Sequence[str] | None = None,
) -> None:
    if config.conditional and (class_names is None or len(class_names) != config.num_classes):
        raise ValueError(f"a model of {config.num_classes} classes needs as many class names")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "generator": _cpu_state(generator),
        "discriminator": _cpu_state(discriminator) if discriminator is not None else None,
        "training": dict(training),
    }
    if class_names is not None:
        payload["classes"] = list(class_names)
    save_atomic(payload, path)


def _read(path: Path) -> Any:
    check_regular_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        unsafe = re.search(r"GLOBAL ([\w.]+)", str(error))
        if unsafe:
            raise CheckpointError(
                f"{path}: refused, it would build {unsafe.group(1)}, and only an unsafe load that can run code does that"
            ) from None
        operand = re.search(r"Unsupported operand \d+", str(error))
        raise CheckpointError(
            f"{path}: not a torch checkpoint that loads with weights_only=True "
            f"({operand.group(0) if operand else 'unreadable pickle'}); is it a plain pickle or a corrupt file?"
        ) from None
    except Exception as error:  # noqa: BLE001  torch.load raises many types for files that are not torch archives
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: not a readable torch file, truncated or corrupt ({reason[:120]})") from None


def name_list(keys: Sequence[str], most: int = 3) -> str:
    """ "N (a, b, c, …)": a count and the first few names, for one-line messages."""
    shown = ", ".join(keys[:most])
    return f"{len(keys)} ({shown}{', …' if len(keys) > most else ''})"


def check_state_dict(path: Path, state: Any, expected: Mapping[str, tuple[int, ...]], against: str) -> None:
    """Refuse, in one CheckpointError line naming `path`, a foreign state dict that does not fit `expected`.

    `expected` holds every key with its shape; `against` says what the keys were compared with
    (e.g. "the BigGAN-deep of config.json"). Keys must match exactly, shapes too, and floating
    tensors must be finite (tensors on the meta device, in shape-only checks, are not read).
    """
    if not isinstance(state, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise CheckpointError(f"{path}: not a state dict of named tensors")
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        problems = [
            f"{what} {name_list(keys)}" for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys
        ]
        raise CheckpointError(f"{path}: keys do not match {against}: {', '.join(problems)}")
    wrong = [key for key, shape in expected.items() if tuple(state[key].shape) != tuple(shape)]
    if wrong:
        key = wrong[0]
        raise CheckpointError(
            f"{path}: {len(wrong)} tensors have the wrong shape for {against}, e.g. {key} is "
            f"{tuple(state[key].shape)}, expected {tuple(expected[key])}"
        )
    non_finite = [
        key
        for key, tensor in state.items()
        if tensor.is_floating_point() and not tensor.is_meta and not tensor.isfinite().all()
    ]
    if non_finite:
        raise CheckpointError(f"{path}: NaN or infinite values in {name_list(non_finite)}")


def _parse_config(path: Path, raw: Any) -> SAGANConfig:
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: 'config' must be a mapping of architecture settings")
    known = {f.name for f in fields(SAGANConfig)}
    unknown = sorted(str(key) for key in set(raw) - known)
    if unknown:
        raise CheckpointError(f"{path}: unknown config keys {unknown}; this version knows {sorted(known)}")
    try:
        return SAGANConfig(**raw)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: wrong architecture: {error}") from None


def _parse_class_names(path: Path, raw: Any, config: SAGANConfig) -> tuple[str, ...] | None:
    if raw is None and not config.conditional:
        return None
    if not isinstance(raw, list) or not all(isinstance(name, str) and 0 < len(name) <= 200 for name in raw):
        raise CheckpointError(f"{path}: a class-conditional model needs 'classes', a list of class names")
    if len(raw) != config.num_classes:
        raise CheckpointError(f"{path}: 'classes' names {len(raw)} classes, but the model has {config.num_classes}")
    if len(set(raw)) != len(raw):
        raise CheckpointError(f"{path}: 'classes' repeats a name")
    return tuple(raw)


def _describe_mismatch(error: RuntimeError) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = " ".join(lines[1:]) if len(lines) > 1 else lines[0]
    return detail[:400]


def _build(path: Path, module: torch.nn.Module, state: Any, what: str) -> None:
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{path}: '{what}' must be a state dict of named tensors")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{path}: {what} does not match the architecture: {_describe_mismatch(error)}") from None
    non_finite = [
        key for key, tensor in state.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()
    ]
    if non_finite:
        raise CheckpointError(f"{path}: {what} holds NaN or infinite values in {non_finite[:3]}; did training diverge?")
    module.eval()


def _plain_metadata(training: dict[Any, Any]) -> dict[str, str | int | float | None]:
    """Metadata as JSON-safe scalars; anything else becomes its (bounded) text."""
    plain: dict[str, str | int | float | None] = {}
    for key, value in training.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float, type(None))):
            value = str(value)[:500]
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        plain[str(key)[:100]] = value
    return plain


def load_checkpoint(path: Path | str) -> LoadedCheckpoint:
    """Read our format or a reference `{step}_G.pth`, and return the models in eval mode."""
    path = Path(path)
    payload = _read(path)
    if isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
        missing = {"config", "generator"} - set(payload)
        if missing:
            raise CheckpointError(f"{path}: checkpoint lacks {sorted(missing)}")
        config = _parse_config(path, payload["config"])
        generator = Generator(config)
        _build(path, generator, payload["generator"], "generator")
        discriminator = None
        if payload.get("discriminator") is not None:
            discriminator = Discriminator(config)
            _build(path, discriminator, payload["discriminator"], "discriminator")
        training = payload.get("training") or {}
        if not isinstance(training, dict):
            raise CheckpointError(f"{path}: 'training' must be a mapping")
        class_names = _parse_class_names(path, payload.get("classes"), config)
        return LoadedCheckpoint(
            path, config, generator, discriminator, _plain_metadata(training), class_names=class_names
        )
    if isinstance(payload, dict) and is_reference_state_dict(payload):
        if is_reference_discriminator(payload):
            raise CheckpointError(
                f"{path}: this is a discriminator checkpoint ({{step}}_D.pth); pass the generator's {{step}}_G.pth"
            )
        try:
            config, state = convert_reference_generator(payload)
        except Exception as error:  # noqa: BLE001  any malformed tensor or key in a foreign file
            raise CheckpointError(f"{path}: reference checkpoint cannot be converted: {str(error)[:200]}") from None
        generator = Generator(config)
        _build(path, generator, state, "generator")
        training = {"data": "unknown (reference implementation checkpoint)", "steps": None}
        return LoadedCheckpoint(path, config, generator, None, training, source_format="heykeetae/Self-Attention-GAN")
    if isinstance(payload, dict) and "format" in payload:
        raise CheckpointError(f"{path}: unsupported checkpoint format {str(payload['format'])[:60]!r}")
    raise CheckpointError(
        f"{path}: not a checkpoint: expected a '{CHECKPOINT_FORMAT}' file or a reference generator state dict"
    )
