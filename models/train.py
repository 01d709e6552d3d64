"""SAGAN training: hinge loss, TTUR Adam(β=(0, 0.9)), DiffAugment, and an EMA of G for sampling.

Runs as one process, or under `torchrun` with DistributedDataParallel (gloo on CPU, nccl on GPUs).
Every random draw of step s on rank r comes from a generator seeded by (seed, s, r), so a run with a
fixed seed repeats exactly, and a resumed run continues as if it had never stopped.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from PIL import Image
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from models.augment import diff_augment
from models.checkpoint import save_checkpoint
from models.data import DatasetInfo, load_dataset
from models.sagan import Discriminator, Generator, SAGANConfig, generator_attention_layers

__all__ = ["TrainOptions", "train"]

log = logging.getLogger(__name__)

STATE_FILE = "train_state.pt"
MODEL_FILE = "model.pt"
SAMPLE_GRID_SEED = 1234
PRECISIONS = ("fp32", "bf16")
RESUME_MUST_MATCH = ("data", "batch_size", "seed", "g_lr", "d_lr", "ema_decay", "diff_augment")


@dataclass
class TrainOptions:
    data: str = "emoji"
    out_dir: Path = Path("runs/emoji")
    steps: int = 6000
    batch_size: int = 64  # global batch, split across processes
    g_conv_dim: int = 32
    d_conv_dim: int = 32
    z_dim: int = 128
    g_lr: float = 1e-4
    d_lr: float = 4e-4
    ema_decay: float = 0.999
    diff_augment: bool = True
    seed: int = 0
    sample_every: int = 250
    checkpoint_every: int = 250
    resume: bool = False
    # "bf16": forward passes under bfloat16 autocast (weights, optimiser and losses stay float32).
    # About twice as fast on CPUs with AVX512-BF16 or AMX. It may change between --resume sittings.
    precision: str = "fp32"


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Distributed:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available()
    if world_size == 1:
        return Distributed(device=torch.device("cuda" if use_cuda else "cpu"))
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    rank = dist.get_rank()
    device = torch.device("cpu")
    if use_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    return Distributed(rank, world_size, device)


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 4096 + rank)


def batch_indices(num_images: int, batch_size: int, step: int, seed: int, dist_info: Distributed) -> torch.Tensor:
    """This rank's share of step `step`'s global batch, walking a fresh permutation each epoch."""
    per_epoch = num_images // batch_size
    epoch, position = divmod(step, per_epoch)
    order = torch.randperm(num_images, generator=torch.Generator().manual_seed(seed * 7919 + epoch))
    batch = order[position * batch_size : (position + 1) * batch_size]
    return batch[dist_info.rank :: dist_info.world_size]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def has_native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 has hardware support: assumed on accelerators; on a CPU, AVX512-BF16 or AMX."""
    if device.type != "cpu":
        return True
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def describe_precision(segments: list[list[Any]], steps: int) -> str:
    """[[0, "fp32"], [12950, "bf16"]] and 20000 → "fp32 for steps 1–12950, bf16 autocast for steps 12951–20000"."""
    parts = []
    for index, (start, precision) in enumerate(segments):
        end = segments[index + 1][0] if index + 1 < len(segments) else steps
        if end > start:
            name = "fp32" if precision == "fp32" else f"{precision} autocast"
            parts.append(f"{name} for steps {start + 1}–{end}")
    return ", ".join(parts)


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1.0


