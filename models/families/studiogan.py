"""PyTorch-StudioGAN runs: a folder holding the run's YAML and `model=G_ema-…pth` and/or `model=G-…pth`.

Files. StudioGAN writes `model={G|G_ema|D}-{best|current}-weights-step={N}.pth`, each a dict whose
`state_dict` is the module's. From a folder we load G_ema before G and `best` before `current`
(the highest step if several), and say which in the log, in `config["generator_file"]` and in
the model's path. A path to one generator file works too; its YAML must lie beside it. The YAML
names only what differs from StudioGAN's defaults (`models.studiogan.DEFAULTS`).

Loading. `torch.load(weights_only=True)`; a `module.` prefix of multi-GPU runs is dropped; keys
map onto `models.studiogan.StudioGANGenerator` by name and must match it exactly. Spectral norm
(`weight_orig`, `weight_u`, `weight_v`) is baked into a plain weight as torch computes it in
eval mode, σ = uᵀ W v from the stored vectors. StudioGAN's own image-making paths differ here:
they put the generator in eval mode and then its convolutions, linears and embeddings back into
train mode (`set_deterministic_op_trainable`), so spectral norm runs one more power iteration,
and updates u and v, on every forward. Its images therefore drift by a little from call to call
and differ from ours by how far the stored u and v are from converged; ours are the eval-mode
forward, the same on every call. Batch norms use their running statistics.

Seeds. z (z_dim,) is drawn from a CPU generator seeded with the seed: `torch.randn` for the
default gaussian prior, `2 · torch.rand − 1` for `z_prior: uniform`. No truncation is offered.
A class is an index; names are CIFAR-10's, CIFAR-100's or ImageNet's when the YAML names that
dataset with that many classes, indices otherwise.

Attention. One layer after each stage listed in `attn_g_loc`, named `blocks.{k}.0` as in the file
(`models.studiogan.attention_layers`); keys and values are max-pooled 2×2, so a layer on G×G
queries has (G/2)² keys, and γ is the file's `sigma`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import torch
import yaml
from torch import nn

from models.blocks import bake_spectral_norm
from models.checkpoint import CheckpointError, _read, check_state_dict, name_list
from models.families.base import LoadedModel, SamplingInputs
from models.geometry import AttentionLayer
from models.imagenet import imagenet_class_names
from models.state_dicts import without_data_parallel_prefix
from models.studiogan import StudioGANConfig, StudioGANGenerator, attention_layers

__all__ = ["StudioGANFamily", "find_run_files", "latents", "load_generator", "read_config"]

log = logging.getLogger(__name__)

NAME = "studiogan"
FILE_PATTERN = re.compile(r"model=(G_ema|G|D)-(best|current)-weights-step=(\d+)\.pth")
YAML_SUFFIXES = (".yaml", ".yml")
_PREFERENCE = {("G_ema", "best"): 0, ("G_ema", "current"): 1, ("G", "best"): 2, ("G", "current"): 3}


@dataclass(frozen=True)
class RunFiles:
    config: Path  # the run's YAML
    generator: Path
    kind: str  # "G_ema" or "G"
    when: str  # "best" or "current"
    step: int


def _generator_files(folder: Path) -> list[tuple[Path, str, str, int]]:
    found = []
    for path in sorted(folder.iterdir()):
        match = FILE_PATTERN.fullmatch(path.name)
        if match and match.group(1) != "D" and path.is_file():
            found.append((path, match.group(1), match.group(2), int(match.group(3))))
    return found


def _yaml_beside(folder: Path, generator: Path) -> Path:
    configs = sorted(path for path in folder.iterdir() if path.suffix in YAML_SUFFIXES and path.is_file())
    if len(configs) != 1:
        what = "no" if not configs else f"{len(configs)} ({', '.join(path.name for path in configs[:3])})"
        raise CheckpointError(f"{generator}: expected the run's YAML config beside it, found {what} .yaml files")
    return configs[0]


def find_run_files(path: Path) -> RunFiles:
    """The YAML and the generator file to load for a run folder or one generator file."""
    if path.is_dir():
        candidates = _generator_files(path)
        if not candidates:
            raise CheckpointError(f"{path}: holds no model=G_ema-…pth or model=G-…pth generator file")
        generator, kind, when, step = min(candidates, key=lambda c: (_PREFERENCE[c[1], c[2]], -c[3]))
        return RunFiles(_yaml_beside(path, generator), generator, kind, when, step)
    match = FILE_PATTERN.fullmatch(path.name)
    if not path.is_file() or match is None:
        raise CheckpointError(f"{path}: {'not a StudioGAN generator file' if path.is_file() else 'no such file'}")
    if match.group(1) == "D":
        raise CheckpointError(f"{path}: this is StudioGAN's discriminator; pass model=G_ema-… or model=G-…")
    return RunFiles(_yaml_beside(path.parent, path), path, match.group(1), match.group(2), int(match.group(3)))


def read_config(path: Path) -> StudioGANConfig:
    """The generator settings of a StudioGAN YAML, defaults filled in; one CheckpointError line if unusable."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: not a readable YAML file ({reason[:120]})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("MODEL"), dict):
        raise CheckpointError(f"{path}: not a StudioGAN config: it has no MODEL section, so it names no backbone")
    try:
        return StudioGANConfig.from_yaml_sections(raw)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: not a generator we can build: {error}") from None


