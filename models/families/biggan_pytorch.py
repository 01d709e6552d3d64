"""BigGAN-PyTorch (ajbrock/BigGAN-PyTorch): a weights folder holding `G_ema.pth` or `G.pth` and `state_dict.pth`.

`G_ema.pth` and `G.pth` are raw generator state dicts (a `module.` prefix from multi-GPU runs is
accepted); the EMA copy is loaded when present, and `training["weights"]` says which. The
architecture comes from `state_dict.pth`'s `config`, the run's full argument dict, read with
`weights_only=True`: that dict holds `nn.ReLU` objects (`G_activation`), so exactly that class is
allowed, plus the no-op `_get_thnn_function_backend` that modules pickled by old torch versions name.
The keys map by name onto `models.biggan_pytorch`, strictly; each `SN` layer's weight, `u0` and
`sv0` become one weight divided by σ from one power iteration from u0, as the reference computes in
eval mode (`sv0` is only its log).

A seed becomes z as the reference draws it, scaled: z = truncation · N(0, I), the normal drawn by
`torch.randn(dim_z, generator=torch.Generator().manual_seed(seed))` on the CPU (the reference's
`z_var`, which it uses as the standard deviation, plays the truncation's part; default 1). The class
is an index; with 1,000 classes the names are ImageNet's. The attention layers sit after the blocks
of the stages that `G_attn` names (`blocks.{i}.1`), keys pooled 2×2.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.backends.thnn import _get_thnn_function_backend

from models.biggan_pytorch import BigGANPyTorchConfig, BigGANPyTorchGenerator, attention_layers
from models.blocks import PooledKeyAttention, bake_power_iteration_norm
from models.checkpoint import CheckpointError, _read, check_state_dict
from models.families.base import LoadedModel, SamplingInputs
from models.geometry import AttentionLayer
from models.imagenet import imagenet_class_names
from models.sagan import sample_latents
from models.state_dicts import without_data_parallel_prefix

__all__ = ["RUN_NAME", "WEIGHT_NAMES", "BigGANPyTorchFamily", "load_weights_folder", "reference_keys"]

log = logging.getLogger(__name__)

NAME = "biggan-pytorch"
RUN_NAME = "state_dict.pth"
WEIGHT_NAMES = ("G_ema.pth", "G.pth")  # in order of preference
TRUNCATION_RANGE = (0.0, 1.0)
DEFAULT_TRUNCATION = 1.0
CONFIG_GLOBALS = (nn.ReLU, _get_thnn_function_backend)  # what a run's argument dict may build when read


@dataclass(frozen=True)
class _Entry:
    """One tensor of our state dict: the reference keys it is made from (with shapes), and how."""

    ours: str
    reads: dict[str, tuple[int, ...]]
    make: Callable[[Mapping[str, torch.Tensor]], torch.Tensor]


def _reference_name(name: str, module: nn.Module) -> str:
    if name == "conditioning.shared":
        return "shared"
    if isinstance(module, nn.BatchNorm2d) and not module.affine:
        return name.removesuffix(".bn")  # our ConditionalBatchNorm2d keeps its statistics in `.bn`
    return name


def _entries(model: BigGANPyTorchGenerator) -> list[_Entry]:
    """Every tensor of `model`'s state dict, mapped onto the reference's keys for the same architecture."""
    config = model.config
    entries: list[_Entry] = []
    for name, module in model.named_modules():
        ref = _reference_name(name, module)
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            out = module.weight.shape[0]
            reads = {f"{ref}.weight": tuple(module.weight.shape)}
            for i in range(config.num_svs):
                reads |= {f"{ref}.u{i}": (1, out), f"{ref}.sv{i}": (1,)}
            entries.append(
                _Entry(
                    f"{name}.weight",
                    reads,
                    lambda s, r=ref: bake_power_iteration_norm(s[f"{r}.weight"], s[f"{r}.u0"], config.sn_eps),
                )
            )
            if module.bias is not None:
                entries.append(_Entry(f"{name}.bias", {f"{ref}.bias": (out,)}, lambda s, r=ref: s[f"{r}.bias"]))
        elif isinstance(module, nn.Embedding):
            shape = tuple(module.weight.shape)
            entries.append(_Entry(f"{name}.weight", {f"{ref}.weight": shape}, lambda s, r=ref: s[f"{r}.weight"]))
        elif isinstance(module, nn.BatchNorm2d):
            channels = (module.num_features,)
            pairs = [("running_mean", "stored_mean"), ("running_var", "stored_var")]
            pairs += [("weight", "gain"), ("bias", "bias")] if module.affine else []
            for our_key, ref_key in pairs:
                key = f"{ref}.{ref_key}"
                entries.append(_Entry(f"{name}.{our_key}", {key: channels}, lambda s, k=key: s[k]))
            entries.append(_Entry(f"{name}.num_batches_tracked", {}, lambda s: torch.tensor(0)))
        elif isinstance(module, PooledKeyAttention):
            entries.append(_Entry(f"{name}.gamma", {f"{ref}.gamma": ()}, lambda s, r=ref: s[f"{r}.gamma"].reshape(1)))
    return entries


def reference_keys(config: BigGANPyTorchConfig) -> dict[str, tuple[int, ...]]:
    """The reference generator's state-dict keys and shapes for `config`, computed on the meta device."""
    with torch.device("meta"):
        model = BigGANPyTorchGenerator(config)
    return {key: shape for entry in _entries(model) for key, shape in entry.reads.items()}


