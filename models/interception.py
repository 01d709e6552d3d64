"""Attention capture by interception: every softmax and fused attention a forward pass computes.

    with InterceptedCapture(generator) as capture:
        images = generate(z)
    capture.layers  # {"blocks.2.attn": CapturedLayer(kind, heads, maps (B, H, N, M)), ...}

A `TorchFunctionMode` sees each torch call of the capturing thread (the mode stack is per thread),
and forward pre/post hooks on every submodule of the model keep the stack of running modules, so
each record is named by the innermost module running at that moment (its qualified name):

- a softmax over the last axis whose output is (B, N, M) or (B, H, N, M): the map itself. Called
  by an `nn.Softmax` module, it is named by the module that owns that softmax (`attn1.softmax` →
  `attn1`, kind "softmax module"); otherwise by the module that called it ("inline softmax");
- `scaled_dot_product_attention`: softmax(q·kᵀ·scale + mask) computed on the side, honouring
  `scale`, `attn_mask` (bool: True takes part; float: added), `is_causal` and `enable_gqa`; the
  fused kernel still produces the output ("fused attention").

A 3-D softmax inside a module with an integer `num_heads` that divides its first axis is read as
(B·H, N, M), batch major. A mode does not see the torch calls made inside a torch function it
intercepts, so `F.multi_head_attention_forward` (what `nn.MultiheadAttention` runs) is read whole:
its per-head weights (B, H, L, S) are the map, taken from a second call with `need_weights` when
the caller did not ask for them; the caller's own call still produces the output. A second call inside one module
during one pass is named `<name>#2`, and so on; a pass begins whenever the model is entered from
outside it. Calls outside any module of the model are not recorded. The mode and every hook are
removed on exit, also when the forward pass raises; `active_captures()` counts those still open.
"""

from __future__ import annotations

import inspect
import logging
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import Any, Self

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.hooks import RemovableHandle

__all__ = ["CapturedLayer", "InterceptedCapture", "Kind", "active_captures"]

log = logging.getLogger(__name__)

SOFTMAX_FUNCTIONS = frozenset({F.softmax, torch.softmax, torch.Tensor.softmax, torch.special.softmax})
MHA_SIGNATURE = inspect.signature(F.multi_head_attention_forward)
SDPA_PARAMETERS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")

_open = 0
_open_lock = threading.Lock()


def active_captures() -> int:
    """Interception captures entered and not yet exited, in any thread; 0 when none is running."""
    return _open


class Kind(str, Enum):
    softmax_module = "softmax module"
    inline_softmax = "inline softmax"
    fused_attention = "fused attention"


@dataclass(frozen=True)
class CapturedLayer:
    name: str
    kind: Kind
    maps: torch.Tensor  # (B, H, N, M) float32; row i of each head sums to 1

    @property
    def heads(self) -> int:
        return self.maps.shape[1]


