"""What capture by interception costs: a forward pass with it against the same forward pass without.

    .venv/bin/python -m benchmarks.bench_capture [--rounds 30] [--threads 2]

Three generators, batch 1 in inference mode on the CPU, as the server runs them:

- softmax module: the shipped emoji SAGAN-64 (two `nn.Softmax` attention layers, 16×16 and 32×32);
- inline softmax: a BigGAN-PyTorch-style generator to 64×64 with `F.softmax(torch.bmm(θᵀ, φ))` and
  2×2-pooled keys at 32×32, written here;
- fused attention: `docs/examples/token_generator.py` (four SDPA layers, 4 heads), where the map
  computed on the side is the cost.

The emoji model is measured twice: as the server captures it (forward hooks on its `nn.Softmax`
modules, the path `LoadedModel` takes when every layer is one of ours) and by interception.

Each round runs every model once plain and once inside its capture, back to back in
alternating order, so drift in the machine's speed falls on both. Reported: median milliseconds of
each, and the overhead as the median over rounds of (with capture / plain − 1), pair by pair, which
a busy machine disturbs less than a ratio of medians.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import itertools
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from app.resources import DEFAULT_CHECKPOINT
from models.capture import AttentionCapture, attention_layer_names
from models.interception import InterceptedCapture
from models.registry import load
from models.sagan import sample_latents

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "token_generator.py"


class InlineAttention(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.theta = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.phi = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.g = nn.Conv2d(channels, channels // 2, 1, bias=False)
        self.o = nn.Conv2d(channels // 2, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.tensor(0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        theta = self.theta(x).view(batch, channels // 8, -1)  # (B, C/8, N)
        phi = F.max_pool2d(self.phi(x), 2).view(batch, channels // 8, -1)  # (B, C/8, N/4)
        g = F.max_pool2d(self.g(x), 2).view(batch, channels // 2, -1)  # (B, C/2, N/4)
        beta = F.softmax(torch.bmm(theta.transpose(1, 2), phi), -1)  # (B, N, N/4)
        return x + self.gamma * self.o(torch.bmm(g, beta.transpose(1, 2)).view(batch, channels // 2, height, width))


class InlineGenerator(nn.Module):
    """z → 4×4 → four upsampling conv blocks to 64×64, attention at 32×32."""

    def __init__(self, z_dim: int = 128, width: int = 64) -> None:
        super().__init__()
        self.width = width
        self.linear = nn.Linear(z_dim, 4 * 4 * 4 * width)
        widths = [4 * width, 2 * width, width, width, width // 2]
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(a), nn.ReLU(), nn.Upsample(scale_factor=2), nn.Conv2d(a, b, 3, padding=1))
            for a, b in itertools.pairwise(widths)
        )
        self.attention = InlineAttention(width)
        self.to_rgb = nn.Conv2d(width // 2, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.linear(z).view(z.shape[0], 4 * self.width, 4, 4)
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index == 2:  # 32×32
                x = self.attention(x)
        return torch.tanh(self.to_rgb(x))


def _example() -> nn.Module:
    spec = importlib.util.spec_from_file_location("token_generator", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module.build(heads=4).module


def models() -> dict[str, tuple[nn.Module, tuple[Any, ...], Callable[[], Any]]]:
    """Name → (generator, its forward's arguments, a capture to enter around its forward pass)."""
    sagan = load(DEFAULT_CHECKPOINT).module
    torch.manual_seed(0)
    inline = InlineGenerator().eval()
    example = _example()
    sagan_inputs = (
        sample_latents([1], sagan.config.z_dim),
        torch.zeros(1, dtype=torch.long) if sagan.config.conditional else None,
    )
    hooked = functools.partial(AttentionCapture, sagan, attention_layer_names(sagan))
    return {
        "softmax module (emoji SAGAN-64), as served: hooks on its nn.Softmax": (sagan, sagan_inputs, hooked),
        "softmax module (emoji SAGAN-64), by interception": (
            sagan,
            sagan_inputs,
            functools.partial(InterceptedCapture, sagan),
        ),
        "inline softmax (BigGAN-PyTorch style, 64×64)": (
            inline,
            (torch.randn(1, 128),),
            functools.partial(InterceptedCapture, inline),
        ),
        "fused attention (docs/examples token generator)": (
            example,
            (torch.randn(1, 32),),
            functools.partial(InterceptedCapture, example),
        ),
    }


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def measure(rounds: int) -> dict[str, tuple[float, float, float]]:
    chosen = models()
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in chosen}

    def plain(module: nn.Module, inputs: tuple[Any, ...], capture: Callable[[], Any]) -> None:
        module(*inputs)

    def captured(module: nn.Module, inputs: tuple[Any, ...], capture: Callable[[], Any]) -> None:
        with capture() as active:
            module(*inputs)
        assert active.maps if isinstance(active, AttentionCapture) else active.layers

    with torch.inference_mode():
        for module, inputs, capture in chosen.values():  # warm-up
            plain(module, inputs, capture)
            captured(module, inputs, capture)
        for round_index in range(rounds):
            for name, (module, inputs, capture) in chosen.items():
                order = (plain, captured) if round_index % 2 == 0 else (captured, plain)
                for run in order:
                    times[name][run is captured].append(_timed(functools.partial(run, module, inputs, capture)))
    return {
        name: (
            statistics.median(without),
            statistics.median(with_),
            statistics.median(b / a - 1 for a, b in zip(without, with_, strict=True)),
        )
        for name, (without, with_) in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds per model")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (the server's default)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = measure(args.rounds)
    print(f"{args.rounds} interleaved rounds, batch 1, {args.threads} torch threads, CPU, torch {torch.__version__}")
    print("| generator | plain forward (ms) | with capture (ms) | overhead |")
    print("|---|---|---|---|")
    for name, (without, with_, overhead) in results.items():
        print(f"| {name} | {without:.2f} | {with_:.2f} | {100 * overhead:+.1f} % |")


if __name__ == "__main__":
    main()
