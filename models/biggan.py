"""BigGAN-deep generator (Brock, Donahue, Simonyan, 2019) in the layout of `pytorch-pretrained-biggan` 0.1.1.

That package ships BigGAN-deep at 128, 256 and 512 px as a folder (or two cache entries) holding
`config.json` and `pytorch_model.bin`. Our modules carry the same parameter and buffer names, so
its state dict loads into ours by name, strictly, with no rename table:

    embeddings.weight                                    class one-hot → embedding, (z_dim, num_classes)
    generator.gen_z.{weight_orig,weight_u,weight_v,bias}  [z, embedding] → 4×4 features
    generator.layers.{i}.bn_{0..3}.{running_means,running_vars}, .scale.*, .offset.*
    generator.layers.{i}.conv_{0..3}.{weight_orig,weight_u,weight_v,bias}
    generator.layers.{p}.snconv1x1_{theta,phi,g,o_conv}.{weight_orig,weight_u,weight_v}, .gamma
    generator.bn.{running_means,running_vars,weight,bias}, generator.conv_to_rgb.*

`weight_orig`, `weight_u` and `weight_v` are torch's classic spectral-norm names. This model only
samples: the weight is `weight_orig / σ` with σ = uᵀ W v from the stored u and v, which is what the
reference computes in eval mode. (In training mode, the mode `from_pretrained` returns, it runs
one more power iteration per forward first, so its first images differ from eval mode by how far
the stored u and v are from converged.)

BigGAN-deep does not split z across blocks (BigGAN without "deep" does): every block's conditional
batch norm sees the whole condition vector [z, class embedding] of 2·z_dim values.

Batch-norm statistics were stored for `n_stats` truncations evenly spaced on [0, 1] (51: 0, 0.02, …,
1). For a truncation t between two stored values k·s and (k+1)·s (s = 1/(n_stats−1)), with
f = frac(t/s), the reference blends them as f·stats[k] + (1−f)·stats[k+1], the mirror image of a
linear interpolation; we do the same so the images match it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import truncnorm
from torch import nn

from models.checkpoint import CheckpointError, _read, check_state_dict
from models.file_reading import read_json_object
from models.geometry import AttentionLayer

__all__ = [
    "BIGGAN_DEEP_CONFIGS",
    "CONFIG_NAME",
    "TRUNCATION_RANGE",
    "WEIGHTS_NAME",
    "BigGANConfig",
    "BigGANDeep",
    "ConditionalBatchNorm",
    "GenBlock",
    "SelfAttention",
    "attention_layers",
    "generate",
    "load_biggan",
    "load_biggan_folder",
    "sample_inputs",
    "statistics_blend",
    "truncated_normal",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "pytorch_model.bin"
TRUNCATION_RANGE = (0.0, 1.0)  # open below, closed above: 0 < truncation <= 1, as the reference asserts
Z_BOUND = 2.0  # z is a standard normal truncated to [-2, 2] before it is scaled by the truncation

Layer = tuple[bool, int, int]  # (upsamples ×2?, input channels ÷ channel_width, output channels ÷ channel_width)

_LAYERS_128: tuple[Layer, ...] = (
    (False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8),
    (True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1),
)  # fmt: skip
_LAYERS_256: tuple[Layer, ...] = (
    (False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8), (True, 8, 8),
    (False, 8, 8), (True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1),
)  # fmt: skip
_LAYERS_512: tuple[Layer, ...] = _LAYERS_256 + ((False, 1, 1), (True, 1, 1))


@dataclass(frozen=True)
class BigGANConfig:
    """The fields of the reference's `config.json`; defaults are BigGAN-deep 128."""

    output_dim: int = 128  # image side in pixels: 4 · 2^(number of upsampling layers)
    z_dim: int = 128  # latent size; the class embedding has the same size
    class_embed_dim: int = 128  # kept for round trips; the reference's embedding is z_dim wide and ignores it
    channel_width: int = 128  # ch: a layer's channels are ch × its multiplier; gen_z makes 16·ch
    num_classes: int = 1000  # ImageNet
    layers: tuple[Layer, ...] = _LAYERS_128  # one GenBlock each
    attention_layer_position: int = 8  # the attention module sits just before layer[position]
    eps: float = 1e-4  # batch-norm epsilon (also the reference's spectral-norm epsilon, unused here)
    n_stats: int = 51  # batch-norm statistics stored for truncations 0, 1/(n-1), …, 1

    def __post_init__(self) -> None:
        for name, upper in (
            ("output_dim", 4096),
            ("z_dim", 4096),
            ("class_embed_dim", 4096),
            ("channel_width", 4096),
            ("num_classes", 100_000),
            ("n_stats", 10_001),
        ):
            value = getattr(self, name)
            if type(value) is not int or not 0 < value <= upper:
                raise ValueError(f"{name} must be an integer in 1..{upper}, got {value!r}")
        if self.n_stats < 2:
            raise ValueError(f"n_stats must be at least 2, got {self.n_stats}")
        if isinstance(self.eps, bool) or not isinstance(self.eps, (int, float)) or not 0 < self.eps < 1:
            raise ValueError(f"eps must be a number in (0, 1), got {self.eps!r}")
        object.__setattr__(self, "eps", float(self.eps))
        object.__setattr__(self, "layers", _parse_layers(self.layers))
        self._check_layout()

    def _check_layout(self) -> None:
        layers, ch = self.layers, self.channel_width
        if layers[0][1] != 16:
            raise ValueError(f"layers[0] must take 16·channel_width channels (gen_z makes 16·ch), got {layers[0][1]}")
        if layers[-1][2] != 1:
            raise ValueError(f"the last layer must give 1·channel_width channels, got {layers[-1][2]}")
        for index, (_, in_mult, out_mult) in enumerate(layers):
            if index and layers[index - 1][2] != in_mult:
                raise ValueError(
                    f"layers[{index}] takes {in_mult}·ch channels but layers[{index - 1}] gives "
                    f"{layers[index - 1][2]}·ch"
                )
            if out_mult != in_mult and 2 * out_mult != in_mult or in_mult * ch % 4:
                raise ValueError(
                    f"layers[{index}] must keep or halve its channels, and ch·{in_mult} must be a "
                    f"multiple of 4, got {in_mult} → {out_mult}"
                )
        if ch < 3:
            raise ValueError(f"channel_width must be at least 3 (the image is its first 3 channels), got {ch}")
        position = self.attention_layer_position
        if type(position) is not int or not 0 <= position < len(layers):
            raise ValueError(f"attention_layer_position must be an integer in 0..{len(layers) - 1}, got {position!r}")
        if ch * layers[position][1] % 8:
            raise ValueError("the attention layer's channels must be a multiple of 8 (θ and φ use C/8)")
        upsamples = sum(up for up, _, _ in layers)
        if self.output_dim != 4 * 2**upsamples:
            raise ValueError(
                f"output_dim must be 4·2^{upsamples} = {4 * 2**upsamples} for these layers, got {self.output_dim}"
            )

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> BigGANConfig:
        """Strict: every field must be present and no other; `layers` may be JSON lists."""
        known = {f.name for f in fields(cls)}
        unknown, missing = sorted(set(raw) - known), sorted(known - set(raw))
        if unknown or missing:
            raise ValueError(f"unknown keys {unknown}, missing keys {missing}; a BigGAN config has {sorted(known)}")
        return cls(**raw)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, in the reference's `config.json` shape (layers as lists)."""
        raw = asdict(self)
        raw["layers"] = [list(layer) for layer in self.layers]
        return raw


