"""Generators of PyTorch-StudioGAN's five attention-capable backbones, in eval mode, as we load them.

A StudioGAN run is described by a YAML that names only what differs from the defaults of its
`src/config.py`; `StudioGANConfig.from_yaml_sections` fills in those defaults. The generator keeps
StudioGAN's module names (`linear0`, `blocks.{k}.0`, `bn4`, `conv2d5`, …) so a file's state dict
maps onto ours by three mechanical renames (see `models.families.studiogan`): spectral norm baked
into a plain `weight`, the attention's `conv1x1_{theta,phi,g,attn}` and `sigma` as our
`theta/phi/g/o` and `gamma`, and the class embedding `shared` as `conditioning.shared`.

Backbones (blocks upsample ×2 each, from 4×4; `blocks` interleaves attention after the stage
numbered in `attn_g_loc`, counting from 1):
- `deep_conv` (DCGAN, 32 px): transposed conv 4×4 → BN → act; widths 512, 256, 128 fixed.
- `resnet` (SAGAN): BN → act → up → conv3 → BN → act → conv3, plus up → conv1 of the input.
- `big_resnet` (BigGAN): as resnet, always conditional BN; z splits into stages + 1 chunks, the
  first feeds `linear0`, block i gets [shared class embedding, chunk i+1] (the chunk alone if
  unconditional).
- `big_resnet_deep_legacy` / `big_resnet_deep_studiogan` (BigGAN-deep): `g_depth` bottleneck
  blocks a stage, the last of them upsampling; `linear0` and every block get [shared, z]. The
  legacy shortcut keeps the input's first C_out channels, the studiogan one is a 1×1 conv.

Every batch norm uses eps 1e-4, the final `bn4` included; conditional BN is x̂ · (1 + gain(c)) +
bias(c) with bias-free linears, c the one-hot class for deep_conv and resnet.
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
    "BACKBONES",
    "DEFAULTS",
    "StudioGANConfig",
    "StudioGANGenerator",
    "attention_layers",
]

BN_EPS = 1e-4
BACKBONES = ("deep_conv", "resnet", "big_resnet", "big_resnet_deep_legacy", "big_resnet_deep_studiogan")
DEEP = ("big_resnet_deep_legacy", "big_resnet_deep_studiogan")
ACTIVATIONS = {
    "ReLU": nn.ReLU,
    "Leaky_ReLU": lambda: nn.LeakyReLU(negative_slope=0.1),
    "ELU": lambda: nn.ELU(alpha=1.0),
    "GELU": nn.GELU,
}

# src/config.py's defaults for the settings that shape the generator (section, key) → value.
DEFAULTS: dict[tuple[str, str], Any] = {
    ("DATA", "name"): "CIFAR10",
    ("DATA", "img_size"): 32,
    ("DATA", "num_classes"): 10,
    ("DATA", "img_channels"): 3,
    ("MODEL", "backbone"): "resnet",
    ("MODEL", "g_cond_mtd"): "W/O",
    ("MODEL", "apply_g_sn"): False,
    ("MODEL", "g_act_fn"): "ReLU",
    ("MODEL", "apply_attn"): False,
    ("MODEL", "attn_g_loc"): ["N/A"],
    ("MODEL", "z_prior"): "gaussian",
    ("MODEL", "z_dim"): 128,
    ("MODEL", "g_shared_dim"): "N/A",
    ("MODEL", "g_conv_dim"): 64,
    ("MODEL", "g_depth"): "N/A",
    ("MODEL", "apply_g_ema"): False,
    ("MODEL", "info_type"): "N/A",
    ("MODEL", "g_info_injection"): "N/A",
}

_WIDTHS_IN = {
    32: (4, 4, 4),
    64: (16, 8, 4, 2),
    128: (16, 16, 8, 4, 2),
    256: (16, 16, 8, 8, 4, 2),
    512: (16, 16, 8, 8, 4, 2, 1),
}  # multiples of g_conv_dim, one per stage
_WIDTHS_OUT = {
    32: (4, 4, 4),
    64: (8, 4, 2, 1),
    128: (16, 8, 4, 2, 1),
    256: (16, 8, 8, 4, 2, 1),
    512: (16, 8, 8, 4, 2, 1, 1),
}
_DEEP_CONV_IN, _DEEP_CONV_OUT = (512, 256, 128), (256, 128, 64)


@dataclass(frozen=True)
class StudioGANConfig:
    """The generator-shaping settings of one StudioGAN run; defaults are those of src/config.py."""

    backbone: str = "resnet"
    dataset: str = "CIFAR10"  # DATA.name; says which class names apply
    img_size: int = 32
    num_classes: int = 10
    g_cond_mtd: str = "W/O"  # "cBN" or "W/O"
    apply_g_sn: bool = False
    g_act_fn: str = "ReLU"
    attn_g_loc: tuple[int, ...] = ()  # stages (from 1) followed by attention; empty if apply_attn is False
    z_prior: str = "gaussian"
    z_dim: int = 128
    g_shared_dim: int | None = None  # big_resnet and deep backbones, when conditional
    g_conv_dim: int = 64
    g_depth: int | None = None  # deep backbones only
    apply_g_ema: bool = False

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone {self.backbone!r} is not one we load; we load {', '.join(BACKBONES)}")
        if self.g_cond_mtd not in ("cBN", "W/O"):
            raise ValueError(f"g_cond_mtd must be 'cBN' or 'W/O', got {self.g_cond_mtd!r}")
        if self.g_act_fn not in ACTIVATIONS:
            raise ValueError(f"g_act_fn must be one of {', '.join(ACTIVATIONS)}, got {self.g_act_fn!r}")
        if self.z_prior not in ("gaussian", "uniform"):
            raise ValueError(f"z_prior must be 'gaussian' or 'uniform', got {self.z_prior!r}")
        for name, upper in (("num_classes", 100_000), ("z_dim", 4096), ("g_conv_dim", 4096)):
            value = getattr(self, name)
            if type(value) is not int or not 0 < value <= upper:
                raise ValueError(f"{name} must be an integer in 1..{upper}, got {value!r}")
        sizes = (32,) if self.backbone == "deep_conv" else tuple(_WIDTHS_IN)
        if self.img_size not in sizes:
            raise ValueError(f"img_size must be one of {sizes} for {self.backbone}, got {self.img_size!r}")
        stages = len(self.stage_widths())
        if not self.attn_g_loc:
            raise ValueError("the generator has no attention layer (apply_attn is not True or attn_g_loc is empty)")
        if not all(type(loc) is int and 1 <= loc <= stages for loc in self.attn_g_loc):
            raise ValueError(f"attn_g_loc must name stages in 1..{stages}, got {list(self.attn_g_loc)}")
        if self.conditional and self.shares_embedding:
            if type(self.g_shared_dim) is not int or not 0 < self.g_shared_dim <= 4096:
                raise ValueError(f"g_shared_dim must be an integer in 1..4096, got {self.g_shared_dim!r}")
        if self.backbone == "big_resnet" and self.z_dim % (stages + 1):
            raise ValueError(f"z_dim ({self.z_dim}) must split into {stages + 1} equal chunks for big_resnet")
        if self.backbone in DEEP:
            if not self.conditional:
                raise ValueError(f"{self.backbone} with g_cond_mtd 'W/O' does not run in StudioGAN either")
            if type(self.g_depth) is not int or not 1 <= self.g_depth <= 8:
                raise ValueError(f"g_depth must be an integer in 1..8, got {self.g_depth!r}")
            widths = self.stage_widths()
            if self.g_depth != 2 and any(c_in != c_out for c_in, c_out in widths):
                raise ValueError("g_depth other than 2 needs equal stage widths: StudioGAN's blocks would not chain")
        for _, channels in self.stage_widths():
            if channels % 8:
                raise ValueError(f"stage widths must be multiples of 8 (attention uses C/8), got {channels}")

    @property
    def conditional(self) -> bool:
        return self.g_cond_mtd == "cBN"

    @property
    def shares_embedding(self) -> bool:
        return self.backbone == "big_resnet" or self.backbone in DEEP

    def stage_widths(self) -> tuple[tuple[int, int], ...]:
        """(input channels, output channels) of each stage, which ends 2× the size it started."""
        if self.backbone == "deep_conv":
            return tuple(zip(_DEEP_CONV_IN, _DEEP_CONV_OUT, strict=True))
        ins, outs = _WIDTHS_IN[self.img_size], _WIDTHS_OUT[self.img_size]
        return tuple((self.g_conv_dim * i, self.g_conv_dim * o) for i, o in zip(ins, outs, strict=True))

    @classmethod
    def from_yaml_sections(cls, raw: Mapping[str, Any]) -> StudioGANConfig:
        """From a parsed StudioGAN YAML ({"DATA": {...}, "MODEL": {...}, …}), defaults filled in."""
        settings = dict(DEFAULTS)
        for section, key in DEFAULTS:
            values = raw.get(section) or {}
            if not isinstance(values, Mapping):
                raise ValueError(f"section {section} must be a mapping, got {type(values).__name__}")
            if key in values:
                settings[section, key] = values[key]
        model = {key: value for (section, key), value in settings.items() if section == "MODEL"}
        if model["info_type"] != "N/A" or model["g_info_injection"] != "N/A":
            raise ValueError("InfoGAN runs (MODEL.info_type / g_info_injection) are not supported")
        if settings["DATA", "img_channels"] != 3:
            raise ValueError(f"DATA.img_channels must be 3, got {settings['DATA', 'img_channels']!r}")
        locations = model["attn_g_loc"] if model["apply_attn"] is True else []
        if not isinstance(locations, list):
            raise ValueError(f"MODEL.attn_g_loc must be a list, got {locations!r}")
        return cls(
            backbone=model["backbone"],
            dataset=str(settings["DATA", "name"]),
            img_size=settings["DATA", "img_size"],
            num_classes=settings["DATA", "num_classes"],
            g_cond_mtd=model["g_cond_mtd"],
            apply_g_sn=bool(model["apply_g_sn"]),
            g_act_fn=model["g_act_fn"],
            attn_g_loc=tuple(locations),
            z_prior=model["z_prior"],
            z_dim=model["z_dim"],
            g_shared_dim=None if model["g_shared_dim"] == "N/A" else model["g_shared_dim"],
            g_conv_dim=model["g_conv_dim"],
            g_depth=None if model["g_depth"] == "N/A" else model["g_depth"],
            apply_g_ema=bool(model["apply_g_ema"]),
        )

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["attn_g_loc"] = list(self.attn_g_loc)
        return raw


def _layout(config: StudioGANConfig) -> list[tuple[str, int, int, bool]]:
    """The `blocks` list in order: (kind "block" or "attn", in channels, out channels, upsamples)."""
    layout: list[tuple[str, int, int, bool]] = []
    for stage, (c_in, c_out) in enumerate(config.stage_widths(), start=1):
        if config.backbone in DEEP:
            depth = config.g_depth or 1
            for index in range(depth):
                layout.append(("block", c_in, c_in if index == 0 else c_out, index == depth - 1))
        else:
            layout.append(("block", c_in, c_out, True))
        if stage in config.attn_g_loc:
            layout.append(("attn", c_out, c_out, False))
    return layout


def attention_layers(config: StudioGANConfig) -> list[AttentionLayer]:
    """Each attention layer as data: `blocks.{k}.0`, its channels, query grid and 2×2-pooled key grid."""
    layers, side = [], 4
    for position, (kind, _, channels, upsamples) in enumerate(_layout(config)):
        side *= 2 if upsamples else 1
        if kind == "attn":
            layers.append(AttentionLayer(f"blocks.{position}.0", channels, side, side // 2))
    return layers


def _norm(channels: int, condition_dim: int, conditional: bool) -> nn.Module:
    if conditional:
        return ConditionalBatchNorm2d(channels, condition_dim, eps=BN_EPS)
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class _Normed(nn.Module):
    """Calls a norm with the condition when it is conditional."""

    conditional: bool

    def _bn(self, name: str, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        norm = getattr(self, name)
        return norm(x, condition) if self.conditional else norm(x)


class DeconvBlock(_Normed):
    """deep_conv: transposed conv 4×4 stride 2 → BN → act."""

    def __init__(self, c_in: int, c_out: int, condition_dim: int, conditional: bool, act: nn.Module) -> None:
        super().__init__()
        self.conditional = conditional
        self.deconv0 = nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1)
        self.bn0 = _norm(c_out, condition_dim, conditional)
        self.activation = act

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        return self.activation(self._bn("bn0", self.deconv0(x), condition))  # (B, C_out, 2H, 2W)


class ResBlock(_Normed):
    """resnet, big_resnet: BN → act → up → conv3 → BN → act → conv3, plus up → conv1 of the input."""

    def __init__(self, c_in: int, c_out: int, condition_dim: int, conditional: bool, act: nn.Module) -> None:
        super().__init__()
        self.conditional = conditional
        self.bn1 = _norm(c_in, condition_dim, conditional)
        self.bn2 = _norm(c_out, condition_dim, conditional)
        self.activation = act
        self.conv2d0 = nn.Conv2d(c_in, c_out, kernel_size=1)
        self.conv2d1 = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1)
        self.conv2d2 = nn.Conv2d(c_out, c_out, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        out = F.interpolate(self.activation(self._bn("bn1", x, condition)), scale_factor=2, mode="nearest")
        out = self.conv2d2(self.activation(self._bn("bn2", self.conv2d1(out), condition)))  # (B, C_out, 2H, 2W)
        return out + self.conv2d0(F.interpolate(x, scale_factor=2, mode="nearest"))


class DeepBlock(nn.Module):
    """BigGAN-deep bottleneck: conv1 to C_in/4, two conv3 (upsampling before the first if asked), conv1 out.

    Shortcut: legacy keeps the first C_out channels of the input; studiogan applies `conv2d0` (1×1).
    """

    def __init__(
        self, c_in: int, c_out: int, condition_dim: int, upsample: bool, learned_shortcut: bool, act: nn.Module
    ) -> None:
        super().__init__()
        hidden = c_in // 4
        self.upsample, self.c_out = upsample, c_out
        self.bn1 = ConditionalBatchNorm2d(c_in, condition_dim, eps=BN_EPS)
        self.bn2 = ConditionalBatchNorm2d(hidden, condition_dim, eps=BN_EPS)
        self.bn3 = ConditionalBatchNorm2d(hidden, condition_dim, eps=BN_EPS)
        self.bn4 = ConditionalBatchNorm2d(hidden, condition_dim, eps=BN_EPS)
        self.activation = act
        self.conv2d0 = nn.Conv2d(c_in, c_out, kernel_size=1) if learned_shortcut else None
        self.conv2d1 = nn.Conv2d(c_in, hidden, kernel_size=1)
        self.conv2d2 = nn.Conv2d(hidden, hidden, kernel_size=3, padding=1)
        self.conv2d3 = nn.Conv2d(hidden, hidden, kernel_size=3, padding=1)
        self.conv2d4 = nn.Conv2d(hidden, c_out, kernel_size=1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        act = self.activation
        out = self.conv2d1(act(self.bn1(x, condition)))  # (B, C_in/4, H, W)
        out = act(self.bn2(out, condition))
        if self.upsample:
            out = F.interpolate(out, scale_factor=2, mode="nearest")
        out = self.conv2d3(act(self.bn3(self.conv2d2(out), condition)))
        out = self.conv2d4(act(self.bn4(out, condition)))  # (B, C_out, H', W')
        shortcut = x if self.conv2d0 is not None else x[:, : self.c_out]
        if self.upsample:
            shortcut = F.interpolate(shortcut, scale_factor=2, mode="nearest")
        if self.conv2d0 is not None:
            shortcut = self.conv2d0(shortcut)
        return out + shortcut


class StudioGANGenerator(nn.Module):
    """(z (B, z_dim), classes (B,) int64 or None) → image (B, 3, S, S) in [-1, 1]; plain layers, eval only."""

    def __init__(self, config: StudioGANConfig) -> None:
        super().__init__()
        self.config = config
        act = ACTIVATIONS[config.g_act_fn]()
        widths = config.stage_widths()
        self.bottom_channels = widths[0][0]
        self.conditioning: ClassConditioning | None = None
        if config.shares_embedding:
            stages = len(widths)
            blocks = sum(kind == "block" for kind, *_ in _layout(config))
            self.conditioning = ClassConditioning(
                config.num_classes if config.conditional else None,
                config.g_shared_dim or 0,
                config.z_dim,
                blocks,
                chunks=stages + 1 if config.backbone == "big_resnet" else 1,
            )
            condition_dim = self.conditioning.condition_dim
            z_in = self.conditioning.chunk_dim if config.backbone == "big_resnet" else condition_dim
        else:
            condition_dim = config.num_classes if config.conditional else 0
            z_in = config.z_dim
        self.linear0 = nn.Linear(z_in, self.bottom_channels * 4 * 4)
        blocks: list[nn.Module] = []
        for kind, c_in, c_out, upsample in _layout(config):
            if kind == "attn":
                block: nn.Module = PooledKeyAttention(c_out)
            elif config.backbone == "deep_conv":
                block = DeconvBlock(c_in, c_out, condition_dim, config.conditional, act)
            elif config.backbone in DEEP:
                learned = config.backbone == "big_resnet_deep_studiogan"
                block = DeepBlock(c_in, c_out, condition_dim, upsample, learned, act)
            else:
                conditional = config.conditional or config.backbone == "big_resnet"
                block = ResBlock(c_in, c_out, condition_dim, conditional, act)
            blocks.append(nn.ModuleList([block]))
        self.blocks = nn.ModuleList(blocks)
        last = widths[-1][1]
        if config.backbone == "deep_conv":
            self.conv4 = nn.Conv2d(last, 3, kernel_size=3, padding=1)
        else:
            self.bn4 = nn.BatchNorm2d(last, eps=BN_EPS)
            self.activation = act
            self.conv2d5 = nn.Conv2d(last, 3, kernel_size=3, padding=1)

    def conditions(
        self, z: torch.Tensor, classes: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
        """(linear0's input, each block's condition) for this backbone."""
        blocks = sum(isinstance(block[0], (DeconvBlock, ResBlock, DeepBlock)) for block in self.blocks)
        if self.conditioning is not None:
            first, conditions = self.conditioning(z, classes)
            if self.config.backbone in DEEP:
                return conditions[0], list(conditions)
            return first, list(conditions)
        if self.config.conditional:
            one_hot = F.one_hot(classes, self.config.num_classes).to(z.dtype)  # (B, num_classes)
            return z, [one_hot] * blocks
        return z, [None] * blocks

    def forward(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        if self.config.conditional and classes is None:
            raise ValueError("this StudioGAN generator is class-conditional: give one class per z")
        first, conditions = self.conditions(z, classes)
        x = self.linear0(first).view(-1, self.bottom_channels, 4, 4)  # (B, C0, 4, 4)
        remaining = iter(conditions)
        for (block,) in self.blocks:
            x = block(x) if isinstance(block, PooledKeyAttention) else block(x, next(remaining))
        if self.config.backbone == "deep_conv":
            return torch.tanh(self.conv4(x))  # (B, 3, S, S)
        return torch.tanh(self.conv2d5(self.activation(self.bn4(x))))  # (B, 3, S, S)
