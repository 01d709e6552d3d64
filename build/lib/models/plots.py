"""The training run's figure: losses, γ and, when measured, the quality score."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_training"]


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    return np.convolve(values, np.ones(window) / window, mode="valid") if len(values) >= window else values


def plot_training(history: list[dict[str, float]], quality: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [entry["step"] for entry in history]
    rows = 3 if quality else 2
    figure, axes = plt.subplots(rows, 1, figsize=(8, 3 * rows), sharex=True)
    loss_axis, gamma_axis = axes[0], axes[1]
    window = 50
    for key in ("d_loss", "g_loss"):
        smooth = _smooth(np.array([entry[key] for entry in history]), window)
        loss_axis.plot(steps[len(steps) - len(smooth) :], smooth, label=key)
    loss_axis.set_ylabel(f"hinge loss (mean of {window})")
    loss_axis.legend()
    for key in [k for k in history[-1] if k.startswith("gamma_")]:
        gamma_axis.plot(steps, [entry.get(key, 0.0) for entry in history], label=key)
    gamma_axis.set_ylabel("γ")
    gamma_axis.legend()
    if quality:
        quality_axis = axes[2]
        quality_steps = [entry["step"] for entry in quality]
        quality_axis.plot(quality_steps, [entry["frechet"] for entry in quality], marker="o", label="Fréchet distance")
        quality_axis.axhline(quality[-1]["blur_frechet"], color="grey", linestyle="--", label="real, blurred σ=2 px")
        quality_axis.axhline(quality[-1]["floor_frechet"], color="black", linestyle=":", label="real held-out")
        quality_axis.set_ylabel("classifier-feature distance")
        quality_axis.set_yscale("log")
        quality_axis.legend()
    axes[-1].set_xlabel("step")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
