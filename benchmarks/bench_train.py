"""Benchmark of one training step (D update + G update) per recipe, as a ratio to the reference recipe.

    .venv/bin/python -m benchmarks.bench_train [--batch-size 32] [--rounds 5] [--steps-per-round 4]

Every configuration is built once with random weights on a random batch, then they take turns:
each round times `steps-per-round` steps of every configuration in turn, so a load change on the
machine hits all of them alike. Prints one markdown table: median seconds per step, steps/s and the
ratio of steps/s to the reference recipe's, all from this run.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import time

import torch

from models.data import EMOJI_CATEGORIES
from models.train import build_models, model_config, train_step
from models.train_options import TrainOptions

REFERENCE = TrainOptions(
    attn_key_pool=1, shared_forward=False, fused_attention=False, channels_last=False, g_blocks="transposed"
)
FAST_STEP = TrainOptions(g_blocks="transposed")
CONFIGURATIONS = {
    "reference recipe (full N×N keys, two G forwards)": REFERENCE,
    "+ fused attention in training": dataclasses.replace(REFERENCE, fused_attention=True),
    "+ keys pooled 2×2": dataclasses.replace(REFERENCE, attn_key_pool=2),
    "+ pooled + channels_last": dataclasses.replace(REFERENCE, attn_key_pool=2, channels_last=True),
    "+ pooled + channels_last + fused": dataclasses.replace(
        REFERENCE, attn_key_pool=2, channels_last=True, fused_attention=True
    ),
    "fast step: pooled + channels_last + fused + one G forward": FAST_STEP,
    "fast step with G twice as wide (64)": dataclasses.replace(FAST_STEP, g_conv_dim=64),
    "default (the shipped recipe): fast step + residual G blocks": TrainOptions(),
    "default + class-conditional (cBN in G, projection D)": TrainOptions(conditional=True),
}


class Subject:
    def __init__(self, options: TrainOptions, batch_size: int) -> None:
        self.options = options
        torch.manual_seed(0)
        self.models = build_models(model_config(options), options, torch.device("cpu"))
        memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
        self.real = (torch.rand(batch_size, 3, 64, 64) * 2 - 1).contiguous(memory_format=memory_format)
        self.classes = torch.arange(batch_size) % len(EMOJI_CATEGORIES) if options.conditional else None
        self.rng = torch.Generator().manual_seed(0)
        self.times: list[float] = []

    def run(self, steps: int, record: bool) -> None:
        for _ in range(steps):
            start = time.perf_counter()
            train_step(self.models, self.real, self.rng, self.options, self.classes)
            if record:
                self.times.append(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps-per-round", type=int, default=4)
    args = parser.parse_args()

    subjects = {name: Subject(options, args.batch_size) for name, options in CONFIGURATIONS.items()}
    for subject in subjects.values():
        subject.run(2, record=False)  # warm-up: allocator, kernels
    for _ in range(args.rounds):
        for subject in subjects.values():
            subject.run(args.steps_per_round, record=True)

    reference_rate = 1 / statistics.median(subjects[next(iter(subjects))].times)
    print(
        f"training step at batch {args.batch_size}, fp32, {torch.get_num_threads()} torch threads, "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), torch {torch.__version__}; "
        f"median of {args.rounds * args.steps_per_round} interleaved steps each\n"
    )
    print("| recipe | s/step | steps/s | × reference |")
    print("|---|---|---|---|")
    for name, subject in subjects.items():
        seconds = statistics.median(subject.times)
        print(f"| {name} | {seconds:.3f} | {1 / seconds:.2f} | {1 / seconds / reference_rate:.2f} |")


if __name__ == "__main__":
    main()
