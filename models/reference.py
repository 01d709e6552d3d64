"""Conversion of heykeetae/Self-Attention-GAN generator checkpoints (`{step}_G.pth`).

The reference wraps layers in its own SpectralNorm, stored as `<layer>.module.weight_bar`,
`weight_u`, `weight_v` (and `<layer>.module.bias`). Each forward it runs one power iteration,
v = ‖Wᵀu‖⁻¹ Wᵀu, u = ‖Wv‖⁻¹ Wv, and divides W by σ = uᵀWv. We run that iteration once here and
store the new u and v in torch's parametrization, whose eval-mode σ is then the same uᵀWv, so
the converted model reproduces the reference's first forward exactly.

Trained with `--parallel True`, the reference saves its DataParallel wrapper's state, every key
prefixed `module.`; the prefix is dropped here. Its discriminator files (`{step}_D.pth`) share the
key layout but start from 3-channel images, and are refused with a message that says so.
"""

from __future__ import annotations

import torch

from models.sagan import SAGANConfig
from models.state_dicts import without_data_parallel_prefix

__all__ = [
    "convert_reference_generator",
    "is_reference_discriminator",
    "is_reference_state_dict",
]

_SPECTRAL_SUFFIX = ".module.weight_bar"
_FIRST_WEIGHT = "l1.0.module.weight_bar"


def is_reference_state_dict(state: dict) -> bool:
    return any(isinstance(key, str) and key.endswith(_SPECTRAL_SUFFIX) for key in state)


def _normalise(vector: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return vector / (vector.norm() + eps)


def _one_power_iteration(weight: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    matrix = weight.reshape(weight.shape[0], -1)  # (out_dim0, rest)
    v = _normalise(matrix.t() @ u)
    u = _normalise(matrix @ v)
    return u, v


def is_reference_discriminator(state: dict[str, torch.Tensor]) -> bool:
    """The discriminator's l1 is Conv2d(3, conv_dim), weight (conv_dim, 3, 4, 4); the generator's has 8·conv_dim."""
    first = without_data_parallel_prefix(state).get(_FIRST_WEIGHT)
    return isinstance(first, torch.Tensor) and first.dim() == 4 and first.shape[1] == 3


def infer_config(state: dict[str, torch.Tensor]) -> SAGANConfig:
    """z_dim and conv_dim from l1's transposed-conv weight (z_dim, 8·conv_dim, 4, 4)."""
    first = state.get(_FIRST_WEIGHT)
    if first is None or first.dim() != 4:
        raise ValueError(f"missing {_FIRST_WEIGHT}, the first layer's weight")
    z_dim, channels = int(first.shape[0]), int(first.shape[1])
    if channels % 8:
        raise ValueError(f"l1 has {channels} output channels, not a multiple of 8")
    return SAGANConfig(z_dim=z_dim, g_conv_dim=channels // 8, d_conv_dim=channels // 8)


def convert_reference_generator(state: dict[str, torch.Tensor]) -> tuple[SAGANConfig, dict[str, torch.Tensor]]:
    """Rename a reference generator's state dict into ours, baking in its next power iteration."""
    state = without_data_parallel_prefix(state)
    config = infer_config(state)
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if key.endswith(_SPECTRAL_SUFFIX):
            layer = key[: -len(_SPECTRAL_SUFFIX)]
            u_key = f"{layer}.module.weight_u"
            if u_key not in state:
                raise ValueError(f"{key} has no matching {u_key}")
            u, v = _one_power_iteration(tensor, state[u_key])
            converted[f"{layer}.parametrizations.weight.original"] = tensor
            converted[f"{layer}.parametrizations.weight.0._u"] = u
            converted[f"{layer}.parametrizations.weight.0._v"] = v
        elif key.endswith((".module.weight_u", ".module.weight_v")):
            continue
        elif ".module." in key:
            converted[key.replace(".module.", ".")] = tensor
        else:
            converted[key] = tensor
    return config, converted
