"""StudioGAN's generators in its own layout, written here from its parameter names and semantics.

Spectral norm is torch's `spectral_norm` hook (eps 1e-6), as StudioGAN's `snconv2d`, `sndeconv2d`
and `snlinear` apply it, so the state dict holds `weight_orig`, `weight_u`, `weight_v`. Batch
norms use eps 1e-4. The attention keeps `conv1x1_theta/phi/g/attn` and `sigma`; its forward
records θ and pooled φ so that a test can compute the expected map from them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

EPS = 1e-4
ACTS = {"ReLU": nn.ReLU, "Leaky_ReLU": lambda: nn.LeakyReLU(0.1), "ELU": nn.ELU, "GELU": nn.GELU}
IN_MULT = {32: [4, 4, 4], 64: [16, 8, 4, 2], 128: [16, 16, 8, 4, 2], 256: [16, 16, 8, 8, 4, 2]}
OUT_MULT = {32: [4, 4, 4], 64: [8, 4, 2, 1], 128: [16, 8, 4, 2, 1], 256: [16, 8, 8, 4, 2, 1]}


class Layers:
    """What `MODULES` holds for the generator: spectrally normed or plain layer makers."""

    def __init__(self, sn: bool) -> None:
        self.sn = sn

    def _wrap(self, module: nn.Module) -> nn.Module:
        return spectral_norm(module, eps=1e-6) if self.sn else module

    def conv(self, c_in: int, c_out: int, k: int, bias: bool = True) -> nn.Module:
        return self._wrap(nn.Conv2d(c_in, c_out, k, 1, k // 2, bias=bias))

    def deconv(self, c_in: int, c_out: int) -> nn.Module:
        return self._wrap(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1))

    def linear(self, n_in: int, n_out: int, bias: bool = True) -> nn.Module:
        return self._wrap(nn.Linear(n_in, n_out, bias=bias))


class CondBN(nn.Module):
    def __init__(self, condition_dim: int, channels: int, layers: Layers) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=EPS, affine=False)
        self.gain = layers.linear(condition_dim, channels, bias=False)
        self.bias = layers.linear(condition_dim, channels, bias=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        scale = torch.einsum("bc,bchw->bchw", 1 + self.gain(y), self.bn(x))
        return scale + self.bias(y)[..., None, None]


class Attention(nn.Module):
    def __init__(self, channels: int, layers: Layers) -> None:
        super().__init__()
        self.conv1x1_theta = layers.conv(channels, channels // 8, 1, bias=False)
        self.conv1x1_phi = layers.conv(channels, channels // 8, 1, bias=False)
        self.conv1x1_g = layers.conv(channels, channels // 2, 1, bias=False)
        self.conv1x1_attn = layers.conv(channels // 2, channels, 1, bias=False)
        self.softmax = nn.Softmax(dim=-1)
        self.sigma = nn.Parameter(torch.zeros(1))
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []  # (θ (B, C/8, N), pooled φ (B, C/8, M)) per call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        theta = self.conv1x1_theta(x).reshape(b, c // 8, h * w)
        phi = F.max_pool2d(self.conv1x1_phi(x), 2, 2).reshape(b, c // 8, h * w // 4)
        self.seen.append((theta.detach(), phi.detach()))
        weights = self.softmax(torch.einsum("bkn,bkm->bnm", theta, phi))
        g = F.max_pool2d(self.conv1x1_g(x), 2, 2).reshape(b, c // 2, h * w // 4)
        mixed = torch.einsum("bcm,bnm->bcn", g, weights).reshape(b, c // 2, h, w)
        return x + self.sigma * self.conv1x1_attn(mixed)


class DeconvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, cond_dim: int | None, layers: Layers, act: nn.Module) -> None:
        super().__init__()
        self.deconv0 = layers.deconv(c_in, c_out)
        self.bn0 = nn.BatchNorm2d(c_out, eps=EPS) if cond_dim is None else CondBN(cond_dim, c_out, layers)
        self.activation = act

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        x = self.deconv0(x)
        return self.activation(self.bn0(x) if y is None else self.bn0(x, y))


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, cond_dim: int | None, layers: Layers, act: nn.Module) -> None:
        super().__init__()
        norm = (lambda c: nn.BatchNorm2d(c, eps=EPS)) if cond_dim is None else (lambda c: CondBN(cond_dim, c, layers))
        self.bn1, self.bn2 = norm(c_in), norm(c_out)
        self.activation = act
        self.conv2d0 = layers.conv(c_in, c_out, 1)
        self.conv2d1 = layers.conv(c_in, c_out, 3)
        self.conv2d2 = layers.conv(c_out, c_out, 3)

    def _norm(self, bn: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return bn(x) if y is None else bn(x, y)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
        h = self.conv2d1(up(self.activation(self._norm(self.bn1, x, y))))
        h = self.conv2d2(self.activation(self._norm(self.bn2, h, y)))
        return h + self.conv2d0(up(x))


class DeepBlock(nn.Module):
    def __init__(
        self, c_in: int, c_out: int, cond_dim: int, upsample: bool, learned: bool, layers: Layers, act: nn.Module
    ) -> None:
        super().__init__()
        hidden = c_in // 4
        self.c_in, self.c_out, self.upsample, self.learned = c_in, c_out, upsample, learned
        self.bn1 = CondBN(cond_dim, c_in, layers)
        self.bn2 = CondBN(cond_dim, hidden, layers)
        self.bn3 = CondBN(cond_dim, hidden, layers)
        self.bn4 = CondBN(cond_dim, hidden, layers)
        self.activation = act
        if learned:
            self.conv2d0 = layers.conv(c_in, c_out, 1)
        self.conv2d1 = layers.conv(c_in, hidden, 1)
        self.conv2d2 = layers.conv(hidden, hidden, 3)
        self.conv2d3 = layers.conv(hidden, hidden, 3)
        self.conv2d4 = layers.conv(hidden, c_out, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.learned:
            skip = x
        else:
            skip = x[:, : self.c_out] if self.c_in != self.c_out else x
        h = self.conv2d1(self.activation(self.bn1(x, y)))
        h = self.activation(self.bn2(h, y))
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            skip = F.interpolate(skip, scale_factor=2, mode="nearest")
        h = self.conv2d3(self.activation(self.bn3(self.conv2d2(h), y)))
        h = self.conv2d4(self.activation(self.bn4(h, y)))
        if self.learned:
            skip = self.conv2d0(skip)
        return h + skip


class ReferenceGenerator(nn.Module):
    """One StudioGAN generator from its YAML settings (a flat dict: backbone, img_size, …)."""

    def __init__(self, s: dict[str, Any]) -> None:
        super().__init__()
        self.s = s
        backbone, cond = s["backbone"], s["g_cond_mtd"] == "cBN"
        layers, act = Layers(s["apply_g_sn"]), ACTS[s["g_act_fn"]]()
        if backbone == "deep_conv":
            ins, outs = [512, 256, 128], [256, 128, 64]
        else:
            ins = [m * s["g_conv_dim"] for m in IN_MULT[s["img_size"]]]
            outs = [m * s["g_conv_dim"] for m in OUT_MULT[s["img_size"]]]
        self.first = ins[0]
        deep = backbone.startswith("big_resnet_deep")
        z_dim, stages = s["z_dim"], len(ins)
        if backbone == "big_resnet":
            self.chunk = z_dim // (stages + 1)
            cond_dim = self.chunk + (s["g_shared_dim"] if cond else 0)
            z_in = self.chunk
        elif deep:
            cond_dim = z_dim + s["g_shared_dim"]
            z_in = cond_dim
        else:
            cond_dim = s["num_classes"] if cond else None
            z_in = z_dim
        self.linear0 = layers.linear(z_in, ins[0] * 16)
        if cond and (backbone == "big_resnet" or deep):
            self.shared = nn.Embedding(s["num_classes"], s["g_shared_dim"])
        blocks: list[list[nn.Module]] = []
        for index in range(stages):
            if backbone == "deep_conv":
                blocks.append([DeconvBlock(ins[index], outs[index], cond_dim, layers, act)])
            elif backbone in ("resnet", "big_resnet"):
                blocks.append([ResBlock(ins[index], outs[index], cond_dim, layers, act)])
            else:
                depth = s["g_depth"]
                for g in range(depth):
                    c_out = ins[index] if g == 0 else outs[index]
                    block = DeepBlock(
                        ins[index], c_out, cond_dim, g == depth - 1, backbone.endswith("studiogan"), layers, act
                    )
                    blocks.append([block])
            if s["apply_attn"] and index + 1 in s["attn_g_loc"]:
                blocks.append([Attention(outs[index], layers)])
        self.blocks = nn.ModuleList(nn.ModuleList(block) for block in blocks)
        if backbone == "deep_conv":
            self.conv4 = layers.conv(outs[-1], 3, 3)
        else:
            self.bn4 = nn.BatchNorm2d(outs[-1], eps=EPS)
            self.activation = act
            self.conv2d5 = layers.conv(outs[-1], 3, 3)

    def forward(self, z: torch.Tensor, label: torch.Tensor | None) -> torch.Tensor:
        s, backbone = self.s, self.s["backbone"]
        cond = s["g_cond_mtd"] == "cBN"
        n_blocks = sum(not isinstance(block[0], Attention) for block in self.blocks)
        if backbone == "big_resnet":
            pieces = list(torch.split(z, self.chunk, dim=1))
            z, rest = pieces[0], pieces[1:]
            ys = [torch.cat([self.shared(label), piece], 1) if cond else piece for piece in rest]
        elif backbone.startswith("big_resnet_deep"):
            z = torch.cat([self.shared(label), z], 1)
            ys = [z] * n_blocks
        else:
            ys = [F.one_hot(label, s["num_classes"]).float() if cond else None] * n_blocks
        h = self.linear0(z).reshape(-1, self.first, 4, 4)
        counter = 0
        for (block,) in self.blocks:
            if isinstance(block, Attention):
                h = block(h)
            else:
                h = block(h, ys[counter])
                counter += 1
        if backbone == "deep_conv":
            return torch.tanh(self.conv4(h))
        return torch.tanh(self.conv2d5(self.activation(self.bn4(h))))

    def attention_modules(self) -> dict[str, Attention]:
        return {name: module for name, module in self.named_modules() if isinstance(module, Attention)}


@torch.no_grad()
def randomise(model: ReferenceGenerator, seed: int) -> ReferenceGenerator:
    """Non-trivial weights: every tensor drawn, σ and batch-norm statistics set, u and v off convergence.

    u and v start random and take two of torch's training-mode power iterations, so σ = uᵀWv is near
    but not at the top singular value (a random u, v could give σ near 0 and overflow).
    """
    generator = torch.Generator().manual_seed(seed)

    def draw(shape: torch.Size) -> torch.Tensor:
        return torch.randn(shape, generator=generator)

    for name, tensor in model.state_dict().items():
        if name.endswith(("weight_u", "weight_v")):
            tensor.copy_(F.normalize(draw(tensor.shape), dim=0))
        elif name.endswith("sigma"):
            tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
        elif tensor.is_floating_point() and not name.endswith(("running_mean", "running_var")):
            scale = 1.0 / tensor[0].numel() ** 0.5 if tensor.dim() > 1 else 0.2
            tensor.copy_(scale * draw(tensor.shape))
    model.train()
    s = model.s
    labels = torch.arange(2) % s["num_classes"] if s["g_cond_mtd"] == "cBN" else None
    for _ in range(2):
        model(draw(torch.Size([2, s["z_dim"]])), labels)
    for name, tensor in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            tensor.fill_(7)
        elif name.endswith("running_var"):
            tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
        elif name.endswith("running_mean"):
            tensor.copy_(0.1 * draw(tensor.shape))
    return model.eval()


def write_yaml(folder: Path, s: dict[str, Any], name: str = "run.yaml") -> Path:
    """The run's YAML as StudioGAN configs write it: only DATA and MODEL keys that differ matter here."""
    lines = ["DATA:", f'  name: "{s["dataset"]}"', f"  img_size: {s['img_size']}", f"  num_classes: {s['num_classes']}"]
    lines += ["MODEL:", f'  backbone: "{s["backbone"]}"', f'  g_cond_mtd: "{s["g_cond_mtd"]}"']
    lines += [f"  apply_g_sn: {s['apply_g_sn']}", f'  g_act_fn: "{s["g_act_fn"]}"', f"  apply_attn: {s['apply_attn']}"]
    lines += [f"  attn_g_loc: {list(s['attn_g_loc'])}", f"  z_dim: {s['z_dim']}", f"  g_conv_dim: {s['g_conv_dim']}"]
    for key in ("g_shared_dim", "g_depth"):
        if s.get(key) is not None:
            lines.append(f"  {key}: {s[key]}")
    lines += ["LOSS:", '  adv_loss: "hinge"', "OPTIMIZATION:", "  batch_size: 64"]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def save_generator(model: nn.Module, path: Path, prefix: str = "") -> Path:
    """As StudioGAN's `save`: {"state_dict": …, "optimizer": …} (an optimiser state of plain values)."""
    state = {prefix + key: tensor.clone() for key, tensor in model.state_dict().items()}
    torch.save(
        {"state_dict": state, "optimizer": {"state": {}, "param_groups": [{"lr": 2e-4, "params": [0, 1]}]}}, path
    )
    return path
