"""BigGAN and BigGAN-deep generators as ajbrock/BigGAN-PyTorch builds them, for sampling only.

The reference builds `Generator(**config)` from `BigGAN.py` or `BigGANdeep.py` (`config["model"]`).
Ours take the same architecture from a `BigGANPyTorchConfig` and keep the reference's module names,
so that a family maps a released state dict onto them by name (`models.families.biggan_pytorch`):

    shared                     class embedding (n_classes, shared_dim); ours: conditioning.shared
    linear                     z (or its first chunk; deep: [shared, z]) → bottom_width² · 16ch
    blocks.{i}.0               a residual block; blocks.{i}.1 the attention layer after it, if any
    output_layer.{0,1,2}       batch norm, ReLU, 3×3 convolution to RGB; then tanh

Every convolution and linear layer is plain here: its weight is the reference's `SN` weight with σ
baked in at load time (`models.blocks.bake_power_iteration_norm`). Conditional batch norms use the
run's `BN_eps`; the output batch norm is built by the reference without an eps, so it always uses
1e-5. BigGAN.py stacks one block per stage (`blocks.{stage}`); BigGANdeep.py stacks `G_depth`
bottleneck blocks per stage (`blocks.{stage · depth + d}`), upsampling in the last one, with the
attention layer after the last.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks import ClassConditioning, ConditionalBatchNorm2d, PooledKeyAttention
from models.geometry import AttentionLayer

__all__ = [
    "GENERATORS",
    "BigGANPyTorchConfig",
    "BigGANPyTorchGenerator",
    "attention_layers",
]

GENERATORS = ("BigGAN", "BigGANdeep")  # the reference's model modules; `config["model"]` names one
OUTPUT_BN_EPS = 1e-5  # the reference's `layers.bn` default, which its output layer never overrides

# Per output resolution: each stage's (input, output) channels ÷ G_ch. Stage i works at 8 · 2^i pixels.
_STAGES: dict[int, tuple[tuple[int, int], ...]] = {
    32: ((4, 4), (4, 4), (4, 4)),
    64: ((16, 16), (16, 8), (8, 4), (4, 2)),
    128: ((16, 16), (16, 8), (8, 4), (4, 2), (2, 1)),
    256: ((16, 16), (16, 8), (8, 8), (8, 4), (4, 2), (2, 1)),
    512: ((16, 16), (16, 8), (8, 8), (8, 4), (4, 2), (2, 1), (1, 1)),
}
_DEEP_RESOLUTIONS = (32, 64, 128, 256)


@dataclass(frozen=True)
class BigGANPyTorchConfig:
    """What builds the generator, read from the run's argument dict (`from_reference`)."""

    generator: str = "BigGAN"  # "BigGAN" (BigGAN.py) or "BigGANdeep" (BigGANdeep.py)
    resolution: int = 128  # output side in pixels
    channels: int = 64  # G_ch
    depth: int = 1  # G_depth: blocks per stage (BigGANdeep only)
    z_dim: int = 128  # dim_z as the generator uses it (BigGAN.py with hier: rounded down to whole chunks)
    shared_dim: int = 128  # the shared class embedding's size (the run's 0 means dim_z)
    num_classes: int = 1000
    hier: bool = False  # hierarchical z
    attention: tuple[int, ...] = (64,)  # resolutions that get an attention layer (G_attn "32_64" → (32, 64))
    bn_eps: float = 1e-5
    sn_eps: float = 1e-8
    num_svs: int = 1  # singular vectors kept per SN layer (u0, sv0, u1, sv1, …); only u0 sets σ
    bottom_width: int = 4

    def __post_init__(self) -> None:
        if self.generator not in GENERATORS:
            raise ValueError(f"model must be one of {list(GENERATORS)}, got {self.generator!r}")
        allowed = _DEEP_RESOLUTIONS if self.deep else tuple(_STAGES)
        if self.resolution not in allowed:
            raise ValueError(
                f"{self.generator} has no architecture for resolution {self.resolution!r}; it has {list(allowed)}"
            )
        for name, upper in (("channels", 1024), ("depth", 16), ("z_dim", 4096), ("shared_dim", 4096),
                            ("num_classes", 100_000), ("num_svs", 16), ("bottom_width", 4)):  # fmt: skip
            value = getattr(self, name)
            if type(value) is not int or not 0 < value <= upper:
                raise ValueError(f"{name} must be an integer in 1..{upper}, got {value!r}")
        if self.bottom_width != 4:
            raise ValueError(f"bottom_width must be 4 (8 · 2^i per stage), got {self.bottom_width}")
        for name in ("bn_eps", "sn_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
        if self.deep and not self.hier:
            raise ValueError("BigGANdeep only runs with hier (its first layer takes [shared, z])")
        if self.hier and not self.deep and self.z_dim % (len(self.stages) + 1):
            raise ValueError(f"z_dim {self.z_dim} must split into {len(self.stages) + 1} equal chunks")
        if not self.attention:
            raise ValueError("G_attn names no resolution this generator has: it has no attention layer to explore")
        for stage in self.attention_stages:
            if self.channels * self.stages[stage][1] % 8:
                raise ValueError("attention channels must be a multiple of 8 (θ and φ use C/8)")

    @property
    def deep(self) -> bool:
        return self.generator == "BigGANdeep"

    @property
    def stages(self) -> tuple[tuple[int, int], ...]:
        return _STAGES[self.resolution]

    @property
    def attention_stages(self) -> list[int]:
        return [i for i in range(len(self.stages)) if 8 * 2**i in self.attention]

    @classmethod
    def from_reference(cls, run: Mapping[str, Any]) -> BigGANPyTorchConfig:
        """From the reference's argument dict; a missing key takes the reference generator's default.

        Settings our modules cannot reproduce are refused: a parameterisation other than SN, batch
        norms other than the stored-statistics `bn`, no shared embedding.
        """
        for key, wanted in (("G_param", "SN"), ("norm_style", "bn"), ("G_shared", True),
                            ("mybn", False), ("cross_replica", False)):  # fmt: skip
            if run.get(key, wanted) != wanted:
                raise ValueError(f"{key}={run[key]!r} is not supported (only {key}={wanted!r})")
        activation = run.get("G_activation")
        if activation is not None and not isinstance(activation, nn.ReLU):
            raise ValueError(f"G_activation must be ReLU, got {type(activation).__name__}")
        generator = run.get("model", "BigGAN")
        resolution = run.get("resolution", 128)
        dim_z, shared_dim, hier = run.get("dim_z", 128), run.get("shared_dim", 0), bool(run.get("hier", False))
        if type(dim_z) is not int or type(shared_dim) is not int:
            raise ValueError(f"dim_z and shared_dim must be integers, got {dim_z!r} and {shared_dim!r}")
        if hier and generator == "BigGAN" and resolution in _STAGES:
            chunks = len(_STAGES[resolution]) + 1
            dim_z = dim_z // chunks * chunks  # as the reference does
        return cls(
            generator=generator,
            resolution=resolution,
            channels=run.get("G_ch", 64),
            depth=run.get("G_depth", 1) if generator == "BigGANdeep" else 1,
            z_dim=dim_z,
            shared_dim=shared_dim if shared_dim > 0 else dim_z,
            num_classes=run.get("n_classes", 1000),
            hier=hier,
            attention=_attention_resolutions(run.get("G_attn", "64"), resolution),
            bn_eps=run.get("BN_eps", 1e-5),
            sn_eps=run.get("SN_eps", 1e-12),
            num_svs=run.get("num_G_SVs", 1),
        )

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["attention"] = list(self.attention)
        return raw


def _attention_resolutions(raw: Any, resolution: Any) -> tuple[int, ...]:
    """G_attn "32_64" → (32, 64), keeping only stage resolutions 8 … `resolution`, as the reference's table does."""
    if not isinstance(raw, str) or not all(part.strip().isdigit() for part in raw.split("_")):
        raise ValueError(f"G_attn must be resolutions joined by '_', e.g. '64' or '32_64', got {raw!r}")
    wanted = {int(part) for part in raw.split("_")}
    stages = len(_STAGES.get(resolution, ()))
    return tuple(8 * 2**i for i in range(stages) if 8 * 2**i in wanted)


def attention_layers(config: BigGANPyTorchConfig) -> list[AttentionLayer]:
    """Each attention layer as data: its module name, channels, query grid and pooled key grid."""
    layers = []
    for stage in config.attention_stages:
        side = 8 * 2**stage
        block = stage * config.depth + config.depth - 1
        layers.append(AttentionLayer(f"blocks.{block}.1", config.channels * config.stages[stage][1], side, side // 2))
    return layers


def _conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)


class ResidualBlock(nn.Module):
    """BigGAN.py's GBlock: BN-ReLU-(up)-conv3×3-BN-ReLU-conv3×3, plus a 1×1 shortcut when it resizes."""

    def __init__(self, in_channels: int, out_channels: int, condition_dim: int, eps: float) -> None:
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(in_channels, condition_dim, eps)
        self.conv1 = _conv(in_channels, out_channels, 3)
        self.bn2 = ConditionalBatchNorm2d(out_channels, condition_dim, eps)
        self.conv2 = _conv(out_channels, out_channels, 3)
        self.conv_sc = _conv(in_channels, out_channels, 1)  # every stage upsamples, so every block has one

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, condition)), scale_factor=2)  # (B, C_in, 2H, 2W), nearest
        h = self.conv2(F.relu(self.bn2(self.conv1(h), condition)))  # (B, C_out, 2H, 2W)
        return h + self.conv_sc(F.interpolate(x, scale_factor=2))


