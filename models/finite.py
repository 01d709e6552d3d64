"""A model whose output is NaN or infinite is named, never drawn.

`require_finite` refuses one sample's tensors with `NonFiniteOutputError`, a sentence for the
person who asked. `check_dry_run` makes one sample at the default inputs when a model loads; if it
is not finite, it reruns that sample with a forward hook on every module and names, in one
`CheckpointError` line, the first module (in the order they finish) whose output is not finite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import torch
from torch import nn

from models.checkpoint import CheckpointError

if TYPE_CHECKING:
    from models.families.base import LoadedModel

__all__ = ["DRY_RUN_SEED", "NonFiniteOutputError", "check_dry_run", "first_non_finite_module", "require_finite"]

DRY_RUN_SEED = 0


class NonFiniteOutputError(RuntimeError):
    """A sample whose image or attention maps hold NaN or infinite values; the message says which sample."""


def require_finite(sample: str, tensors: Iterable[torch.Tensor]) -> None:
    if not all(bool(torch.isfinite(tensor).all()) for tensor in tensors):
        raise NonFiniteOutputError(
            f"{sample} is not finite: the model produced NaN or infinite values, so there is no image to draw"
        )


def _tensors(output: object) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output] if output.is_floating_point() else []
    if isinstance(output, (tuple, list)):
        return [tensor for item in output for tensor in _tensors(item)]
    return []


def first_non_finite_module(model: nn.Module, forward: Callable[[], object]) -> str | None:
    """The name of the first submodule to finish with a non-finite output while `forward()` runs; None if none."""
    found: list[str] = []

    def watcher(name: str) -> Callable[[nn.Module, object, object], None]:
        def watch(module: nn.Module, inputs: object, output: object) -> None:
            if not found and not all(bool(torch.isfinite(tensor).all()) for tensor in _tensors(output)):
                found.append(name)

        return watch

    handles = [module.register_forward_hook(watcher(name)) for name, module in model.named_modules() if name]
    try:
        with torch.inference_mode():
            forward()
    finally:
        for handle in handles:
            handle.remove()
    return found[0] if found else None


def check_dry_run(model: LoadedModel) -> None:
    """One sample at the default class and truncation; a non-finite one is a CheckpointError naming the module."""
    class_index, truncation = model.inputs.resolve(None, None)
    try:
        model.capture(DRY_RUN_SEED, class_index, truncation)
    except NonFiniteOutputError:
        classes = None if class_index is None else [class_index]
        name = first_non_finite_module(model.module, lambda: model.generate([DRY_RUN_SEED], classes, truncation))
        where = (
            f"the first module whose output is not finite is {name}"
            if name
            else "every module's output is finite, so the step after the last module makes it"
        )
        raise CheckpointError(
            f"{model.path}: a dry-run sample (seed {DRY_RUN_SEED}) is NaN or infinite; {where}"
        ) from None
