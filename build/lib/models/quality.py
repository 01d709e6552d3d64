"""Sample quality of an emoji generator, measured in the features of a small emoji classifier.

No Inception weights can be fetched here, so the feature space is our own: a small CNN trained once,
reproducibly, to tell the nine `emoji.json` categories apart (`EmojiClassifier`). Its 256 pooled
features stand in for Inception's, and two distances are computed in them:

- Fréchet distance: ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^½ Σ₂ Σ₁^½)^½), the formula of FID.
- Kernel distance (KID-style): the unbiased MMD² with the kernel k(x, y) = (xᵀy / d + 1)³, averaged
  over subsets, reported × 1000.

The reference set is the classifier's training split (80 % of the emoji, all variants and both vendors
of an emoji on one side). Beside a generator's scores sit two yardsticks measured the same way: the
held-out 20 % of real emoji (the floor: what a perfect generator would score) and the held-out images
blurred with a Gaussian of σ = 2 px.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from models.data import EMOJI_CATEGORIES, NO_CATEGORY, Dataset
from models.files import save_atomic
from models.imaging import to_unit_range
from models.sagan import sample_latents

__all__ = [
    "CLASSIFIER_FILE",
    "EmojiClassifier",
    "QualityReport",
    "evaluate_generator",
    "format_report",
    "format_targets",
    "frechet_distance",
    "kernel_distance",
    "load_or_train_classifier",
]

log = logging.getLogger(__name__)

CLASSIFIER_FILE = Path(__file__).with_name("emoji_classifier.pt")
CLASSIFIER_FORMAT = "sagan-attn-emoji-classifier/1"
HELD_OUT_EVERY = 5  # emoji whose index is a multiple of this are held out
FEATURES = 256


class EmojiClassifier(nn.Module):
    """(B, 3, 64, 64) in [-1, 1] → 256 pooled features → logits over the nine emoji categories.

    Four stages of (3×3 conv, 3×3 conv with stride 2), each with batch norm and ReLU: 64 → 4 px.
    """

    def __init__(self, categories: int = len(EMOJI_CATEGORIES)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in (32, 64, 128, FEATURES):
            layers += [
                nn.Conv2d(channels, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.Conv2d(width, width, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
            ]
            channels = width
        self.body = nn.Sequential(*layers)  # (B, 256, 4, 4)
        self.head = nn.Linear(FEATURES, categories)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images).mean(dim=(2, 3))  # (B, 256)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))  # (B, categories)


def held_out_mask(dataset: Dataset) -> torch.Tensor:
    """(N,) bool: the held-out split, chosen by emoji so no drawing of a held-out emoji is trained on."""
    return dataset.emoji_ids % HELD_OUT_EVERY == 0


def _shift(images: torch.Tensor, generator: torch.Generator, limit: int = 4) -> torch.Tensor:
    dy, dx = torch.randint(-limit, limit + 1, (2,), generator=generator).tolist()
    return torch.roll(images, shifts=(dy, dx), dims=(2, 3))


def train_classifier(
    dataset: Dataset, epochs: int = 8, seed: int = 0, batch_size: int = 128
) -> tuple[EmojiClassifier, float]:
    """Train on the labelled training split, class-balanced; return the model and its held-out accuracy."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    labelled = dataset.categories != NO_CATEGORY
    train_mask = labelled & ~held_out_mask(dataset)
    images, labels = dataset.images[train_mask], dataset.categories[train_mask]
    counts = torch.bincount(labels, minlength=len(EMOJI_CATEGORIES)).clamp_min(1)
    sample_weights = (1.0 / counts.double())[labels]
    model = EmojiClassifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps_per_epoch = max(1, len(images) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=epochs * steps_per_epoch)
    model.train()
    for _ in range(epochs):
        for _ in range(steps_per_epoch):
            batch = torch.multinomial(sample_weights, batch_size, replacement=True, generator=generator)
            inputs = _shift(to_unit_range(images[batch]), generator)
            loss = F.cross_entropy(model(inputs), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    test_mask = labelled & held_out_mask(dataset)
    with torch.inference_mode():
        predictions = _batched(model, to_unit_range(dataset.images[test_mask])).argmax(-1)
    accuracy = float((predictions == dataset.categories[test_mask]).float().mean())
    return model, accuracy


def _batched(function: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, size: int = 256) -> torch.Tensor:
    return torch.cat([function(images[start : start + size]) for start in range(0, len(images), size)])


def load_or_train_classifier(dataset: Dataset, path: Path | None = None) -> tuple[EmojiClassifier, float]:
    """The classifier at `path` (default: the shipped one), or one trained now and saved there."""
    path = path or CLASSIFIER_FILE
    if path.exists():
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("format") == CLASSIFIER_FORMAT:
            model = EmojiClassifier()
            model.load_state_dict(payload["state"])
            return model.eval(), float(payload["held_out_accuracy"])
    log.info("training the emoji classifier once; it is saved to %s", path)
    model, accuracy = train_classifier(dataset)
    save_classifier(model, accuracy, dataset, path)
    return model, accuracy


def save_classifier(model: EmojiClassifier, accuracy: float, dataset: Dataset, path: Path) -> None:
    payload = {
        "format": CLASSIFIER_FORMAT,
        "state": model.state_dict(),
        "held_out_accuracy": accuracy,
        "data": dataset.info.name,
        "categories": list(EMOJI_CATEGORIES),
    }
    save_atomic(payload, path)


def _mean_and_covariance(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    features = features.double()
    mean = features.mean(0)
    centred = features - mean
    return mean, centred.T @ centred / (len(features) - 1)


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(first: torch.Tensor, second: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two (N, d) feature sets."""
    mean_1, cov_1 = _mean_and_covariance(first)
    mean_2, cov_2 = _mean_and_covariance(second)
    root_1 = _psd_sqrt(cov_1)
    cross = _psd_sqrt(root_1 @ cov_2 @ root_1)  # (Σ₁^½ Σ₂ Σ₁^½)^½, same trace as (Σ₁Σ₂)^½
    return float((mean_1 - mean_2).square().sum() + cov_1.trace() + cov_2.trace() - 2 * cross.trace())


def kernel_distance(first: torch.Tensor, second: torch.Tensor, subsets: int = 20, subset_size: int = 500) -> float:
    """Unbiased MMD² with the cubic polynomial kernel, averaged over random subsets, × 1000."""
    generator = torch.Generator().manual_seed(0)
    first, second = first.double(), second.double()
    size = min(subset_size, len(first), len(second))
    dimension = first.shape[1]
    total = 0.0
    for _ in range(subsets):
        x = first[torch.randperm(len(first), generator=generator)[:size]]
        y = second[torch.randperm(len(second), generator=generator)[:size]]
        k_xx = (x @ x.T / dimension + 1) ** 3
        k_yy = (y @ y.T / dimension + 1) ** 3
        k_xy = (x @ y.T / dimension + 1) ** 3
        off_diagonal = size * (size - 1)
        total += float(
            (k_xx.sum() - k_xx.diagonal().sum()) / off_diagonal
            + (k_yy.sum() - k_yy.diagonal().sum()) / off_diagonal
            - 2 * k_xy.mean()
        )
    return 1000 * total / subsets


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, 3, H, W) blurred per channel; edges replicate."""
    radius = math.ceil(3 * sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-offsets.square() / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).to(images.dtype)
    channels = images.shape[1]
    horizontal = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    vertical = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    padded = F.pad(images, (radius, radius, radius, radius), mode="replicate")
    return F.conv2d(F.conv2d(padded, horizontal, groups=channels), vertical, groups=channels)


@dataclass(frozen=True)
class QualityReport:
    samples: int
    frechet: float
    kernel: float
    floor_frechet: float  # held-out real images vs the reference set
    floor_kernel: float
    blur_frechet: float  # held-out real images blurred with σ = 2 px vs the reference set
    blur_kernel: float
    mean_confidence: float  # mean of the classifier's top softmax probability on the samples
    category_mix: dict[str, float]  # share of samples the classifier puts in each category
    real_category_mix: dict[str, float]
    classifier_accuracy: float  # held-out accuracy of the classifier


class QualityMeter:
    """Features of the real images, computed once; scores any batch of generated images against them."""

    def __init__(self, dataset: Dataset, classifier: EmojiClassifier, accuracy: float) -> None:
        self.classifier = classifier.eval()
        self.accuracy = accuracy
        held_out = held_out_mask(dataset)
        with torch.inference_mode():
            reference_images = to_unit_range(dataset.images[~held_out])
            held_out_images = to_unit_range(dataset.images[held_out])
            self.reference = _batched(classifier.features, reference_images)
            self.held_out = _batched(classifier.features, held_out_images)
            self.blurred = _batched(classifier.features, gaussian_blur(held_out_images, 2.0))
            real_predictions = _batched(classifier, to_unit_range(dataset.images)).argmax(-1)
        self.real_mix = self._mix(real_predictions)
        self.floor = (frechet_distance(self.held_out, self.reference), kernel_distance(self.held_out, self.reference))
        self.blur = (frechet_distance(self.blurred, self.reference), kernel_distance(self.blurred, self.reference))

    @staticmethod
    def _mix(predictions: torch.Tensor) -> dict[str, float]:
        counts = torch.bincount(predictions, minlength=len(EMOJI_CATEGORIES)).double()
        return {name: float(share) for name, share in zip(EMOJI_CATEGORIES, counts / counts.sum(), strict=True)}

    @torch.inference_mode()
    def score(self, images: torch.Tensor) -> QualityReport:
        """images (B, 3, 64, 64) in [-1, 1]."""
        features = _batched(self.classifier.features, images.float().clamp(-1, 1))
        probabilities = self.classifier.head(features).softmax(-1)
        return QualityReport(
            samples=len(images),
            frechet=frechet_distance(features, self.reference),
            kernel=kernel_distance(features, self.reference),
            floor_frechet=self.floor[0],
            floor_kernel=self.floor[1],
            blur_frechet=self.blur[0],
            blur_kernel=self.blur[1],
            mean_confidence=float(probabilities.max(-1).values.mean()),
            category_mix=self._mix(probabilities.argmax(-1)),
            real_category_mix=self.real_mix,
            classifier_accuracy=self.accuracy,
        )


@torch.inference_mode()
def generate_images(generator: nn.Module, latents: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """(B, z_dim) → (B, 3, 64, 64) from the generator in eval mode, explicit attention path."""
    generator.eval()
    return _batched(generator, latents, batch_size)


def evaluate_generator(generator: nn.Module, meter: QualityMeter, samples: int = 1536) -> QualityReport:
    """Scores of the samples of seeds 0..samples-1 (the explorer's seeds)."""
    device = next(generator.parameters()).device
    latents = sample_latents(list(range(samples)), generator.config.z_dim).to(device)
    return meter.score(generate_images(generator, latents).cpu())


def format_report(report: QualityReport) -> str:
    lines = [
        f"classifier   held-out accuracy {report.classifier_accuracy:.3f} over {len(EMOJI_CATEGORIES)} categories",
        f"samples      {report.samples} (seeds 0..{report.samples - 1})",
        "",
        "| images | Fréchet distance | kernel distance ×1000 |",
        "|---|---|---|",
        f"| generated | {report.frechet:.2f} | {report.kernel:.2f} |",
        f"| real held-out (floor) | {report.floor_frechet:.2f} | {report.floor_kernel:.2f} |",
        f"| real held-out blurred σ = 2 px | {report.blur_frechet:.2f} | {report.blur_kernel:.2f} |",
        "",
        f"mean classifier confidence on samples: {report.mean_confidence:.3f}",
        "",
        "| category | samples | real |",
        "|---|---|---|",
    ]
    for name, share in report.category_mix.items():
        lines.append(f"| {name} | {share:.1%} | {report.real_category_mix[name]:.1%} |")
    return "\n".join(lines)


def _verdict(value: float, bound: float, strictly_below: bool = False) -> str:
    met = value < bound if strictly_below else value <= bound
    return "met" if met else f"missed by {value - bound:.2f}"


def format_targets(report: QualityReport, baseline_frechet: float | None = None) -> str:
    """The default model's quality targets against this report: below the blur, and at most a third of a baseline."""
    lines = [
        "targets",
        f"- Fréchet distance below the σ = 2 px blur's: {report.frechet:.2f} vs {report.blur_frechet:.2f}, "
        + _verdict(report.frechet, report.blur_frechet, strictly_below=True),
    ]
    if baseline_frechet is None:
        lines.append("- Fréchet distance at most 1/3 of a baseline's: give --baseline CHECKPOINT")
    else:
        third = baseline_frechet / 3
        lines.append(
            f"- Fréchet distance at most 1/3 of the baseline's: {report.frechet:.2f} vs {baseline_frechet:.2f} / 3 = "
            f"{third:.2f}, " + _verdict(report.frechet, third)
        )
    return "\n".join(lines)
