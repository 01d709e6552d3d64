"""SAGAN generator and discriminator for 64×64 images, in the reference layer layout.

Layer names follow heykeetae/Self-Attention-GAN (`l1`–`l4`, `last`, `attn1`, `attn2`,
`query_conv`/`key_conv`/`value_conv`/`gamma`) so that its checkpoints map onto ours by renaming.

Spectral norm is torch's parametrization with `dim=0` on every layer, transposed convolutions
included: the reference reshapes every weight along its first axis, and matching it keeps a
converted checkpoint's σ, and so its images, identical.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.blocks import ConditionalBatchNorm2d
from models.geometry import AttentionLayer

__all__ = [
    "Discriminator",
    "Generator",
    "SAGANConfig",
    "SelfAttention",
    "generator_attention_layers",
]

SUPPORTED_IMAGE_SIZE = 64
G_BLOCKS = ("transposed", "residual")


@dataclass(frozen=True)
class SAGANConfig:
    image_size: int = 64  # output side in pixels; the reference layout is defined for 64 only
    z_dim: int = 128  # latent size, the reference's default
    g_conv_dim: int = 64  # G width: l1 has 8×, attn1 sees 2×, attn2 sees 1× this many channels
    d_conv_dim: int = 64  # D width: attn1 sees 4×, attn2 sees 8× this many channels
    attn_key_pool: int = 1  # 1: full N×N maps as in the reference; 2: keys pooled 2×2 (BigGAN, TF SAGAN)
    # "transposed": the reference's 4×4 transposed convolutions; "residual": residual blocks that upsample
    # by nearest neighbour and then apply 3×3 convolutions (BigGAN's G blocks), which avoid checkerboards.
    g_blocks: str = "transposed"
    # 0: unconditional. Otherwise G's residual blocks use conditional batch norm driven by a shared class
    # embedding of `class_dim` values, and D adds a projection term (Miyato & Koyama, 2018).
    num_classes: int = 0
    class_dim: int = 128

    def __post_init__(self) -> None:
        if self.g_blocks not in G_BLOCKS:
            raise ValueError(f"g_blocks must be one of {', '.join(G_BLOCKS)}, got {self.g_blocks!r}")
        if type(self.num_classes) is not int or not 0 <= self.num_classes <= 100_000:
            raise ValueError(f"num_classes must be an integer in 0..100000, got {self.num_classes!r}")
        if self.num_classes and self.g_blocks != "residual":
            raise ValueError("a class-conditional SAGAN needs g_blocks='residual' (its batch norms are conditional)")
        for name, upper in (
            ("image_size", 4096),
            ("z_dim", 1024),
            ("g_conv_dim", 512),
            ("d_conv_dim", 512),
            ("class_dim", 1024),
        ):
            value = getattr(self, name)
            if type(value) is not int or not 0 < value <= upper:
                raise ValueError(f"{name} must be an integer in 1..{upper}, got {value!r}")
        if self.image_size != SUPPORTED_IMAGE_SIZE:
            raise ValueError(f"image_size must be {SUPPORTED_IMAGE_SIZE}, got {self.image_size}")
        if self.g_conv_dim % 8 or self.d_conv_dim % 8:
            raise ValueError("g_conv_dim and d_conv_dim must be multiples of 8 (attention uses C/8 channels)")
        if self.attn_key_pool not in (1, 2):
            raise ValueError(f"attn_key_pool must be 1 or 2, got {self.attn_key_pool}")

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)


def generator_attention_layers(config: SAGANConfig) -> list[AttentionLayer]:
    """The generator's attention layers, earliest first."""
    layers = []
    for name, channels, grid in (
        ("attn1", config.g_conv_dim * 2, config.image_size // 4),
        ("attn2", config.g_conv_dim, config.image_size // 2),
    ):
        layers.append(AttentionLayer(name, channels, grid, grid // config.attn_key_pool))
    return layers


class SelfAttention(nn.Module):
    """SAGAN self-attention: out = x + γ · V Aᵀ with A = softmax(Q Kᵀ), Q (N, C/8), K (M, C/8), V (C, M).

    Row i of A (N query positions × M key positions) is where query position i looks.

    The softmax is an explicit submodule so a forward hook on `<layer>.softmax` sees the map;
    a fused attention kernel would never materialise it. Training, which needs no map, may set
    `fused_in_training`: in training mode the layer then runs `scaled_dot_product_attention` on the
    same weights, unless a hook watches the softmax (a capture is active), so every
    capture, from any thread, sees the explicit map.
    """

    def __init__(self, in_channels: int, key_pool: int = 1) -> None:
        super().__init__()
        self.query_conv = nn.Conv2d(in_channels, in_channels // 8, kernel_size=1)
        self.key_conv = nn.Conv2d(in_channels, in_channels // 8, kernel_size=1)
        self.value_conv = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.softmax = nn.Softmax(dim=-1)
        self.key_pool = key_pool
        self.fused_in_training = False

    def keys_and_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = self.key_conv(x)  # (B, C/8, H, W)
        value = self.value_conv(x)  # (B, C, H, W)
        if self.key_pool > 1:
            key = F.max_pool2d(key, self.key_pool)  # (B, C/8, H/p, W/p)
            value = F.max_pool2d(value, self.key_pool)
        return key.flatten(2), value.flatten(2)  # (B, C/8, M), (B, C, M)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        query = self.query_conv(x).flatten(2).transpose(1, 2)  # (B, N, C/8), N = H·W, index row*W + col
        key, value = self.keys_and_values(x)  # (B, C/8, M), (B, C, M)
        if self.fused_in_training and self.training and not self.softmax._forward_hooks:
            out = fused_attention(query, key, value)  # (B, N, C)
        else:
            attention = self.softmax(torch.bmm(query, key))  # (B, N, M); row i sums to 1
            out = torch.bmm(attention, value.transpose(1, 2))  # (B, N, C); the big map is never transposed
        return x + self.gamma * out.transpose(1, 2).reshape(batch, channels, height, width)


def fused_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """softmax(Q K) Vᵀ without materialising the map: query (B, N, d), key (B, d, M), value (B, C, M).

    SAGAN has no 1/√d, hence scale=1. Q and K are zero-padded from d to C channels, which leaves every
    dot product unchanged but gives the CPU's flash kernel the equal head sizes it needs.
    """
    channels = value.shape[1]
    padding = (0, channels - query.shape[-1])
    query = F.pad(query, padding).unsqueeze(1)  # (B, 1, N, C)
    key = F.pad(key.transpose(1, 2), padding).unsqueeze(1)  # (B, 1, M, C)
    value = value.transpose(1, 2).contiguous().unsqueeze(1)  # (B, 1, M, C)
    return F.scaled_dot_product_attention(query, key, value, scale=1.0).squeeze(1)  # (B, N, C)


def _up_block(in_channels: int, out_channels: int, **conv_args: int) -> nn.Sequential:
    sn = partial(spectral_norm, dim=0)
    return nn.Sequential(
        sn(nn.ConvTranspose2d(in_channels, out_channels, 4, **conv_args)),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


def _down_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        spectral_norm(nn.Conv2d(in_channels, out_channels, 4, 2, 1), dim=0),
        nn.LeakyReLU(0.1),
    )


class ResidualUpBlock(nn.Module):
    """BN → ReLU → 2× nearest → 3×3 conv → BN → ReLU → 3×3 conv, plus 2× nearest → 1×1 conv of the input.

    With `condition_dim`, both batch norms are conditional on a vector of that size (the class embedding).
    """

    def __init__(self, in_channels: int, out_channels: int, condition_dim: int = 0) -> None:
        super().__init__()
        sn = partial(spectral_norm, dim=0)
        self.bn1 = _batch_norm(in_channels, condition_dim)
        self.conv1 = sn(nn.Conv2d(in_channels, out_channels, 3, padding=1))
        self.bn2 = _batch_norm(out_channels, condition_dim)
        self.conv2 = sn(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.shortcut = sn(nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        out = F.interpolate(F.relu(_normalise(self.bn1, x, condition)), scale_factor=2, mode="nearest")
        out = self.conv2(F.relu(_normalise(self.bn2, self.conv1(out), condition)))  # (B, C_out, 2H, 2W)
        return out + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


def _spectral_linear(in_features: int, out_features: int) -> nn.Module:
    return spectral_norm(nn.Linear(in_features, out_features, bias=False), dim=0)


def _batch_norm(channels: int, condition_dim: int) -> nn.Module:
    if condition_dim:
        return ConditionalBatchNorm2d(channels, condition_dim, linear=_spectral_linear)
    return nn.BatchNorm2d(channels)


def _normalise(norm: nn.Module, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
    return norm(x) if condition is None else norm(x, condition)


class LatentToGrid(nn.Module):
    """z (B, z_dim) → (B, C, 4, 4) by one spectrally normalised linear layer."""

    def __init__(self, z_dim: int, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.linear = spectral_norm(nn.Linear(z_dim, channels * 16), dim=0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z).view(z.shape[0], self.channels, 4, 4)


class Generator(nn.Module):
    """z (B, z_dim) [and classes (B,)] → image (B, 3, 64, 64) in [-1, 1]; attention at 16×16 and 32×32.

    Both block kinds (`config.g_blocks`) keep the reference's stages and attention placement. A
    conditional G embeds each class once (`class_embedding`, shared by every block) and feeds the
    embedding to the conditional batch norms of its residual blocks.
    """

    def __init__(self, config: SAGANConfig) -> None:
        super().__init__()
        self.config = config
        width = config.g_conv_dim
        # Registered in forward order, which fixes the parameter order that saved optimiser states rely on.
        if config.g_blocks == "transposed":
            self.l1 = _up_block(config.z_dim, width * 8)  # 4×4
            self.l2 = _up_block(width * 8, width * 4, stride=2, padding=1)  # 8×8
            self.l3 = _up_block(width * 4, width * 2, stride=2, padding=1)  # 16×16
            self.attn1 = SelfAttention(width * 2, config.attn_key_pool)
            self.l4 = _up_block(width * 2, width, stride=2, padding=1)  # 32×32
            self.attn2 = SelfAttention(width, config.attn_key_pool)
            self.last = nn.Sequential(nn.ConvTranspose2d(width, 3, 4, 2, 1), nn.Tanh())  # 64×64
        else:
            condition_dim = config.class_dim if config.conditional else 0
            if config.conditional:
                self.class_embedding = nn.Embedding(config.num_classes, config.class_dim)
                nn.init.orthogonal_(self.class_embedding.weight)  # unit rows: gains start near 1
            self.l1 = LatentToGrid(config.z_dim, width * 8)  # 4×4
            self.l2 = ResidualUpBlock(width * 8, width * 4, condition_dim)  # 8×8
            self.l3 = ResidualUpBlock(width * 4, width * 2, condition_dim)  # 16×16
            self.attn1 = SelfAttention(width * 2, config.attn_key_pool)
            self.l4 = ResidualUpBlock(width * 2, width, condition_dim)  # 32×32
            self.attn2 = SelfAttention(width, config.attn_key_pool)
            self.last = nn.Sequential(
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.Upsample(scale_factor=2, mode="nearest"),
                spectral_norm(nn.Conv2d(width, 3, 3, padding=1), dim=0),
                nn.Tanh(),
            )  # 64×64

    def forward(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        condition = _class_condition(self, classes)  # (B, class_dim) or None
        if self.config.g_blocks == "transposed":
            out = self.l3(self.l2(self.l1(z.view(z.shape[0], -1, 1, 1))))
            out = self.attn2(self.l4(self.attn1(out)))
        else:
            out = self.l3(self.l2(self.l1(z), condition), condition)
            out = self.attn2(self.l4(self.attn1(out), condition))
        return self.last(out)


def _class_condition(model: nn.Module, classes: torch.Tensor | None) -> torch.Tensor | None:
    """The class embedding of a conditional model's `classes` (B,); None for an unconditional one."""
    conditional = model.config.conditional
    if conditional != (classes is not None):
        wanted = "one class index per sample" if conditional else "no classes (it is unconditional)"
        raise ValueError(f"this {type(model).__name__} takes {wanted}")
    if classes is None:
        return None
    if classes.dtype != torch.int64 or classes.dim() != 1:
        raise ValueError(f"classes must be a 1-D int64 tensor, got {classes.dtype} of shape {tuple(classes.shape)}")
    embedding = model.class_embedding if isinstance(model, Generator) else model.class_projection
    return embedding(classes)


class Discriminator(nn.Module):
    """image (B, 3, 64, 64) [and classes (B,)] → score (B,); attention at 8×8 (attn1) and 4×4 (attn2).

    A conditional D is a projection discriminator: score = ψ(h) + ⟨embed(y), Σ relu(h)⟩, with h the 4×4
    features before `last` and ψ = `last`, the unconditional score.
    """

    def __init__(self, config: SAGANConfig) -> None:
        super().__init__()
        self.config = config
        width = config.d_conv_dim
        self.l1 = _down_block(3, width)  # 32×32
        self.l2 = _down_block(width, width * 2)  # 16×16
        self.l3 = _down_block(width * 2, width * 4)  # 8×8
        self.attn1 = SelfAttention(width * 4, config.attn_key_pool)
        self.l4 = _down_block(width * 4, width * 8)  # 4×4
        self.attn2 = SelfAttention(width * 8, 1)
        self.last = nn.Sequential(nn.Conv2d(width * 8, 1, 4))  # 1×1
        if config.conditional:
            self.class_projection = spectral_norm(nn.Embedding(config.num_classes, width * 8), dim=0)

    def forward(self, images: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        out = self.attn1(self.l3(self.l2(self.l1(images))))
        features = self.attn2(self.l4(out))  # (B, 8·width, 4, 4)
        score = self.last(features).flatten()  # (B,)
        projection = _class_condition(self, classes)  # (B, 8·width) or None
        if projection is not None:
            score = score + (projection * F.relu(features).sum(dim=(2, 3))).sum(dim=1)
        return score


def sample_latents(seeds: list[int], z_dim: int) -> torch.Tensor:
    """One latent per seed, each drawn from its own CPU generator so a seed means the same z everywhere."""
    latents = [torch.randn(z_dim, generator=torch.Generator().manual_seed(seed)) for seed in seeds]
    return torch.stack(latents)  # (B, z_dim)
