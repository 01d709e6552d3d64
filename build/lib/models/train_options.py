"""A training run's options: their defaults, how a run's state stores them, and how `--resume` reads them back."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

__all__ = [
    "MAY_CHANGE_ON_RESUME",
    "TrainOptions",
    "check_agreement",
    "options_from_saved",
    "options_to_saved",
    "resume_options",
]


@dataclass(frozen=True)
class TrainOptions:
    data: str = "emoji"  # "emoji" or a folder of images
    out_dir: Path = Path("runs/emoji")  # samples, plots, the resumable state and the exported model
    steps: int = 6000  # total steps of the run, counting those of earlier sittings
    batch_size: int = 32  # global batch, split across processes
    g_conv_dim: int = 32  # G width
    d_conv_dim: int = 32  # D width
    z_dim: int = 128
    attn_key_pool: int = 2  # keys and values max-pooled 2×2: maps N × N/4, about half the step time
    g_blocks: str = "transposed"  # "transposed" (the reference's) or "residual" (nearest upsampling + 3×3)
    g_lr: float = 1e-4
    d_lr: float = 4e-4
    ema_decay: float = 0.999
    diff_augment: bool = True
    balance: str = "image"  # "image": every image as likely; "emoji": every emoji, its variants sharing
    shared_forward: bool = True  # one G forward serves D's and G's updates
    fused_attention: bool = True  # training's attention runs scaled_dot_product_attention (no map needed)
    channels_last: bool = True
    seed: int = 0
    sample_every: int = 250
    checkpoint_every: int = 250
    evaluate_every: int = 0  # 0: never; otherwise the quality score every this many steps (emoji data only)
    evaluate_samples: int = 1536  # about the held-out split's size, so the floor's and the samples' N match
    resume: bool = False
    # "bf16": forward passes under bfloat16 autocast (weights, optimiser and losses stay float32).
    # About twice as fast on CPUs with AVX512-BF16 or AMX, slower where it is emulated.
    precision: str = "fp32"
    device: str = "auto"  # "auto", "cpu" or "cuda"


# What a sitting may change when it continues a run; every other option is part of the run.
MAY_CHANGE_ON_RESUME = frozenset(
    {
        "out_dir",
        "steps",
        "resume",
        "precision",
        "device",
        "sample_every",
        "checkpoint_every",
        "evaluate_every",
        "evaluate_samples",
        "fused_attention",  # the same maths by another kernel
        "channels_last",  # the same maths in another memory layout
    }
)
# Options that runs saved before they existed used implicitly.
EARLIER_DEFAULTS = {
    "attn_key_pool": 1,
    "g_blocks": "transposed",
    "balance": "image",
    "shared_forward": False,
    "fused_attention": False,
    "channels_last": False,
    "evaluate_every": 0,
    "evaluate_samples": 1536,
    "device": "auto",
}


def _parse(kind: Any, text: str) -> Any:
    if kind in (bool, "bool"):
        if text not in ("True", "False"):
            raise ValueError(f"not a boolean: {text!r}")
        return text == "True"
    for name, parse in (("int", int), ("float", float), ("Path", Path), ("str", str)):
        if kind in (name, parse):
            return parse(text)
    raise TypeError(f"no parser for {kind}")


def options_to_saved(options: TrainOptions) -> dict[str, str]:
    return {field.name: str(getattr(options, field.name)) for field in fields(TrainOptions)}


def options_from_saved(saved: dict[str, str]) -> TrainOptions:
    values = {}
    for field in fields(TrainOptions):
        if field.name in saved:
            values[field.name] = _parse(field.type, saved[field.name])
        elif field.name in EARLIER_DEFAULTS:
            values[field.name] = EARLIER_DEFAULTS[field.name]
    return TrainOptions(**values)


def check_agreement(stored: TrainOptions, given: dict[str, Any]) -> None:
    """`ValueError` naming every option that is part of the run and differs from the stored value."""
    disagreements = [
        f"--{name.replace('_', '-')} is {value!r}, but the run was trained with {getattr(stored, name)!r}"
        for name, value in given.items()
        if name not in MAY_CHANGE_ON_RESUME and getattr(stored, name) != value
    ]
    if disagreements:
        raise ValueError("--resume: " + "; ".join(disagreements) + " (leave the option out to keep the stored value)")


def resume_options(saved: dict[str, str], given: dict[str, Any]) -> TrainOptions:
    """The saved run's options, with the options given again on the command line laid over them.

    An option that is part of the run must agree with the stored value; `ValueError` names each that does not.
    """
    stored = options_from_saved(saved)
    check_agreement(stored, given)
    changes = {name: value for name, value in given.items() if name in MAY_CHANGE_ON_RESUME}
    return dataclasses.replace(stored, **changes, resume=True)