class BottleneckBlock(nn.Module):
    """BigGANdeep.py's GBlock: 1×1 down to C_in/4, two 3×3, 1×1 out; the shortcut keeps the first C_out channels."""

    def __init__(self, in_channels: int, out_channels: int, condition_dim: int, eps: float, upsample: bool) -> None:
        super().__init__()
        hidden = in_channels // 4
        self.out_channels, self.upsample = out_channels, upsample
        self.bn1, self.conv1 = ConditionalBatchNorm2d(in_channels, condition_dim, eps), _conv(in_channels, hidden, 1)
        self.bn2, self.conv2 = ConditionalBatchNorm2d(hidden, condition_dim, eps), _conv(hidden, hidden, 3)
        self.bn3, self.conv3 = ConditionalBatchNorm2d(hidden, condition_dim, eps), _conv(hidden, hidden, 3)
        self.bn4, self.conv4 = ConditionalBatchNorm2d(hidden, condition_dim, eps), _conv(hidden, out_channels, 1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn2(self.conv1(F.relu(self.bn1(x, condition))), condition))  # (B, C_in/4, H, W)
        x = x[:, : self.out_channels]
        if self.upsample:
            h, x = F.interpolate(h, scale_factor=2), F.interpolate(x, scale_factor=2)
        h = self.conv3(F.relu(self.bn3(self.conv2(h), condition)))  # (B, C_in/4, H', W')
        return self.conv4(F.relu(self.bn4(h, condition))) + x


