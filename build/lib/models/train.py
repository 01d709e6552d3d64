"""SAGAN training: hinge loss, TTUR Adam(β=(0, 0.9)), DiffAugment, and an EMA of G for sampling.

Runs as one process, or under `torchrun` with DistributedDataParallel. Every random draw of step s on
rank r comes from a generator seeded by (seed, s, r), so a run with a fixed seed repeats exactly, and a
resumed run continues as if it had never stopped.

By default a step runs G forward once: D learns from that batch (detached), then G from D's verdict
on the same batch. Training needs no attention map, so its attention layers may run the fused kernel;
the EMA generator that is exported and every capture use the explicit softmax.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from models.augment import diff_augment
from models.checkpoint import save_checkpoint
from models.data import Dataset, load_dataset
from models.devices import has_native_bf16, resolve_device
from models.distributed import Distributed, finish_distributed, setup_distributed
from models.files import save_atomic
from models.geometry import with_gammas
from models.imaging import image_grid, to_unit_range
from models.plots import plot_training
from models.quality import QualityMeter, evaluate_generator, load_or_train_classifier
from models.sagan import Discriminator, Generator, SAGANConfig, SelfAttention, generator_attention_layers
from models.train_options import TrainOptions, check_agreement, options_from_saved, options_to_saved

__all__ = ["TrainOptions", "describe_segments", "train"]

log = logging.getLogger(__name__)

STATE_FILE = "train_state.pt"
MODEL_FILE = "model.pt"
SAMPLE_GRID_SEED = 1234
PRECISIONS = ("fp32", "bf16")
BALANCES = ("image", "emoji")


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 4096 + rank)


def batch_indices(dataset: Dataset, options: TrainOptions, step: int, dist_info: Distributed) -> torch.Tensor:
    """This rank's share of step `step`'s global batch.

    "image": a fresh permutation each epoch, walked in order. "emoji": drawn with replacement, each
    image weighted by 1 / (images of its emoji), so every emoji is equally likely.
    """
    if options.balance == "emoji":
        _, inverse, counts = torch.unique(dataset.emoji_ids, return_inverse=True, return_counts=True)
        weights = 1.0 / counts[inverse].double()
        draw = torch.Generator().manual_seed(options.seed * 7919 + step)
        batch = torch.multinomial(weights, options.batch_size, replacement=True, generator=draw)
    else:
        per_epoch = len(dataset) // options.batch_size
        epoch, position = divmod(step, per_epoch)
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(options.seed * 7919 + epoch))
        batch = order[position * options.batch_size : (position + 1) * options.batch_size]
    return batch[dist_info.rank :: dist_info.world_size]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def describe_segments(segments: list[list[Any]], steps: int) -> str:
    """[[0, "fp32"], [12950, "bf16 autocast"]] and 20000 → "fp32 for steps 1–12950, bf16 autocast for steps 12951–20000"."""
    parts = []
    for index, (start, label) in enumerate(segments):
        end = segments[index + 1][0] if index + 1 < len(segments) else steps
        if end > start:
            parts.append(f"{label} for steps {start + 1}–{end}")
    return ", ".join(parts)


def precision_label(precision: str) -> str:
    return "fp32" if precision == "fp32" else f"{precision} autocast"


def update_ema(ema: torch.nn.Module, model: torch.nn.Module, step: int, decay: float) -> None:
    effective = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for ema_param, param in zip(ema.parameters(), model.parameters(), strict=True):
            ema_param.lerp_(param, 1 - effective)
        for ema_buffer, buffer in zip(ema.buffers(), model.buffers(), strict=True):
            ema_buffer.copy_(buffer)


def gammas(generator: Generator) -> dict[str, float]:
    return {layer.name: layer.gamma for layer in with_gammas(generator, generator_attention_layers(generator.config))}


def memory_format_of(options: TrainOptions) -> torch.memory_format:
    return torch.channels_last if options.channels_last else torch.contiguous_format


def check_options(options: TrainOptions) -> None:
    for name, value, allowed in (
        ("precision", options.precision, PRECISIONS),
        ("balance", options.balance, BALANCES),
    ):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    if options.evaluate_every < 0:
        raise ValueError(
            f"evaluate_every must be 0 (never) or a positive number of steps, not {options.evaluate_every}"
        )
    if options.evaluate_every and options.data != "emoji":
        raise ValueError("--evaluate-every needs the emoji data: its classifier knows the emoji categories")


def model_config(options: TrainOptions) -> SAGANConfig:
    return SAGANConfig(
        z_dim=options.z_dim,
        g_conv_dim=options.g_conv_dim,
        d_conv_dim=options.d_conv_dim,
        attn_key_pool=options.attn_key_pool,
        g_blocks=options.g_blocks,
    )


def use_fused_attention(module: torch.nn.Module, fused: bool = True) -> None:
    for layer in module.modules():
        if isinstance(layer, SelfAttention):
            layer.fused_in_training = fused


class QualityLog:
    """The quality score of the EMA generator every `evaluate_every` steps (emoji data only)."""

    def __init__(self, dataset: Dataset, options: TrainOptions) -> None:
        self.samples = options.evaluate_samples
        self.meter = QualityMeter(dataset, *load_or_train_classifier(dataset))

    def measure(self, generator_ema: Generator, step: int) -> dict[str, float]:
        report = evaluate_generator(generator_ema, self.meter, self.samples)
        return {
            "step": step,
            "samples": report.samples,
            "frechet": report.frechet,
            "kernel": report.kernel,
            "floor_frechet": report.floor_frechet,
            "blur_frechet": report.blur_frechet,
            "confidence": report.mean_confidence,
        }


def read_resume_state(state_path: Path, options: TrainOptions) -> dict[str, Any]:
    """The saved state of the run that `options` continue; `ValueError` if there is none or it differs."""
    if not state_path.exists():
        raise ValueError(f"--resume: {state_path} does not exist; start without --resume")
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    if state["step"] >= options.steps:
        raise ValueError(
            f"--resume: the run has done {state['step']} steps already; ask for more with --steps N (N > {state['step']})"
        )
    check_agreement(options_from_saved(state["options"]), dataclasses.asdict(options))
    return state


def stored_sittings(state: dict[str, Any]) -> list[list[Any]]:
    """[[first step, "fp32 on cpu"], ...]; states saved before devices were recorded trained on CPU."""
    if "sittings" in state:
        return state["sittings"]
    return [[start, f"{precision_label(precision)} on cpu"] for start, precision in state["precision_segments"]]


@dataclass
class StepModels:
    generator: Generator
    discriminator: Discriminator
    g_model: torch.nn.Module  # the generator, or its DistributedDataParallel wrapper
    d_model: torch.nn.Module
    g_optimizer: torch.optim.Optimizer
    d_optimizer: torch.optim.Optimizer


def train_step(
    models: StepModels, real: torch.Tensor, rng: torch.Generator, options: TrainOptions
) -> tuple[torch.Tensor, torch.Tensor]:
    """One D update and one G update on the batch `real` (B, 3, 64, 64) in [-1, 1]; returns both losses."""
    generator, discriminator = models.generator, models.discriminator
    device = real.device
    memory_format = memory_format_of(options)
    batch, z_dim = len(real), generator.config.z_dim

    def augment(images: torch.Tensor) -> torch.Tensor:
        if not options.diff_augment:
            return images
        return diff_augment(images, rng).contiguous(memory_format=memory_format)

    generator.train()
    if options.shared_forward:
        with autocast(device, options.precision):
            fake = models.g_model(torch.randn(batch, z_dim, generator=rng).to(device)).float()
        d_fake = fake.detach()
    else:
        with torch.no_grad(), autocast(device, options.precision):
            d_fake = generator(torch.randn(batch, z_dim, generator=rng).to(device)).float()
    with autocast(device, options.precision):
        scores = models.d_model(augment(torch.cat([real, d_fake]))).float()
    real_scores, fake_scores = scores.split([len(real), len(d_fake)])
    d_loss = F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()
    models.d_optimizer.zero_grad(set_to_none=True)
    d_loss.backward()
    models.d_optimizer.step()

    discriminator.requires_grad_(False)
    if not options.shared_forward:
        with autocast(device, options.precision):
            fake = models.g_model(torch.randn(batch, z_dim, generator=rng).to(device)).float()
    with autocast(device, options.precision):
        g_loss = -discriminator(augment(fake)).float().mean()
    models.g_optimizer.zero_grad(set_to_none=True)
    g_loss.backward()
    models.g_optimizer.step()
    discriminator.requires_grad_(True)
    return d_loss.detach(), g_loss.detach()


def build_models(config: SAGANConfig, options: TrainOptions, device: torch.device) -> StepModels:
    """G and D on `device` in the options' memory format and attention path, with their optimisers; no DDP."""
    memory_format = memory_format_of(options)
    generator = Generator(config).to(device, memory_format=memory_format)
    discriminator = Discriminator(config).to(device, memory_format=memory_format)
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=options.g_lr, betas=(0.0, 0.9))
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=options.d_lr, betas=(0.0, 0.9))
    use_fused_attention(generator, options.fused_attention)
    use_fused_attention(discriminator, options.fused_attention)
    return StepModels(generator, discriminator, generator, discriminator, g_optimizer, d_optimizer)