def _softmax_dim(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
    return dim if isinstance(dim, int) else None


def _sdpa_map(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """softmax(q·kᵀ·scale + mask) of an SDPA call, (B, H, L, S) float32; None unless q is 3-D or more."""
    given = dict(zip(SDPA_PARAMETERS, args, strict=False)) | kwargs
    query, key = given["query"], given["key"]
    if query.ndim < 3:
        return None
    scale = given.get("scale")
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    query, key = query.float(), key.float()
    if given.get("enable_gqa") and key.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        key = key.repeat_interleave(query.shape[-3] // key.shape[-3], dim=-3)
    logits = query @ key.transpose(-2, -1) * scale  # (..., L, S)
    length, source = logits.shape[-2:]
    if given.get("is_causal"):
        causal = torch.ones(length, source, dtype=torch.bool, device=logits.device).tril()
        logits = logits.masked_fill(~causal, float("-inf"))
    mask = given.get("attn_mask")
    if mask is not None:
        if mask.dtype == torch.bool:
            logits = logits.masked_fill(~mask, float("-inf"))
        else:
            logits = logits + mask.float()
    maps = logits.softmax(-1)
    if mask is not None or given.get("is_causal"):
        maps = maps.nan_to_num(0.0)  # a query with every key masked attends to nothing
    return maps.reshape(maps.shape[0], -1, length, source)  # (B, H, L, S)


class _Interceptor(TorchFunctionMode):
    def __init__(self, capture: InterceptedCapture) -> None:
        super().__init__()
        self.capture = capture

    def __torch_function__(
        self, func: Any, types: Iterable[type], args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if func in SOFTMAX_FUNCTIONS:
            output = func(*args, **kwargs)
            self.capture._softmax(output, _softmax_dim(args, kwargs))
            return output
        if func is F.scaled_dot_product_attention:
            self.capture._fused(args, kwargs)
        elif func is F.multi_head_attention_forward:
            return self.capture._multi_head(func, args, kwargs)
        return func(*args, **kwargs)


class InterceptedCapture:
    """Record every attention map that forward passes of `model` in the entering thread compute."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._names = {module: name for name, module in model.named_modules()}
        self._handles: list[RemovableHandle] = []
        self._mode: _Interceptor | None = None
        self._thread_id: int | None = None
        self._running: list[nn.Module] = []
        self._calls: dict[str, int] = {}
        self._chunks: dict[str, list[torch.Tensor]] = {}
        self._kinds: dict[str, Kind] = {}

    def __enter__(self) -> Self:
        global _open
        if self._mode is not None:
            raise RuntimeError("this InterceptedCapture is already active")
        self._thread_id = threading.get_ident()
        self._running, self._calls, self._chunks, self._kinds = [], {}, {}, {}
        with _open_lock:
            _open += 1
        try:
            for module in self._names:
                self._handles.append(module.register_forward_pre_hook(self._entered))
                self._handles.append(module.register_forward_hook(self._left, always_call=True))
            self._mode = _Interceptor(self)
            self._mode.__enter__()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._remove()

    def _remove(self) -> None:
        global _open
        try:
            if self._mode is not None:
                self._mode.__exit__(None, None, None)
        finally:
            self._mode = None
            for handle in self._handles:
                handle.remove()
            self._handles.clear()
            self._running.clear()
            with _open_lock:
                _open -= 1

    def _in_thread(self) -> bool:
        return threading.get_ident() == self._thread_id

    def _entered(self, module: nn.Module, inputs: Any) -> None:
        if self._in_thread():
            if not self._running:
                self._calls.clear()
            self._running.append(module)

    def _left(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if self._in_thread() and self._running and self._running[-1] is module:
            self._running.pop()

    def _owner(self, fused: bool) -> tuple[str, Kind, nn.Module] | None:
        if not self._running:
            return None
        module = self._running[-1]
        name = self._names[module]
        if fused:
            return name, Kind.fused_attention, module
        if isinstance(module, nn.Softmax) and len(self._running) > 1:
            caller = self._running[-2]
            return self._names[caller], Kind.softmax_module, caller
        return name, Kind.inline_softmax, module

    def _record(self, owner: tuple[str, Kind, nn.Module], maps: torch.Tensor) -> None:
        name, kind, _ = owner
        count = self._calls.get(name, 0) + 1
        self._calls[name] = count
        key = name if count == 1 else f"{name}#{count}"
        self._kinds[key] = kind
        self._chunks.setdefault(key, []).append(maps.detach().float())

    def _softmax(self, output: torch.Tensor, dim: int | None) -> None:
        if not isinstance(output, torch.Tensor) or output.ndim not in (3, 4) or dim not in (-1, output.ndim - 1):
            return
        owner = self._owner(fused=False)
        if owner is None:
            log.debug("softmax %s outside any module of the model: not recorded", tuple(output.shape))
            return
        if output.ndim == 3:
            heads = getattr(owner[2], "num_heads", 1)
            if not isinstance(heads, int) or heads < 1 or output.shape[0] % heads:
                heads = 1
            output = output.reshape(output.shape[0] // heads, heads, *output.shape[1:])
        self._record(owner, output)  # (B, H, N, M)

    def _fused(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        owner = self._owner(fused=True)
        maps = _sdpa_map(args, kwargs)
        if owner is None or maps is None:
            return
        self._record(owner, maps)

    def _multi_head(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = MHA_SIGNATURE.bind(*args, **kwargs)
        call.apply_defaults()
        given = call.arguments
        result = func(*args, **kwargs)
        owner = self._owner(fused=False)
        if owner is None or given["query"].ndim != 3:
            return result
        if given["need_weights"] and not given["average_attn_weights"]:
            maps = result[1]
        else:
            maps = func(**{**given, "need_weights": True, "average_attn_weights": False})[1]  # (B, H, L, S)
        kind = Kind.inline_softmax if given["need_weights"] else Kind.fused_attention
        self._record((owner[0], kind, owner[2]), maps)
        return result

    @property
    def layers(self) -> dict[str, CapturedLayer]:
        """Every record in the order first seen; several forward passes concatenated along the batch."""
        captured = {}
        for name, chunks in self._chunks.items():
            shapes = {tuple(chunk.shape[1:]) for chunk in chunks}
            if len(shapes) > 1:
                raise RuntimeError(f"{name}: maps of different shapes {sorted(shapes)} in one capture")
            captured[name] = CapturedLayer(
                name, self._kinds[name], chunks[0] if len(chunks) == 1 else torch.cat(chunks)
            )
        return captured