def image_grid(images: torch.Tensor, columns: int = 8) -> Image.Image:
    """(B, 3, H, W) in [-1, 1] → one PIL image of `columns` per row with 2-pixel white gutters."""
    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    count, height, width, _ = pixels.shape
    rows = (count + columns - 1) // columns
    gutter = 2
    canvas = np.full((rows * (height + gutter) + gutter, columns * (width + gutter) + gutter, 3), 255, np.uint8)
    for index, image in enumerate(pixels):
        top = gutter + (index // columns) * (height + gutter)
        left = gutter + (index % columns) * (width + gutter)
        canvas[top : top + height, left : left + width] = image
    return Image.fromarray(canvas)


def update_ema(ema: torch.nn.Module, model: torch.nn.Module, step: int, decay: float) -> None:
    effective = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for ema_param, param in zip(ema.parameters(), model.parameters(), strict=True):
            ema_param.lerp_(param, 1 - effective)
        for ema_buffer, buffer in zip(ema.buffers(), model.buffers(), strict=True):
            ema_buffer.copy_(buffer)


def gammas(generator: Generator) -> dict[str, float]:
    return {
        layer.name: float(getattr(generator, layer.name).gamma.detach())
        for layer in generator_attention_layers(generator.config)
    }


def plot_losses(history: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [entry["step"] for entry in history]
    figure, (loss_axis, gamma_axis) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    window = 50
    for key in ("d_loss", "g_loss"):
        values = np.array([entry[key] for entry in history])
        smooth = np.convolve(values, np.ones(window) / window, mode="valid") if len(values) >= window else values
        loss_axis.plot(steps[len(steps) - len(smooth) :], smooth, label=key)
    loss_axis.set_ylabel(f"hinge loss (mean of {window})")
    loss_axis.legend()
    for key in [k for k in history[-1] if k.startswith("gamma_")]:
        gamma_axis.plot(steps, [entry.get(key, 0.0) for entry in history], label=key)
    gamma_axis.set_ylabel("γ")
    gamma_axis.set_xlabel("step")
    gamma_axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def save_training_state(path: Path, state: dict[str, Any]) -> None:
    partial_path = path.with_name(path.name + ".partial")
    torch.save(state, partial_path)
    partial_path.replace(path)


def train(options: TrainOptions) -> Path:
    """Train, writing samples, a loss plot, a resumable state and an exported model to `out_dir`."""
    if options.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {options.precision!r}")
    dist_info = setup_distributed()
    if options.precision == "bf16" and not has_native_bf16(dist_info.device) and dist_info.is_main:
        log.warning(
            "this CPU has neither AVX512-BF16 nor AMX, so bf16 autocast is emulated and usually slower than fp32"
        )
    out_dir = Path(options.out_dir)
    torch.manual_seed(options.seed)
    if options.batch_size % dist_info.world_size:
        raise ValueError(f"batch size {options.batch_size} must divide among {dist_info.world_size} processes")

    images, data_info = load_dataset(options.data)
    if len(images) < options.batch_size:
        raise ValueError(f"{len(images)} images are fewer than one batch of {options.batch_size}")
    config = SAGANConfig(z_dim=options.z_dim, g_conv_dim=options.g_conv_dim, d_conv_dim=options.d_conv_dim)
    generator = Generator(config).to(dist_info.device)
    discriminator = Discriminator(config).to(dist_info.device)
    generator_ema = copy.deepcopy(generator).eval()
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=options.g_lr, betas=(0.0, 0.9))
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=options.d_lr, betas=(0.0, 0.9))

    start_step = 0
    history: list[dict[str, float]] = []
    precision_segments: list[list[Any]] = [[0, options.precision]]
    state_path = out_dir / STATE_FILE
    if options.resume:
        if not state_path.exists():
            raise ValueError(f"--resume: {state_path} does not exist; start without --resume")
        state = torch.load(state_path, map_location=dist_info.device, weights_only=True)
        if state["config"] != config.to_dict():
            raise ValueError(f"{state_path} was trained with {state['config']}, not {config.to_dict()}")
        saved = state["options"]
        current = {k: str(v) for k, v in asdict(options).items()}
        changed = [key for key in RESUME_MUST_MATCH if saved.get(key) != current[key]]
        if changed:
            details = ", ".join(f"{key} was {saved.get(key)!r}, now {current[key]!r}" for key in changed)
            raise ValueError(f"--resume: {state_path} was trained differently: {details}")
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        generator_ema.load_state_dict(state["generator_ema"])
        g_optimizer.load_state_dict(state["g_optimizer"])
        d_optimizer.load_state_dict(state["d_optimizer"])
        start_step, history = state["step"], state["history"]
        precision_segments = state.get("precision_segments", [[0, "fp32"]])
        if precision_segments[-1][1] != options.precision:
            precision_segments.append([start_step, options.precision])
        if dist_info.is_main:
            log.info("resumed from %s at step %d", state_path, start_step)

    g_model: torch.nn.Module = generator
    d_model: torch.nn.Module = discriminator
    if dist_info.world_size > 1:
        device_ids = [dist_info.device.index] if dist_info.device.type == "cuda" else None
        g_model = DistributedDataParallel(generator, device_ids=device_ids)
        d_model = DistributedDataParallel(discriminator, device_ids=device_ids)

    if dist_info.is_main:
        (out_dir / "samples").mkdir(parents=True, exist_ok=True)
    fixed_z = torch.randn(64, config.z_dim, generator=torch.Generator().manual_seed(SAMPLE_GRID_SEED))
    local_batch = options.batch_size // dist_info.world_size
    progress = tqdm(
        range(start_step, options.steps),
        initial=start_step,
        total=options.steps,
        disable=not dist_info.is_main,
        dynamic_ncols=True,
    )
    for step in progress:
        rng = step_generator(options.seed, step, dist_info.rank)
        indices = batch_indices(len(images), options.batch_size, step, options.seed, dist_info)
        real = to_unit_range(images[indices]).to(dist_info.device)

        generator.train()
        with torch.no_grad(), autocast(dist_info.device, options.precision):
            fake = generator(torch.randn(local_batch, config.z_dim, generator=rng).to(dist_info.device)).float()
        d_input = torch.cat([real, fake])
        if options.diff_augment:
            d_input = diff_augment(d_input.cpu(), rng).to(dist_info.device)
        with autocast(dist_info.device, options.precision):
            scores = d_model(d_input).float()
        real_scores, fake_scores = scores.split([len(real), len(fake)])
        d_loss = F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()
        d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        d_optimizer.step()

        discriminator.requires_grad_(False)
        with autocast(dist_info.device, options.precision):
            fake = g_model(torch.randn(local_batch, config.z_dim, generator=rng).to(dist_info.device)).float()
        if options.diff_augment:
            fake = diff_augment(fake.cpu(), rng).to(dist_info.device)
        with autocast(dist_info.device, options.precision):
            g_loss = -discriminator(fake).float().mean()
        g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        g_optimizer.step()
        discriminator.requires_grad_(True)
        update_ema(generator_ema, generator, step, options.ema_decay)

        layer_gammas = gammas(generator)
        entry = {"step": step + 1, "d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach())}
        entry.update({f"gamma_{name}": value for name, value in layer_gammas.items()})
        history.append(entry)
        if dist_info.is_main:
            progress.set_postfix(
                d=f"{entry['d_loss']:.3f}",
                g=f"{entry['g_loss']:.3f}",
                **{f"γ{name[-1]}": f"{value:+.3f}" for name, value in layer_gammas.items()},
            )
        done = step + 1
        if dist_info.is_main and (done % options.sample_every == 0 or done == options.steps):
            with torch.no_grad():
                grid = image_grid(generator_ema(fixed_z.to(dist_info.device)))
            grid.save(out_dir / "samples" / f"step_{done:06d}.png")
            grid.save(out_dir / "samples" / "latest.png")
            plot_losses(history, out_dir / "losses.png")
        if dist_info.is_main and (done % options.checkpoint_every == 0 or done == options.steps):
            save_training_state(
                state_path,
                {
                    "config": config.to_dict(),
                    "options": {k: str(v) for k, v in asdict(options).items()},
                    "generator": generator.state_dict(),
                    "discriminator": discriminator.state_dict(),
                    "generator_ema": generator_ema.state_dict(),
                    "g_optimizer": g_optimizer.state_dict(),
                    "d_optimizer": d_optimizer.state_dict(),
                    "step": done,
                    "history": history,
                    "precision_segments": precision_segments,
                },
            )
            precision = describe_precision(precision_segments, done)
            export_model(
                out_dir / MODEL_FILE, config, generator_ema, discriminator, data_info, options, done, precision
            )
    if dist_info.world_size > 1:
        dist.barrier()
        dist.destroy_process_group()
    return out_dir / MODEL_FILE


def export_model(
    path: Path,
    config: SAGANConfig,
    generator_ema: Generator,
    discriminator: Discriminator,
    data_info: DatasetInfo,
    options: TrainOptions,
    steps: int,
    precision: str,
) -> None:
    augment = "DiffAugment colour+translation+cutout" if options.diff_augment else "no augmentation"
    training = {
        "steps": steps,
        "batch_size": options.batch_size,
        "recipe": f"hinge loss, Adam(0, 0.9), TTUR {options.g_lr:g}/{options.d_lr:g}, {augment}, "
        f"EMA {options.ema_decay:g}",
        "precision": precision,
        "data": data_info.name,
        "licence": data_info.licence,
        "attribution": data_info.attribution,
        "generator_weights": "exponential moving average of G",
    }
    save_checkpoint(path, config, generator_ema, discriminator, training)
