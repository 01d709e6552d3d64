"""BigGAN.py and BigGANdeep.py generators in ajbrock/BigGAN-PyTorch's layout, written here for the tests.

Written from the reference's parameter names and eval-mode semantics, independently of
`models.biggan_pytorch`: SN layers hold `weight`, `bias`, `u{i}`, `sv{i}` and divide the weight by
‖W v‖, v = Wᵀu0/‖Wᵀu0‖ (one power iteration from u0, never sv0); conditional batch norms hold
`stored_mean`, `stored_var` and SN-linear `gain`/`bias`; attention computes its softmax inline
and keeps the map it made, so a test can compare against it. `save_run` writes the real folder
format: `G_ema.pth` (or `G.pth`), a raw state dict, and `state_dict.pth` holding the argument dict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

STAGE_CHANNELS = {  # the reference's G_arch: per resolution, stage (in, out) multipliers of G_ch
    32: [(4, 4), (4, 4), (4, 4)],
    64: [(16, 16), (16, 8), (8, 4), (4, 2)],
}


class SNMixin:
    def init_sn(self, out: int, num_svs: int, eps: float) -> None:
        self.eps = eps
        self.num_svs = num_svs
        for i in range(num_svs):
            self.register_buffer(f"u{i}", torch.randn(1, out))  # type: ignore[attr-defined]
            self.register_buffer(f"sv{i}", torch.ones(1))  # type: ignore[attr-defined]

    def sn_weight(self) -> torch.Tensor:
        weight = self.weight  # type: ignore[attr-defined]
        matrix = weight.reshape(weight.shape[0], -1)
        v = matrix.t() @ self.u0[0]  # type: ignore[attr-defined]
        v = v / v.norm().clamp_min(self.eps)
        return weight / (matrix @ v).norm()


class RefSNConv(nn.Conv2d, SNMixin):
    def __init__(self, cin: int, cout: int, k: int, bias: bool, num_svs: int, eps: float) -> None:
        nn.Conv2d.__init__(self, cin, cout, k, padding=k // 2, bias=bias)
        self.init_sn(cout, num_svs, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.sn_weight(), self.bias, padding=self.padding)


class RefSNLinear(nn.Linear, SNMixin):
    def __init__(self, fin: int, fout: int, bias: bool, num_svs: int, eps: float) -> None:
        nn.Linear.__init__(self, fin, fout, bias=bias)
        self.init_sn(fout, num_svs, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.sn_weight(), self.bias)


class RefCCBN(nn.Module):
    def __init__(self, channels: int, cond: int, eps: float, sn: dict[str, Any]) -> None:
        super().__init__()
        self.gain = RefSNLinear(cond, channels, False, **sn)
        self.bias = RefSNLinear(cond, channels, False, **sn)
        self.eps = eps
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        normed = (x - self.stored_mean[None, :, None, None]) / torch.sqrt(
            self.stored_var[None, :, None, None] + self.eps
        )
        return normed * (1 + self.gain(y))[:, :, None, None] + self.bias(y)[:, :, None, None]


class RefBN(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.stored_mean, self.stored_var, self.gain, self.bias, False, 0.1, 1e-5)


class RefGBlock(nn.Module):
    def __init__(self, cin: int, cout: int, cond: int, bn_eps: float, sn: dict[str, Any]) -> None:
        super().__init__()
        self.conv1 = RefSNConv(cin, cout, 3, True, **sn)
        self.conv2 = RefSNConv(cout, cout, 3, True, **sn)
        self.conv_sc = RefSNConv(cin, cout, 1, True, **sn)
        self.bn1 = RefCCBN(cin, cond, bn_eps, sn)
        self.bn2 = RefCCBN(cout, cond, bn_eps, sn)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2)
        x = F.interpolate(x, scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.conv_sc(x)


class RefDeepGBlock(nn.Module):
    def __init__(self, cin: int, cout: int, cond: int, bn_eps: float, sn: dict[str, Any], upsample: bool) -> None:
        super().__init__()
        hidden = cin // 4
        self.cout, self.upsample = cout, upsample
        self.conv1 = RefSNConv(cin, hidden, 1, True, **sn)
        self.conv2 = RefSNConv(hidden, hidden, 3, True, **sn)
        self.conv3 = RefSNConv(hidden, hidden, 3, True, **sn)
        self.conv4 = RefSNConv(hidden, cout, 1, True, **sn)
        self.bn1 = RefCCBN(cin, cond, bn_eps, sn)
        self.bn2 = RefCCBN(hidden, cond, bn_eps, sn)
        self.bn3 = RefCCBN(hidden, cond, bn_eps, sn)
        self.bn4 = RefCCBN(hidden, cond, bn_eps, sn)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(self.bn1(x, y)))
        h = F.relu(self.bn2(h, y))
        x = x[:, : self.cout]
        if self.upsample:
            h, x = F.interpolate(h, scale_factor=2), F.interpolate(x, scale_factor=2)
        h = self.conv3(F.relu(self.bn3(self.conv2(h), y)))
        return self.conv4(F.relu(self.bn4(h, y))) + x


class RefAttention(nn.Module):
    def __init__(self, ch: int, sn: dict[str, Any]) -> None:
        super().__init__()
        self.ch = ch
        self.theta = RefSNConv(ch, ch // 8, 1, False, **sn)
        self.phi = RefSNConv(ch, ch // 8, 1, False, **sn)
        self.g = RefSNConv(ch, ch // 2, 1, False, **sn)
        self.o = RefSNConv(ch // 2, ch, 1, False, **sn)
        self.gamma = nn.Parameter(torch.tensor(0.0))
        self.last_map: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        theta = self.theta(x).reshape(b, self.ch // 8, h * w)
        phi = F.max_pool2d(self.phi(x), 2).reshape(b, self.ch // 8, h * w // 4)
        g = F.max_pool2d(self.g(x), 2).reshape(b, self.ch // 2, h * w // 4)
        beta = F.softmax(theta.transpose(1, 2) @ phi, dim=-1)
        self.last_map = beta
        return x + self.gamma * self.o((g @ beta.transpose(1, 2)).reshape(b, self.ch // 2, h, w))


class RefGenerator(nn.Module):
    """Built from a run's argument dict like the reference's `Generator(**config)` (SN, shared, bn)."""

    def __init__(self, run: dict[str, Any]) -> None:
        super().__init__()
        self.deep = run["model"] == "BigGANdeep"
        ch, depth = run["G_ch"], run.get("G_depth", 1) if self.deep else 1
        stages = STAGE_CHANNELS[run["resolution"]]
        sn = {"num_svs": run["num_G_SVs"], "eps": run["SN_eps"]}
        self.hier = run["hier"]
        self.dim_z = run["dim_z"]
        shared_dim = run["shared_dim"] or self.dim_z
        self.chunk = 0
        if self.hier and not self.deep:
            self.chunk = self.dim_z // (len(stages) + 1)
            self.dim_z = self.chunk * (len(stages) + 1)
        cond = shared_dim + (self.dim_z if self.deep else self.chunk)
        wanted = [int(part) for part in run["G_attn"].split("_")]
        self.shared = nn.Embedding(run["n_classes"], shared_dim)
        fin = self.dim_z + shared_dim if self.deep else (self.chunk or self.dim_z)
        self.linear = RefSNLinear(fin, stages[0][0] * ch * 16, True, **sn)
        blocks: list[list[nn.Module]] = []
        self.stage_of: list[int] = []
        for index, (cin, cout) in enumerate(stages):
            for d in range(depth):
                if self.deep:
                    out = cin if d == 0 else cout
                    blocks.append([RefDeepGBlock(cin * ch, out * ch, cond, run["BN_eps"], sn, d == depth - 1)])
                else:
                    blocks.append([RefGBlock(cin * ch, cout * ch, cond, run["BN_eps"], sn)])
                self.stage_of.append(index)
            if 8 * 2**index in wanted:
                blocks[-1].append(RefAttention(cout * ch, sn))
        self.blocks = nn.ModuleList([nn.ModuleList(block) for block in blocks])
        last = stages[-1][1] * ch
        self.output_layer = nn.Sequential(RefBN(last), nn.ReLU(), RefSNConv(last, 3, 3, True, **sn))

    def forward(self, z: torch.Tensor, classes: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        y = self.shared(classes)
        if self.deep:
            z = torch.cat([y, z], 1)
            ys = [z] * len(self.blocks)
        elif self.hier:
            zs = torch.split(z, self.chunk, 1)
            z = zs[0]
            ys = [torch.cat([y, item], 1) for item in zs[1:]]
        else:
            ys = [y] * len(self.blocks)
        h = self.linear(z).view(z.shape[0], -1, 4, 4)
        maps = []
        for stage, blocklist in zip(self.stage_of, self.blocks, strict=True):
            h = blocklist[0](h, ys[stage])
            for attention in blocklist[1:]:
                h = attention(h)
                maps.append(attention.last_map)
        return torch.tanh(self.output_layer(h)), maps


def randomise(model: nn.Module, seed: int) -> None:
    """Non-trivial weights: every parameter and buffer, u0 unconverged, sv0 a value no σ equals."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            leaf = name.rsplit(".", 1)[-1]
            noise = torch.randn(tensor.shape, generator=generator)
            if leaf == "stored_var":
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            elif leaf.startswith("sv"):
                tensor.fill_(37.0)
            elif leaf == "gamma":
                tensor.fill_(0.8)
            elif leaf in ("stored_mean", "bias") or leaf.startswith("u"):
                tensor.copy_(0.2 * noise if leaf != "u0" else noise)
            else:
                tensor.copy_(noise)


