"""A user's own generator, named as `package.module:factory` on the command line or in settings.

This imports and runs the user's code. Only the CLI and settings name it; no request can. The
module is looked up in the current folder first, then on `sys.path` (PYTHONPATH).

The factory, called with the `--generator-arg key=value` pairs as keyword arguments (values read as
Python literals where they parse, else as text), returns an object with:

- `module`: the `nn.Module` whose attention is captured (put in eval mode here);
- `image_size`: the side S of its square images; `z_dim`: the size of z;
- `generate(z, classes, truncation)`: images (B, 3, S, S) in [-1, 1] from z (B, z_dim); `classes`
  is None or an int64 tensor (B,) of class indices, `truncation` None or a float;
- optional `class_names` (a sequence of names, index order) and `truncation_range` ((low, high],
  with an optional `default_truncation`, else high).

A seed becomes z as for our own SAGAN family (`models.sagan.sample_latents`). One probe sample
(seed 0) finds the attention layers; their geometry comes from the maps' shapes (`models.geometry.place_map`).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import importlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from models.families.base import LoadedModel, SamplingInputs
from models.finite import first_non_finite_module
from models.capture import attention_layer_names
from models.geometry import AttentionLayer, UnplaceableMap, place_map
from models.interception import InterceptedCapture
from models.sagan import sample_latents

__all__ = ["LOOKED_FOR", "GeneratorError", "load_generator", "parse_generator_args"]

log = logging.getLogger(__name__)

FAMILY = "user generator"
LOOKED_FOR = (
    "a softmax over the last axis with output (B, N, M) or (B, heads, N, M), "
    "or a scaled_dot_product_attention call, inside a submodule"
)


class GeneratorError(ValueError):
    """A --generator that cannot be served; the message is one line that says what to fix."""


def parse_generator_args(pairs: Sequence[str]) -> dict[str, Any]:
    """["heads=4", "name=x"] → {"heads": 4, "name": "x"}: values as Python literals where they parse."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.isidentifier():
            raise GeneratorError(f"--generator-arg {pair!r}: expected key=value with key a Python name")
        try:
            parsed[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parsed[key] = text
    return parsed


def _said(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"


@contextlib.contextmanager
def _current_folder_first() -> Iterator[None]:
    """While importing, find modules in the current folder first, as `python -m` does (a console script does not)."""
    folder = os.getcwd()
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        sys.path.remove(folder)


def _factory(spec: str) -> Any:
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute.isidentifier():
        raise GeneratorError(f"--generator {spec}: expected package.module:factory")
    try:
        with _current_folder_first():
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise GeneratorError(
            f"--generator {spec}: no module named {error.name!r} (is its folder on PYTHONPATH?)"
        ) from None
    except Exception as error:  # noqa: BLE001  the user's module: any failure is reported, in one line
        raise GeneratorError(f"--generator {spec}: importing {module_name} raised {_said(error)}") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise GeneratorError(f"--generator {spec}: {module_name} has no callable {attribute!r}")
    return factory


def _required(made: Any, spec: str, name: str, kind: type) -> Any:
    value = getattr(made, name, None)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise GeneratorError(f"--generator {spec}: the factory's result needs {name} ({kind.__name__}), got {value!r}")
    return value


def _inputs(made: Any, spec: str, z_dim: int) -> SamplingInputs:
    names = getattr(made, "class_names", None)
    span = getattr(made, "truncation_range", None)
    default = getattr(made, "default_truncation", None)
    if span is not None:
        low, high = (float(bound) for bound in span)
        default = high if default is None else float(default)
        span = (low, high)
    return SamplingInputs(z_dim, None if names is None else tuple(map(str, names)), span, default)


def _layers(model: LoadedModel) -> tuple[tuple[AttentionLayer, ...], dict[str, str]]:
    inputs = model.inputs
    index, truncation = inputs.resolve(None, None)
    classes = None if index is None else [index]
    with torch.inference_mode(), InterceptedCapture(model.module) as capture:
        images = model.generate([0], classes, truncation)
    if not all(bool(torch.isfinite(tensor).all()) for tensor in (images, *(c.maps for c in capture.layers.values()))):
        with torch.inference_mode():
            culprit = first_non_finite_module(model.module, lambda: model.generate([0], classes, truncation))
        raise GeneratorError(
            f"--generator {model.config['generator']}: the probe sample (seed 0) is NaN or infinite"
            + (f"; the first module whose output is not finite is {culprit}" if culprit else "")
        )
    layers, skipped = [], {}
    ours = {name for name in attention_layer_names(model.module) if hasattr(model.module.get_submodule(name), "gamma")}
    for name, captured in capture.layers.items():
        shape = tuple(captured.maps.shape[1:])
        try:
            layer = place_map(name, shape, model.image_size, captured.kind.value)
            if name in ours:  # an attention module of our kind: its γ can be read, zeroed and measured
                gamma = float(model.module.get_submodule(name).gamma.detach())
                layer = dataclasses.replace(layer, gamma=gamma)
            layers.append(layer)
        except UnplaceableMap as reason:
            skipped[name] = f"{captured.kind.value} map {shape}: {reason}"
            log.warning("%s: not laid on the image: %s", name, skipped[name])
    return tuple(layers), skipped


def load_generator(
    spec: str, arguments: dict[str, Any] | None = None, device: torch.device | str = "cpu"
) -> LoadedModel:
    """Import `package.module:factory`, call it, and serve what it returns; GeneratorError on any failure."""
    factory = _factory(spec)
    try:
        made = factory(**(arguments or {}))
    except Exception as error:  # noqa: BLE001  the user's code: any failure is reported, in one line
        raise GeneratorError(f"--generator {spec}: the factory raised {_said(error)}") from None
    module = _required(made, spec, "module", torch.nn.Module).eval().to(device)
    image_size = _required(made, spec, "image_size", int)
    z_dim = _required(made, spec, "z_dim", int)
    if not callable(getattr(made, "generate", None)):
        raise GeneratorError(f"--generator {spec}: the factory's result needs generate(z, classes, truncation)")

    def generate(seeds: Sequence[int], classes: Sequence[int] | None, truncation: float | None) -> torch.Tensor:
        where = next(module.parameters(), torch.empty(0)).device
        z = sample_latents(list(seeds), z_dim).to(where)
        indices = None if classes is None else torch.tensor(list(classes), dtype=torch.int64, device=where)
        return made.generate(z, indices, truncation)

    loaded = LoadedModel(
        family=FAMILY,
        path=Path(spec),
        module=module,
        image_size=image_size,
        inputs=_inputs(made, spec, z_dim),
        layers=(),
        generate=generate,
        source_format=f"python:{spec}",
        config={"generator": spec, "arguments": {key: repr(value) for key, value in (arguments or {}).items()}},
        latents=lambda seed, class_index, truncation: sample_latents([seed], z_dim)[0],
    )
    try:
        layers, skipped = _layers(loaded)
    except GeneratorError:
        raise
    except Exception as error:  # noqa: BLE001  the user's generate: reported in one line
        raise GeneratorError(f"--generator {spec}: generate raised {_said(error)}") from None
    if not layers:
        found = f"; found only maps it cannot lay on the image: {skipped}" if skipped else ""
        raise GeneratorError(
            f"--generator {spec}: no attention found in {type(module).__name__}; looked for {LOOKED_FOR}{found}"
        )
    return LoadedModel(**{**loaded.__dict__, "layers": layers, "skipped": skipped})


def format_found_layers(model: LoadedModel) -> str:
    """Every attention layer found: name, kind, heads and grids; then each map that could not be placed."""
    lines = ["| layer | kind | heads | query grid | key grid |", "|---|---|---|---|---|"]
    for layer in model.layers:
        grids = f"{layer.query_grid}×{layer.query_grid} | {layer.key_grid}×{layer.key_grid}"
        lines.append(f"| {layer.name} | {layer.kind} | {layer.heads} | {grids} |")
    lines += [f"skipped {name}: {reason}" for name, reason in model.skipped.items()]
    return "\n".join(lines)