def _read_run(path: Path) -> tuple[BigGANPyTorchConfig, int | None]:
    """The architecture from the run's argument dict, and the run's iteration if it says."""
    if not path.exists():
        raise CheckpointError(
            f"{path}: no such file; a BigGAN-PyTorch weights folder holds {RUN_NAME} beside G_ema.pth"
        )
    with torch.serialization.safe_globals(list(CONFIG_GLOBALS)):
        payload = _read(path)
    if not isinstance(payload, dict) or not isinstance(payload.get("config"), dict):
        raise CheckpointError(
            f"{path}: expected BigGAN-PyTorch's run state, a dict whose 'config' is the argument dict"
        )
    try:
        config = BigGANPyTorchConfig.from_reference(payload["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: not a generator this explorer can build: {error}") from None
    step = payload.get("itr")
    return config, step if type(step) is int else None


def load_weights_folder(folder: Path) -> tuple[BigGANPyTorchGenerator, Path, int | None]:
    """(generator in eval mode on the CPU, the weights file read, the run's iteration if stored)."""
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}")
    weights = next((folder / name for name in WEIGHT_NAMES if (folder / name).exists()), None)
    if weights is None:
        raise CheckpointError(f"{folder}: holds neither {' nor '.join(WEIGHT_NAMES)}")
    config, step = _read_run(folder / RUN_NAME)
    with torch.device("meta"):
        model = BigGANPyTorchGenerator(config)
    entries = _entries(model)
    state = without_data_parallel_prefix(_read(weights))
    expected = {key: shape for entry in entries for key, shape in entry.reads.items()}
    check_state_dict(weights, state, expected, f"the {config.generator} of {RUN_NAME}")
    state = {key: tensor.to(torch.float32) if tensor.is_floating_point() else tensor for key, tensor in state.items()}
    ours = {entry.ours: entry.make(state) for entry in entries}
    model.load_state_dict(ours, strict=True, assign=True)
    return model.eval(), weights, step


class BigGANPyTorchFamily:
    """A folder holding BigGAN-PyTorch's `G_ema.pth` (or `G.pth`) and `state_dict.pth`."""

    name = NAME
    needs = "a BigGAN-PyTorch weights folder holding G_ema.pth or G.pth and state_dict.pth"

    def recognises(self, path: Path) -> bool:
        return path.is_dir() and any((path / name).exists() for name in (RUN_NAME, *WEIGHT_NAMES))

    def load(self, path: Path) -> LoadedModel:
        generator, weights, step = load_weights_folder(path)
        config = generator.config
        names = imagenet_class_names() if config.num_classes == 1000 else tuple(map(str, range(config.num_classes)))
        layers = tuple(
            AttentionLayer.of(info, float(generator.get_submodule(info.name).gamma.item()))
            for info in attention_layers(config)
        )
        which = "the EMA copy of G" if weights.name == WEIGHT_NAMES[0] else "G itself (no G_ema.pth in the folder)"
        log.info("%s: loaded %s, %s", path, weights.name, which)

        def latents(seed: int, class_index: int | None, truncation: float | None) -> torch.Tensor:
            scale = DEFAULT_TRUNCATION if truncation is None else truncation
            return sample_latents([seed], config.z_dim)[0] * scale  # (z_dim,)

        def generate(seeds: Sequence[int], classes: Sequence[int] | None, truncation: float | None) -> torch.Tensor:
            if classes is None or len(classes) != len(seeds):
                raise ValueError("BigGAN-PyTorch needs one class per seed")
            device = generator.linear.weight.device
            z = torch.stack([latents(seed, index, truncation) for seed, index in zip(seeds, classes, strict=True)])
            return generator(z.to(device), torch.tensor(list(classes), dtype=torch.int64, device=device))

        return LoadedModel(
            family=self.name,
            path=path,
            module=generator,
            image_size=config.resolution,
            inputs=SamplingInputs(config.z_dim, names, TRUNCATION_RANGE, DEFAULT_TRUNCATION),
            layers=layers,
            generate=generate,
            source_format=f"ajbrock/BigGAN-PyTorch ({config.generator}.py)",
            config=config.to_dict(),
            training={
                "data": "ImageNet" if config.num_classes == 1000 else None,
                "steps": step,
                "weights": f"{weights.name}: {which}",
            },
            latents=latents,
        )