def run_config(**overrides: Any) -> dict[str, Any]:
    """An argument dict as train.py stores it: many unrelated settings, and nn.ReLU objects."""
    run: dict[str, Any] = {
        "model": "BigGAN", "dataset": "I32", "resolution": 32, "n_classes": 5, "G_ch": 4, "G_depth": 1,
        "dim_z": 18, "shared_dim": 8, "hier": True, "G_shared": True, "G_attn": "16_32", "G_param": "SN",
        "norm_style": "bn", "BN_eps": 0.03, "SN_eps": 1e-6, "num_G_SVs": 1, "num_G_SV_itrs": 1,
        "cross_replica": False, "mybn": False, "G_nl": "inplace_relu", "G_lr": 1e-4, "ema": True,
        "G_activation": nn.ReLU(inplace=True), "D_activation": nn.ReLU(inplace=False), "D_attn": "64",
        "weights_root": "weights", "experiment_name": "", "seed": 0,
    }  # fmt: skip
    run.update(overrides)
    return run


def save_run(model: RefGenerator, run: dict[str, Any], folder: Path, weights_name: str = "G_ema.pth") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / weights_name)
    torch.save({"itr": 1234, "epoch": 5, "save_num": 0, "best_IS": 0, "best_FID": 999999, "config": run},
               folder / "state_dict.pth")  # fmt: skip
    return folder