def _parse_layers(raw: Any) -> tuple[Layer, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not 0 < len(raw) <= 64:
        raise ValueError("layers must be a list of 1..64 [upsample, in, out] triples")
    layers = []
    for index, layer in enumerate(raw):
        if not isinstance(layer, Sequence) or isinstance(layer, str) or len(layer) != 3:
            raise ValueError(f"layers[{index}] must be [upsample, in, out], got {layer!r}")
        up, in_mult, out_mult = layer
        if type(up) is not bool or any(type(m) is not int or not 0 < m <= 64 for m in (in_mult, out_mult)):
            raise ValueError(f"layers[{index}] must be [bool, int 1..64, int 1..64], got {list(layer)!r}")
        layers.append((up, in_mult, out_mult))
    return tuple(layers)


BIGGAN_DEEP_CONFIGS: dict[int, BigGANConfig] = {
    128: BigGANConfig(),
    256: BigGANConfig(output_dim=256, layers=_LAYERS_256),
    512: BigGANConfig(output_dim=512, layers=_LAYERS_512),
}


def attention_layers(config: BigGANConfig) -> list[AttentionLayer]:
    """The attention layer as data: its name in the state dict, channels, query grid and pooled key grid."""
    position = config.attention_layer_position
    side = 4 * 2 ** sum(up for up, _, _ in config.layers[:position])
    channels = config.channel_width * config.layers[position][1]
    return [AttentionLayer(f"generator.layers.{position}", channels, side, side // 2)]


# ---------------------------------------------------------------------------------------------
# Layers


class _SpectralNormed(nn.Module):
    """A layer whose weight is `weight_orig / σ`, σ = uᵀ W v with W the weight flattened to (out, rest)."""

    weight_orig: nn.Parameter
    weight_u: torch.Tensor
    weight_v: torch.Tensor

    def _init_spectral(self, shape: tuple[int, ...], bias: bool) -> None:
        weight = torch.empty(shape)
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))  # torch's default for Linear and Conv2d
        self.weight_orig = nn.Parameter(weight)
        self.bias = nn.Parameter(torch.zeros(shape[0])) if bias else None
        matrix = weight.flatten(1)  # (out, rest)
        v = F.normalize(torch.randn(matrix.shape[1]), dim=0)
        u = F.normalize(matrix @ v, dim=0)
        self.register_buffer("weight_u", u)  # (out,)
        self.register_buffer("weight_v", F.normalize(matrix.t() @ u, dim=0))  # (rest,)

    @property
    def weight(self) -> torch.Tensor:
        matrix = self.weight_orig.flatten(1)  # (out, rest)
        sigma = torch.dot(self.weight_u, torch.mv(matrix, self.weight_v))
        return self.weight_orig / sigma


class SNLinear(_SpectralNormed):
    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self._init_spectral((out_features, in_features), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class SNConv2d(_SpectralNormed):
    """Stride 1, 'same' padding for odd kernels."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.padding = kernel_size // 2
        self._init_spectral((out_channels, in_channels, kernel_size, kernel_size), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, padding=self.padding)


def statistics_blend(truncation: float, n_stats: int) -> tuple[int, float]:
    """(k, f): the statistics for `truncation` are stats[k] if f == 0, else f·stats[k] + (1−f)·stats[k+1].

    k and f come from frac/whole of truncation / (1/(n_stats−1)), computed in that order in Python
    floats as the reference does, so both pick the same rows for the same float.
    """
    fraction, whole = math.modf(truncation / (1.0 / (n_stats - 1)))
    index = int(whole)
    if index >= n_stats - 1:
        return n_stats - 1, 0.0
    return index, fraction


class ConditionalBatchNorm(nn.Module):
    """Batch norm with fixed statistics chosen by the truncation.

    Conditional: gain 1 + scale(c) and bias offset(c) from the condition vector c (B, 2·z_dim).
    Otherwise (the generator's last norm) a learned per-channel `weight` and `bias`.
    """

    def __init__(self, channels: int, condition_dim: int | None, n_stats: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("running_means", torch.zeros(n_stats, channels))
        self.register_buffer("running_vars", torch.ones(n_stats, channels))
        self.conditional = condition_dim is not None
        if condition_dim is not None:
            self.scale = SNLinear(condition_dim, channels, bias=False)
            self.offset = SNLinear(condition_dim, channels, bias=False)
        else:
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))

    def statistics(self, truncation: float) -> tuple[torch.Tensor, torch.Tensor]:
        index, fraction = statistics_blend(truncation, self.running_means.shape[0])
        if fraction == 0.0:
            return self.running_means[index], self.running_vars[index]  # (C,), (C,)
        mean = self.running_means[index] * fraction + self.running_means[index + 1] * (1 - fraction)
        var = self.running_vars[index] * fraction + self.running_vars[index + 1] * (1 - fraction)
        return mean, var

    def forward(self, x: torch.Tensor, truncation: float, condition: torch.Tensor | None = None) -> torch.Tensor:
        mean, var = self.statistics(truncation)  # (C,), (C,)
        if not self.conditional:
            return F.batch_norm(x, mean, var, self.weight, self.bias, training=False, eps=self.eps)
        gain = 1 + self.scale(condition)[:, :, None, None]  # (B, C, 1, 1)
        bias = self.offset(condition)[:, :, None, None]  # (B, C, 1, 1)
        return (x - mean[:, None, None]) / torch.sqrt(var[:, None, None] + self.eps) * gain + bias


class GenBlock(nn.Module):
    """Bottleneck residual block: 1×1 down to C/4, two 3×3, 1×1 out; each conv after a norm and ReLU.

    The shortcut keeps the first C_out channels of the input; both paths upsample ×2 (nearest) if asked.
    """

    def __init__(self, in_channels: int, out_channels: int, condition_dim: int, upsample: bool, config: BigGANConfig):
        super().__init__()
        middle = in_channels // 4
        self.upsample = upsample
        self.out_channels = out_channels

        def norm(channels: int) -> ConditionalBatchNorm:
            return ConditionalBatchNorm(channels, condition_dim, config.n_stats, config.eps)

        self.bn_0, self.conv_0 = norm(in_channels), SNConv2d(in_channels, middle, 1)
        self.bn_1, self.conv_1 = norm(middle), SNConv2d(middle, middle, 3)
        self.bn_2, self.conv_2 = norm(middle), SNConv2d(middle, middle, 3)
        self.bn_3, self.conv_3 = norm(middle), SNConv2d(middle, out_channels, 1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor, truncation: float) -> torch.Tensor:
        out = self.conv_0(F.relu(self.bn_0(x, truncation, condition)))  # (B, C/4, H, W)
        out = F.relu(self.bn_1(out, truncation, condition))
        if self.upsample:
            out = F.interpolate(out, scale_factor=2, mode="nearest")  # (B, C/4, 2H, 2W)
        out = self.conv_1(out)
        out = self.conv_2(F.relu(self.bn_2(out, truncation, condition)))
        out = self.conv_3(F.relu(self.bn_3(out, truncation, condition)))  # (B, C_out, H', W')
        shortcut = x[:, : self.out_channels]  # (B, C_out, H, W)
        if self.upsample:
            shortcut = F.interpolate(shortcut, scale_factor=2, mode="nearest")
        return out + shortcut


class SelfAttention(nn.Module):
    """BigGAN attention: out = x + γ · O(G Aᵀ), A = softmax(Θᵀ Φ) with Φ and G max-pooled 2×2.

    Θ (C/8, N) on the H×W query grid, Φ (C/8, M) and G (C/2, M) on the H/2×W/2 key grid, M = N/4.
    Row i of A (N × M) is where query cell i looks. The softmax is an explicit submodule so a
    forward hook on `<layer>.softmax` sees A.
    """

    key_pool = 2

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.snconv1x1_theta = SNConv2d(channels, channels // 8, bias=False)
        self.snconv1x1_phi = SNConv2d(channels, channels // 8, bias=False)
        self.snconv1x1_g = SNConv2d(channels, channels // 2, bias=False)
        self.snconv1x1_o_conv = SNConv2d(channels // 2, channels, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        theta = self.snconv1x1_theta(x).flatten(2)  # (B, C/8, N), N = H·W, index row·W + col
        phi = F.max_pool2d(self.snconv1x1_phi(x), self.key_pool).flatten(2)  # (B, C/8, M), M = N/4
        attention = self.softmax(torch.bmm(theta.transpose(1, 2), phi))  # (B, N, M); row i sums to 1
        g = F.max_pool2d(self.snconv1x1_g(x), self.key_pool).flatten(2)  # (B, C/2, M)
        attended = torch.bmm(g, attention.transpose(1, 2))  # (B, C/2, N)
        attended = attended.view(batch, channels // 2, height, width)  # (B, C/2, H, W)
        return x + self.gamma * self.snconv1x1_o_conv(attended)


class Generator(nn.Module):
    """Condition vector (B, 2·z_dim) → image (B, 3, output_dim, output_dim) in [-1, 1]."""

    def __init__(self, config: BigGANConfig) -> None:
        super().__init__()
        self.config = config
        ch, condition_dim = config.channel_width, 2 * config.z_dim
        self.gen_z = SNLinear(condition_dim, 4 * 4 * 16 * ch)
        layers: list[nn.Module] = []
        for index, (upsample, in_mult, out_mult) in enumerate(config.layers):
            if index == config.attention_layer_position:
                layers.append(SelfAttention(ch * in_mult))
            layers.append(GenBlock(ch * in_mult, ch * out_mult, condition_dim, upsample, config))
        self.layers = nn.ModuleList(layers)
        self.bn = ConditionalBatchNorm(ch, None, config.n_stats, config.eps)
        self.conv_to_rgb = SNConv2d(ch, ch, 3)

    def forward(self, condition: torch.Tensor, truncation: float) -> torch.Tensor:
        ch = self.config.channel_width
        x = self.gen_z(condition).view(-1, 4, 4, 16 * ch)  # (B, 4, 4, 16ch): stored in TensorFlow's HWC order
        x = x.permute(0, 3, 1, 2).contiguous()  # (B, 16ch, 4, 4)
        for layer in self.layers:
            x = layer(x, condition, truncation) if isinstance(layer, GenBlock) else layer(x)
        x = self.conv_to_rgb(F.relu(self.bn(x, truncation)))  # (B, ch, S, S)
        return torch.tanh(x[:, :3])  # (B, 3, S, S)


def check_truncation(truncation: float) -> float:
    """`truncation` as a Python float; any real number in range is taken, numpy's float32 included."""
    low, high = TRUNCATION_RANGE
    if isinstance(truncation, bool) or not isinstance(truncation, numbers.Real) or not low < truncation <= high:
        raise ValueError(f"truncation must be a number in ({low:g}, {high:g}], got {truncation!r}")
    return float(truncation)


class BigGANDeep(nn.Module):
    """(z (B, z_dim), class vector (B, num_classes), truncation) → image (B, 3, S, S) in [-1, 1].

    The class vector is usually one-hot; a mixture of classes blends their embeddings.
    """

    def __init__(self, config: BigGANConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = nn.Linear(config.num_classes, config.z_dim, bias=False)
        self.generator = Generator(config)

    def forward(self, z: torch.Tensor, classes: torch.Tensor, truncation: float) -> torch.Tensor:
        truncation = check_truncation(truncation)
        condition = torch.cat((z, self.embeddings(classes)), dim=1)  # (B, 2·z_dim)
        return self.generator(condition, truncation)


# ---------------------------------------------------------------------------------------------
# Sampling


def truncated_normal(seed: int, size: int) -> torch.Tensor:
    """`size` draws of a standard normal truncated to [−2, 2], exactly as `pytorch-pretrained-biggan` draws them.

    Its `truncated_noise_sample(batch_size=1, dim_z=size, truncation=t, seed=seed)` is
    `t · scipy.stats.truncnorm.rvs(-2, 2, size=(1, size), random_state=numpy.random.RandomState(seed))`
    cast to float32 before the product; this is that draw before the product, so a seed from the
    package's examples gives the same z here (with the same scipy, whose sampler it is).
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    state = np.random.RandomState(int(seed))
    draws = truncnorm.rvs(-Z_BOUND, Z_BOUND, size=(1, size), random_state=state).astype(np.float32)  # (1, size)
    return torch.from_numpy(draws[0])  # (size,) in [-2, 2]


def sample_inputs(seed: int, class_index: int, truncation: float, config: BigGANConfig) -> tuple[torch.Tensor, ...]:
    """The generator's inputs for one sample: z (z_dim,) = truncation · truncated_normal(seed), one-hot (num_classes,).

    As the reference's `truncated_noise_sample`, the product is taken in float32.
    """
    truncation = check_truncation(truncation)
    if isinstance(class_index, bool) or not isinstance(class_index, int) or not 0 <= class_index < config.num_classes:
        raise ValueError(f"class index must be an integer in 0..{config.num_classes - 1}, got {class_index!r}")
    z = truncated_normal(seed, config.z_dim) * truncation  # (z_dim,)
    one_hot = F.one_hot(torch.tensor(class_index), config.num_classes).to(torch.float32)  # (num_classes,)
    return z, one_hot


@torch.no_grad()
def generate(model: BigGANDeep, seeds: Sequence[int], classes: Sequence[int], truncation: float) -> torch.Tensor:
    """Images (B, 3, S, S) in [-1, 1] for samples (seed[i], classes[i], truncation), on the model's device."""
    if len(seeds) != len(classes) or not seeds:
        raise ValueError(
            f"need one class per seed and at least one seed, got {len(seeds)} seeds, {len(classes)} classes"
        )
    inputs = [sample_inputs(seed, index, truncation, model.config) for seed, index in zip(seeds, classes, strict=True)]
    device = model.embeddings.weight.device
    z = torch.stack([z for z, _ in inputs]).to(device)  # (B, z_dim)
    one_hot = torch.stack([one_hot for _, one_hot in inputs]).to(device)  # (B, num_classes)
    return model(z, one_hot, truncation)


# ---------------------------------------------------------------------------------------------
# Loading


def _read_config(path: Path) -> BigGANConfig:
    raw = read_json_object(path, "BigGAN settings")
    try:
        return BigGANConfig.from_dict(raw)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: not a BigGAN-deep config: {error}") from None


def load_biggan(config_path: Path | str, weights_path: Path | str) -> BigGANDeep:
    """BigGAN-deep from a `config.json` and a `pytorch_model.bin` (any names), in eval mode on the CPU.

    Loads with `weights_only=True` and strict key matching; any problem is one CheckpointError line
    naming the file.
    """
    config_path, weights_path = Path(config_path), Path(weights_path)
    config = _read_config(config_path)
    with torch.device("meta"):  # shapes only; the weights come from the file
        model = BigGANDeep(config)
    state = _read(weights_path)
    shapes = {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}
    check_state_dict(weights_path, state, shapes, f"the BigGAN-deep of {config_path.name}")
    state = {key: tensor.to(torch.float32) if tensor.is_floating_point() else tensor for key, tensor in state.items()}
    model.load_state_dict(state, strict=True, assign=True)  # the file's tensors become the model's, no copy
    return model.eval()


def load_biggan_folder(folder: Path | str) -> BigGANDeep:
    """BigGAN-deep from a folder holding `config.json` and `pytorch_model.bin`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}")
    return load_biggan(folder / CONFIG_NAME, folder / WEIGHTS_NAME)