class BigGANPyTorchGenerator(nn.Module):
    """(z (B, z_dim), class indices (B,)) → image (B, 3, S, S) in [-1, 1]."""

    def __init__(self, config: BigGANPyTorchConfig) -> None:
        super().__init__()
        self.config = config
        ch, stages = config.channels, config.stages
        chunks = len(stages) + 1 if config.hier and not config.deep else 1
        self.conditioning = ClassConditioning(
            config.num_classes, config.shared_dim, config.z_dim, len(stages), chunks, z_in_condition=config.deep
        )
        condition_dim = self.conditioning.condition_dim
        in_features = config.z_dim + config.shared_dim if config.deep else config.z_dim // chunks
        self.linear = nn.Linear(in_features, stages[0][0] * ch * config.bottom_width**2)
        blocks: list[nn.ModuleList] = []
        self.block_stage: list[int] = []  # the stage, hence the condition, of each entry of `blocks`
        for stage, (in_mult, out_mult) in enumerate(stages):
            for d in range(config.depth):
                if config.deep:
                    out = in_mult if d == 0 else out_mult
                    block = BottleneckBlock(ch * in_mult, ch * out, condition_dim, config.bn_eps, d == config.depth - 1)
                else:
                    block = ResidualBlock(ch * in_mult, ch * out_mult, condition_dim, config.bn_eps)
                blocks.append(nn.ModuleList([block]))
                self.block_stage.append(stage)
            if stage in config.attention_stages:
                blocks[-1].append(PooledKeyAttention(ch * out_mult))
        self.blocks = nn.ModuleList(blocks)
        out_channels = ch * stages[-1][1]
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(out_channels, eps=OUTPUT_BN_EPS), nn.ReLU(), _conv(out_channels, 3, 3)
        )

    def forward(self, z: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        first, conditions = self.conditioning(z, classes)  # (B, in_features or z_dim), [(B, condition_dim)] per stage
        h = self.linear(conditions[0] if self.config.deep else first)  # (B, 16ch · 4 · 4)
        width = self.config.bottom_width
        h = h.view(h.shape[0], -1, width, width)  # (B, 16ch, 4, 4)
        for stage, blocklist in zip(self.block_stage, self.blocks, strict=True):
            h = blocklist[0](h, conditions[stage])
            for attention in blocklist[1:]:
                h = attention(h)
        return torch.tanh(self.output_layer(h))  # (B, 3, S, S)
