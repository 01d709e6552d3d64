"""Attention capture with forward hooks on the `softmax` of named attention layers.

    with AttentionCapture(generator, ["attn1", "attn2"]) as capture:
        images = generator(z)
    maps = capture.maps  # {"attn2": (B, N, M) tensor, ...}

The model's code is untouched: the hook sees the softmax output, which is the attention map.
A capture records only forward passes run by the thread that entered it, so several threads may
share one model, each with its own capture, without seeing each other's maps. Every hook is
removed on exit, also when the forward pass raises. A layer whose softmax carries a hook never takes
the fused attention path that training may use, so the softmax always runs and the hook always sees it.

Samples are captured by `models.interception`, which sees these softmax modules too (and inline
softmaxes and fused attention); the hooks here remain for code that picks layers by name.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Self

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

__all__ = ["AttentionCapture", "LayerHooks", "attention_layer_names", "count_forward_hooks"]


def attention_layer_names(model: nn.Module) -> list[str]:
    """Modules with an `nn.Softmax` child named `softmax`: the attention layers of every family we serve."""
    return [name for name, module in model.named_modules() if isinstance(getattr(module, "softmax", None), nn.Softmax)]


def count_forward_hooks(model: nn.Module) -> int:
    """Forward hooks and forward pre-hooks registered anywhere in `model`; zero when no capture is active."""
    return sum(len(module._forward_hooks) + len(module._forward_pre_hooks) for module in model.modules())


def resolve_layers(model: nn.Module, patterns: Iterable[str]) -> list[str]:
    """Attention layer names matching each pattern (an exact name or an fnmatch pattern), in model order."""
    available = attention_layer_names(model)
    chosen: list[str] = []
    for pattern in patterns:
        matches = [name for name in available if fnmatch.fnmatchcase(name, pattern)]
        if not matches:
            raise KeyError(f"no attention layer matches {pattern!r}; the model has {available}")
        chosen.extend(name for name in matches if name not in chosen)
    return [name for name in available if name in chosen]


class LayerHooks:
    """Hooks on named attention layers that act only in the entering thread; every handle removed on exit.

    A subclass registers its hooks in `_register` and appends their handles to `_handles`.
    """

    def __init__(self, model: nn.Module, layers: Iterable[str]) -> None:
        self.model = model
        self.layers = resolve_layers(model, layers)
        self._handles: list[RemovableHandle] = []
        self._thread_id: int | None = None

    def _register(self, name: str, layer: nn.Module) -> None:
        raise NotImplementedError

    def _in_thread(self) -> bool:
        return threading.get_ident() == self._thread_id

    def __enter__(self) -> Self:
        if self._handles:
            raise RuntimeError(f"this {type(self).__name__} is already active")
        self._thread_id = threading.get_ident()
        try:
            for name in self.layers:
                self._register(name, self.model.get_submodule(name))
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._remove()

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


class AttentionCapture(LayerHooks):
    """Collect the attention maps of the chosen layers for forward passes in the entering thread."""

    def __init__(self, model: nn.Module, layers: Iterable[str]) -> None:
        super().__init__(model, layers)
        self._collected: dict[str, list[torch.Tensor]] = {}

    def __enter__(self) -> Self:
        if not self._handles:
            self._collected = {name: [] for name in self.layers}
        return super().__enter__()

    def _register(self, name: str, layer: nn.Module) -> None:
        self._handles.append(layer.softmax.register_forward_hook(self._recorder(name)))

    def _recorder(self, name: str):
        def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            if self._in_thread():
                self._collected[name].append(output.detach())

        return record

    @property
    def maps(self) -> dict[str, torch.Tensor]:
        """Each layer's maps, (B, N, M), batches of several forward passes concatenated in order."""
        missing = [name for name, chunks in self._collected.items() if not chunks]
        if missing:
            raise RuntimeError(f"no forward pass reached {missing} while capturing")
        return {name: chunks[0] if len(chunks) == 1 else torch.cat(chunks) for name, chunks in self._collected.items()}
