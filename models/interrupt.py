"""Stopping a forward pass part-way once nobody wants its result.

    with StopWhen(model, lambda: nobody_waits()):
        model(z)  # raises Interrupted at the next module that starts after nobody_waits() turns true

Every module of the model gets a forward pre-hook that asks `stop()`; only forward passes of the
entering thread are stopped, and every hook is removed on exit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from torch import nn
from torch.utils.hooks import RemovableHandle

__all__ = ["Interrupted", "StopWhen"]


class Interrupted(Exception):
    """The forward pass was stopped because its result was no longer wanted."""


class StopWhen:
    def __init__(self, model: nn.Module, stop: Callable[[], bool]) -> None:
        self.model = model
        self.stop = stop
        self._handles: list[RemovableHandle] = []
        self._thread_id: int | None = None

    def _check(self, module: nn.Module, inputs: Any) -> None:
        if threading.get_ident() == self._thread_id and self.stop():
            raise Interrupted("nobody waits for this forward pass any more")

    def __enter__(self) -> Self:
        if self._handles:
            raise RuntimeError("this StopWhen is already active")
        self._thread_id = threading.get_ident()
        self._handles = [module.register_forward_pre_hook(self._check) for module in self.model.modules()]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