def _our_key(key: str) -> str:
    """A StudioGAN parameter name as ours: attention children and γ renamed, `shared` under `conditioning`."""
    key = re.sub(r"\.conv1x1_(theta|phi|g)\.", r".\1.", key).replace(".conv1x1_attn.", ".o.")
    key = re.sub(r"^(blocks\.\d+\.0)\.sigma$", r"\1.gamma", key)
    return "conditioning." + key if key.startswith("shared.") else key


def _transposed(model: nn.Module, weight_key: str) -> bool:
    owner = weight_key.rsplit(".", 1)[0]
    try:
        return isinstance(model.get_submodule(owner), nn.ConvTranspose2d)
    except AttributeError:
        return False


def map_state(path: Path, state: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """The file's state dict in our names, spectral norm baked in; one CheckpointError line if it does not fit."""
    state = without_data_parallel_prefix(state)
    mapped: dict[str, torch.Tensor] = {}
    baked: list[str] = []  # our names of the weights that were spectrally normed in the file
    for key, tensor in state.items():
        if key.endswith((".weight_u", ".weight_v")):
            if key.rsplit(".", 1)[0] + ".weight_orig" not in state:
                mapped[key] = tensor  # a vector without its weight: reported as unexpected
            continue
        if not key.endswith(".weight_orig"):
            mapped[_our_key(key)] = tensor
            continue
        prefix = key[: -len(".weight_orig")]
        u, v = state.get(prefix + ".weight_u"), state.get(prefix + ".weight_v")
        if u is None or v is None:
            raise CheckpointError(f"{path}: {key} has no {prefix}.weight_u and .weight_v beside it")
        target = _our_key(prefix + ".weight")
        baked.append(target)
        try:
            mapped[target] = bake_spectral_norm(
                tensor.float(), u.float(), v.float(), dim=int(_transposed(model, target))
            )
        except (ValueError, RuntimeError) as error:
            reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise CheckpointError(f"{path}: {key} has the wrong shape: {reason}") from None
    shapes = {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}
    check_state_dict(path, mapped, shapes, "the generator its YAML describes")
    _check_spectral_norm(path, model, {key.rsplit(".", 1)[0] for key in baked})
    return {key: tensor.float() if tensor.is_floating_point() else tensor for key, tensor in mapped.items()}


def _check_spectral_norm(path: Path, model: StudioGANGenerator, normed: set[str]) -> None:
    """With `apply_g_sn`, every conv and linear of G is spectrally normed in the file; without it, none is."""
    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    layers = [name for name, module in model.named_modules() if isinstance(module, kinds)]
    wrong = [name for name in layers if (name in normed) != model.config.apply_g_sn]
    if wrong:
        held = "plain weights" if model.config.apply_g_sn else "spectrally normed weights"
        raise CheckpointError(
            f"{path}: its YAML says apply_g_sn: {model.config.apply_g_sn}, but {held} in {name_list(wrong)}"
        )


def load_generator(config_path: Path, weights_path: Path) -> tuple[StudioGANConfig, StudioGANGenerator]:
    """The generator of a StudioGAN YAML and one `model=G…pth` file, in eval mode on the CPU."""
    config = read_config(config_path)
    with torch.device("meta"):  # shapes only; the weights come from the file
        model = StudioGANGenerator(config)
    payload = _read(weights_path)
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise CheckpointError(f"{weights_path}: not a StudioGAN checkpoint: expected a dict with 'state_dict'")
    state = payload["state_dict"]
    if not isinstance(state, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise CheckpointError(f"{weights_path}: 'state_dict' must map names to tensors")
    model.load_state_dict(map_state(weights_path, state, model), strict=True, assign=True)
    return config, model.eval()


def latents(seeds: Sequence[int], config: StudioGANConfig) -> torch.Tensor:
    """z (B, z_dim) for the seeds, each from its own seeded CPU generator, under the run's prior."""
    draws = []
    for seed in seeds:
        generator = torch.Generator().manual_seed(seed)
        if config.z_prior == "uniform":
            draws.append(torch.rand(config.z_dim, generator=generator) * 2 - 1)  # (z_dim,) in [-1, 1)
        else:
            draws.append(torch.randn(config.z_dim, generator=generator))  # (z_dim,)
    return torch.stack(draws)  # (B, z_dim)


@cache
def _cifar_class_names() -> dict[str, tuple[str, ...]]:
    raw = json.loads(resources.files("models").joinpath("cifar_classes.json").read_text(encoding="utf-8"))
    return {name: tuple(raw[name]) for name in ("CIFAR10", "CIFAR100")}


def class_names(config: StudioGANConfig) -> tuple[str, ...] | None:
    if not config.conditional:
        return None
    known = dict(_cifar_class_names())
    known["ImageNet"] = imagenet_class_names()
    names = known.get(config.dataset)
    if names is not None and len(names) == config.num_classes:
        return names
    return tuple(map(str, range(config.num_classes)))


class StudioGANFamily:
    name = NAME
    needs = "a StudioGAN run folder: its YAML config and model=G_ema-…pth or model=G-…pth"

    def recognises(self, path: Path) -> bool:
        if path.is_dir():
            return any(FILE_PATTERN.fullmatch(child.name) for child in path.iterdir())
        return FILE_PATTERN.fullmatch(path.name) is not None

    def load(self, path: Path) -> LoadedModel:
        files = find_run_files(path)
        log.info(
            "StudioGAN: loading %s (%s, %s checkpoint, step %d) with %s",
            files.generator,
            files.kind,
            files.when,
            files.step,
            files.config.name,
        )
        config, generator = load_generator(files.config, files.generator)
        layers = tuple(
            AttentionLayer.of(layer, float(generator.get_submodule(layer.name).gamma.detach()))
            for layer in attention_layers(config)
        )

        def generate(seeds: Sequence[int], classes: Sequence[int] | None, truncation: float | None) -> torch.Tensor:
            if truncation is not None:
                raise ValueError("a StudioGAN model here takes no truncation")
            if config.conditional != (classes is not None):
                raise ValueError("give one class per seed for a conditional model, and none otherwise")
            device = next(generator.parameters()).device
            z = latents(list(seeds), config).to(device)
            labels = None if classes is None else torch.tensor(list(classes), dtype=torch.int64, device=device)
            return generator(z, labels)

        return LoadedModel(
            family=self.name,
            path=files.generator,
            module=generator,
            image_size=config.img_size,
            inputs=SamplingInputs(config.z_dim, class_names(config)),
            layers=layers,
            generate=generate,
            source_format="PyTorch-StudioGAN",
            config={**config.to_dict(), "config_file": files.config.name, "generator_file": files.generator.name},
            training={"data": config.dataset, "steps": files.step, "generator": files.kind, "checkpoint": files.when},
            latents=lambda seed, class_index, truncation: latents([seed], config)[0],
        )
