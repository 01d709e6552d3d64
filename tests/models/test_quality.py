from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.data import EMOJI_CATEGORIES, Dataset, DatasetInfo
from models.quality import (
    EmojiClassifier,
    QualityMeter,
    QualityReport,
    format_targets,
    frechet_distance,
    gaussian_blur,
    kernel_distance,
    load_or_train_classifier,
    save_classifier,
    train_classifier,
)


def synthetic_emoji(count_per_category: int = 12) -> Dataset:
    """Flat-coloured squares, one colour per category, each image its own emoji."""
    generator = torch.Generator().manual_seed(0)
    images, categories = [], []
    for category in range(len(EMOJI_CATEGORIES)):
        colour = torch.randint(0, 256, (3, 1, 1), generator=generator)
        for _ in range(count_per_category):
            image = torch.full((3, 64, 64), 255)
            top, left = torch.randint(0, 32, (2,), generator=generator).tolist()
            image[:, top : top + 32, left : left + 32] = colour
            images.append(image)
            categories.append(category)
    count = len(images)
    return Dataset(
        torch.stack(images).to(torch.uint8), torch.tensor(categories), torch.arange(count), DatasetInfo("t", "", "")
    )


def test_frechet_distance_is_zero_for_one_set_and_the_squared_shift_for_a_moved_one() -> None:
    features = torch.randn(400, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([3.0, 0, 0, 0, 4.0, 0, 0, 0], dtype=torch.float64)
    assert frechet_distance(features + shift, features) == pytest.approx(25.0, rel=1e-6)


def test_frechet_distance_of_gaussians_with_different_covariances() -> None:
    generator = torch.Generator().manual_seed(3)
    base = torch.randn(5000, 1, generator=generator, dtype=torch.float64)
    standard = (base - base.mean()) / base.std()  # sample variance exactly 1
    assert frechet_distance(2.0 * standard, 0.5 * standard) == pytest.approx((2.0 - 0.5) ** 2, rel=1e-6)

    def with_covariance(covariance: torch.Tensor) -> torch.Tensor:
        white = torch.randn(4000, 2, generator=generator, dtype=torch.float64)
        white = white - white.mean(0)
        white = white @ torch.linalg.inv(torch.linalg.cholesky(white.T @ white / (len(white) - 1))).T
        return white @ torch.linalg.cholesky(covariance).T  # sample covariance exactly `covariance`

    first_cov = torch.tensor([[2.0, 0.0], [0.0, 0.5]], dtype=torch.float64)
    second_cov = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=torch.float64)  # does not commute with the first
    first_root = torch.linalg.cholesky(first_cov)  # diagonal, so it is also the symmetric square root
    middle = torch.linalg.eigh(first_root @ second_cov @ first_root)
    expected = float(first_cov.trace() + second_cov.trace() - 2 * middle.eigenvalues.sqrt().sum())
    assert frechet_distance(with_covariance(first_cov), with_covariance(second_cov)) == pytest.approx(
        expected, rel=1e-6
    )


def test_kernel_distance_separates_distributions() -> None:
    generator = torch.Generator().manual_seed(1)
    first, second = torch.randn(600, 8, generator=generator), torch.randn(600, 8, generator=generator)
    same = kernel_distance(first, second, subsets=5, subset_size=300)
    moved = kernel_distance(first + 1.0, second, subsets=5, subset_size=300)
    assert abs(same) < 0.2 * moved and moved > 0


def test_blur_keeps_flat_images_flat_and_smooths_noise() -> None:
    flat = torch.full((1, 3, 16, 16), 0.3)
    torch.testing.assert_close(gaussian_blur(flat, 2.0), flat)
    noise = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    assert float(gaussian_blur(noise, 2.0).std()) < 0.5 * float(noise.std())


def test_classifier_training_is_reproducible_and_learns(tmp_path: Path) -> None:
    dataset = synthetic_emoji()
    first, accuracy = train_classifier(dataset, epochs=6, batch_size=16)
    second, _ = train_classifier(dataset, epochs=6, batch_size=16)
    for key, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[key]), key
    assert accuracy > 0.5, "nine flat colours are easy; chance is 0.11"

    path = tmp_path / "classifier.pt"
    save_classifier(first, accuracy, dataset, path)
    trained, trained_accuracy = first, accuracy
    reloaded, reloaded_accuracy = load_or_train_classifier(dataset, path)
    assert reloaded_accuracy == trained_accuracy
    assert all(torch.equal(t, reloaded.state_dict()[k]) for k, t in trained.state_dict().items())


def test_meter_scores_real_images_near_the_floor_and_noise_far_from_it() -> None:
    dataset = synthetic_emoji()
    torch.manual_seed(0)
    meter = QualityMeter(dataset, EmojiClassifier().eval(), accuracy=0.5)
    real = meter.score(dataset.images.float() / 127.5 - 1)
    noise = meter.score(torch.rand(len(dataset), 3, 64, 64) * 2 - 1)
    assert real.frechet < noise.frechet
    assert sum(noise.category_mix.values()) == pytest.approx(1.0)
    assert real.floor_frechet == noise.floor_frechet and real.classifier_accuracy == 0.5


def test_evaluate_command_prints_the_scores_beside_the_yardsticks(
    checkpoint_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import models.data
    import models.quality
    from app.cli import main

    monkeypatch.setattr(models.data, "load_emoji", synthetic_emoji)
    dataset = synthetic_emoji()
    classifier_file = checkpoint_path.with_name("classifier.pt")
    save_classifier(EmojiClassifier().eval(), 0.5, dataset, classifier_file)
    monkeypatch.setattr(models.quality, "CLASSIFIER_FILE", classifier_file)
    assert main(["evaluate", str(checkpoint_path), "--samples", "64"]) == 0
    out = capsys.readouterr().out
    for text in ("| generated |", "| real held-out (floor) |", "| real held-out blurred σ = 2 px |", "confidence"):
        assert text in out
    assert "below the σ = 2 px blur's" in out and "give --baseline CHECKPOINT" in out
    assert main(["evaluate", str(checkpoint_path), "--samples", "64", "--baseline", str(checkpoint_path)]) == 0
    out = capsys.readouterr().out
    one_third = out.split("at most 1/3 of the baseline's: ")[1].splitlines()[0]
    own, rest = one_third.split(" vs ")
    baseline, third = (float(part) for part in rest.split(",")[0].split(" / 3 = "))
    assert float(own) == pytest.approx(baseline, abs=0.006)  # the same model as its own baseline
    assert third == pytest.approx(baseline / 3, abs=0.006) and "missed by" in one_third
    assert main(["evaluate", str(checkpoint_path.with_name("missing.pt"))]) == 2


def report_with(frechet: float, blur_frechet: float) -> QualityReport:
    return QualityReport(
        samples=64,
        frechet=frechet,
        kernel=0.0,
        floor_frechet=0.4,
        floor_kernel=0.0,
        blur_frechet=blur_frechet,
        blur_kernel=0.0,
        mean_confidence=0.5,
        category_mix={},
        real_category_mix={},
        classifier_accuracy=0.8,
    )


def test_targets_say_met_or_by_how_much_they_are_missed() -> None:
    met = format_targets(report_with(frechet=6.0, blur_frechet=11.0), baseline_frechet=21.0).splitlines()
    assert met[1].endswith("6.00 vs 11.00, met") and met[2].endswith("21.00 / 3 = 7.00, met")
    missed = format_targets(report_with(frechet=14.5, blur_frechet=11.0), baseline_frechet=21.0).splitlines()
    assert missed[1].endswith("missed by 3.50") and missed[2].endswith("missed by 7.50")