def train(options: TrainOptions) -> Path:
    """Train, writing samples, a plot, a resumable state and an exported model to `out_dir`."""
    check_options(options)
    out_dir = Path(options.out_dir)
    state_path = out_dir / STATE_FILE
    state = read_resume_state(state_path, options) if options.resume else None
    if state is None and state_path.exists():
        raise ValueError(f"{out_dir} holds a run already; continue it with --resume, or train into another --out")

    dist_info = setup_distributed(resolve_device(options.device))
    device = dist_info.device
    if options.precision == "bf16" and not has_native_bf16(device) and dist_info.is_main:
        log.warning(
            "this CPU has neither AVX512-BF16 nor AMX, so bf16 autocast is emulated and usually slower than fp32"
        )
    torch.manual_seed(options.seed)
    if options.batch_size % dist_info.world_size:
        raise ValueError(f"batch size {options.batch_size} must divide among {dist_info.world_size} processes")

    dataset = load_dataset(options.data)
    if len(dataset) < options.batch_size:
        raise ValueError(f"{len(dataset)} images are fewer than one batch of {options.batch_size}")
    config = model_config(options)
    memory_format = memory_format_of(options)
    step_models = build_models(config, options, device)
    generator, discriminator = step_models.generator, step_models.discriminator
    g_optimizer, d_optimizer = step_models.g_optimizer, step_models.d_optimizer
    generator_ema = copy.deepcopy(generator).eval()
    use_fused_attention(generator_ema, False)

    start_step = 0
    history: list[dict[str, float]] = []
    quality_history: list[dict[str, float]] = []
    sitting = f"{precision_label(options.precision)} on {device.type}"
    sittings = [[0, sitting]]
    if state is not None:
        stored_config = SAGANConfig(**state["config"]).to_dict()
        if stored_config != config.to_dict():
            raise ValueError(f"{state_path} was trained with {stored_config}, not {config.to_dict()}")
        for module, key in (
            (generator, "generator"),
            (discriminator, "discriminator"),
            (generator_ema, "generator_ema"),
        ):
            module.load_state_dict(state[key])
        g_optimizer.load_state_dict(state["g_optimizer"])
        d_optimizer.load_state_dict(state["d_optimizer"])
        start_step, history = state["step"], state["history"]
        quality_history = state.get("quality_history", [])
        sittings = stored_sittings(state)
        if sittings[-1][1] != sitting:
            sittings.append([start_step, sitting])
        if dist_info.is_main:
            log.info("resumed from %s at step %d", state_path, start_step)

    if dist_info.world_size > 1:
        device_ids = [device.index] if device.type == "cuda" else None
        step_models.g_model = DistributedDataParallel(generator, device_ids=device_ids)
        step_models.d_model = DistributedDataParallel(discriminator, device_ids=device_ids)

    quality_log = None
    if dist_info.is_main:
        (out_dir / "samples").mkdir(parents=True, exist_ok=True)
        if options.evaluate_every:
            quality_log = QualityLog(dataset, options)
    fixed_z = torch.randn(64, config.z_dim, generator=torch.Generator().manual_seed(SAMPLE_GRID_SEED))
    progress = tqdm(
        range(start_step, options.steps),
        initial=start_step,
        total=options.steps,
        disable=not dist_info.is_main,
        dynamic_ncols=True,
    )

    for step in progress:
        rng = step_generator(options.seed, step, dist_info.rank)
        indices = batch_indices(dataset, options, step, dist_info)
        real = to_unit_range(dataset.images[indices]).to(device, memory_format=memory_format)
        d_loss, g_loss = train_step(step_models, real, rng, options)
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
        if not dist_info.is_main:
            continue
        if quality_log is not None and (done % options.evaluate_every == 0 or done == options.steps):
            quality_history.append(quality_log.measure(generator_ema, done))
            log.info("step %d: Fréchet distance %.2f", done, quality_history[-1]["frechet"])
        if done % options.sample_every == 0 or done == options.steps:
            with torch.no_grad():
                grid = image_grid(generator_ema.eval()(fixed_z.to(device)))
            grid.save(out_dir / "samples" / f"step_{done:06d}.png")
            grid.save(out_dir / "samples" / "latest.png")
            plot_training(history, quality_history, out_dir / "losses.png")
        if done % options.checkpoint_every == 0 or done == options.steps:
            save_atomic(
                {
                    "config": config.to_dict(),
                    "options": options_to_saved(options),
                    "generator": generator.state_dict(),
                    "discriminator": discriminator.state_dict(),
                    "generator_ema": generator_ema.state_dict(),
                    "g_optimizer": g_optimizer.state_dict(),
                    "d_optimizer": d_optimizer.state_dict(),
                    "step": done,
                    "history": history,
                    "quality_history": quality_history,
                    "sittings": sittings,
                },
                state_path,
            )
            export_model(out_dir / MODEL_FILE, config, generator_ema, discriminator, dataset, options, done, sittings)
    finish_distributed(dist_info)
    return out_dir / MODEL_FILE


def export_model(
    path: Path,
    config: SAGANConfig,
    generator_ema: Generator,
    discriminator: Discriminator,
    dataset: Dataset,
    options: TrainOptions,
    steps: int,
    sittings: list[list[Any]],
) -> None:
    augment = "DiffAugment colour+translation+cutout" if options.diff_augment else "no augmentation"
    balance = ", balanced by emoji" if options.balance == "emoji" else ""
    training = {
        "steps": steps,
        "batch_size": options.batch_size,
        "recipe": f"hinge loss, Adam(0, 0.9), TTUR {options.g_lr:g}/{options.d_lr:g}, {augment}, "
        f"EMA {options.ema_decay:g}{balance}",
        "precision": describe_segments(sittings, steps),
        "devices": ", ".join(dict.fromkeys(label.rsplit(" on ", 1)[-1] for _, label in sittings)),
        "data": dataset.info.name,
        "licence": dataset.info.licence,
        "attribution": dataset.info.attribution,
        "generator_weights": "exponential moving average of G",
    }
    save_checkpoint(path, config, generator_ema, discriminator, training)
