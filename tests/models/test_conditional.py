"""Class-conditional SAGAN: conditional batch norm in G, a projection D, training, checkpoints and the API."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from models.blocks import ConditionalBatchNorm2d
from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.data import EMOJI_CATEGORIES, NO_CATEGORY, Dataset, DatasetInfo, labelled
from models.registry import load
from models.sagan import Discriminator, Generator, SAGANConfig
from models.train import TrainOptions, train
from tests.models.test_quality import synthetic_emoji
from tests.models.test_train import options

CONDITIONAL = SAGANConfig(z_dim=16, g_conv_dim=16, d_conv_dim=16, g_blocks="residual", num_classes=9, class_dim=8)


def conditional_checkpoint(path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    generator = Generator(CONDITIONAL)
    with torch.no_grad():
        for module in generator.modules():
            if hasattr(module, "gamma"):
                module.gamma.fill_(0.5)
    save_checkpoint(path, CONDITIONAL, generator.eval(), Discriminator(CONDITIONAL), {"steps": 1}, EMOJI_CATEGORIES)
    return path


def test_conditional_generator_and_discriminator_shapes_and_layout() -> None:
    generator, discriminator = Generator(CONDITIONAL), Discriminator(CONDITIONAL)
    z, classes = torch.randn(3, 16), torch.tensor([0, 4, 8])
    images = generator(z, classes)
    assert images.shape == (3, 3, 64, 64)
    assert discriminator(images, classes).shape == (3,)
    assert generator.class_embedding.weight.shape == (9, 8)
    norms = [module for module in generator.modules() if isinstance(module, ConditionalBatchNorm2d)]
    assert len(norms) == 6  # two per residual block, l2–l4
    assert discriminator.class_projection.weight.shape == (9, 16 * 8)
    with pytest.raises(ValueError, match="one class index per sample"):
        generator(z)
    with pytest.raises(ValueError, match="unconditional"):
        Generator(SAGANConfig(z_dim=16, g_conv_dim=16, g_blocks="residual"))(z, classes)
    with pytest.raises(ValueError, match="g_blocks='residual'"):
        SAGANConfig(num_classes=9)


def test_the_class_changes_the_image_through_the_batch_norms() -> None:
    torch.manual_seed(0)
    generator = Generator(CONDITIONAL).eval()
    z = torch.randn(1, 16).repeat(2, 1)
    first, second = generator(z, torch.tensor([1, 2]))
    assert (first - second).abs().max() > 1e-3
    assert torch.equal(*generator(z, torch.tensor([3, 3])))


def test_projection_term_is_the_class_embedding_dotted_with_pooled_features() -> None:
    torch.manual_seed(0)
    discriminator = Discriminator(CONDITIONAL).eval()
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    features = {}
    discriminator.attn2.register_forward_hook(lambda module, args, output: features.update(h=output))
    first = discriminator(images, torch.tensor([0, 0]))
    pooled = torch.relu(features["h"]).sum(dim=(2, 3))  # (B, C)
    second = discriminator(images, torch.tensor([5, 7]))
    embedding = discriminator.class_projection.weight  # (classes, C), spectrally normalised
    expected = (pooled * (embedding[[5, 7]] - embedding[[0, 0]])).sum(dim=1)
    torch.testing.assert_close(second - first, expected, rtol=1e-4, atol=1e-4)
    unconditional = discriminator.last(features["h"]).flatten()
    torch.testing.assert_close(second, unconditional + (pooled * embedding[[5, 7]]).sum(dim=1), rtol=1e-4, atol=1e-4)


def test_labelled_keeps_only_images_with_a_category() -> None:
    categories = torch.tensor([0, NO_CATEGORY, 3, NO_CATEGORY])
    dataset = Dataset(
        torch.zeros(4, 3, 64, 64, dtype=torch.uint8), categories, torch.arange(4), DatasetInfo("", "", "")
    )
    kept = labelled(dataset)
    assert kept.categories.tolist() == [0, 3] and kept.emoji_ids.tolist() == [0, 2]


def conditional_run(out: Path, steps: int, **changes: object) -> TrainOptions:
    """test_train's tiny run on the (synthetic) emoji data, class-conditional."""
    return options(
        Path("unused"), out, **{"data": "emoji", "steps": steps, "batch_size": 6, "conditional": True, **changes}
    )


@pytest.fixture
def emoji_data(monkeypatch: pytest.MonkeyPatch) -> Dataset:
    import models.data

    dataset = synthetic_emoji(count_per_category=2)
    monkeypatch.setattr(models.data, "load_emoji", lambda: dataset)
    return dataset


def test_a_resumed_conditional_run_continues_exactly(emoji_data: Dataset, tmp_path: Path) -> None:
    train(conditional_run(tmp_path / "whole", steps=4))
    train(conditional_run(tmp_path / "split", steps=2))
    train(conditional_run(tmp_path / "split", steps=4, resume=True))
    whole = torch.load(tmp_path / "whole" / "train_state.pt", weights_only=True)
    split = torch.load(tmp_path / "split" / "train_state.pt", weights_only=True)
    for key in ("generator", "discriminator", "generator_ema"):
        assert whole[key].keys() == split[key].keys()
        for name, tensor in whole[key].items():
            assert torch.equal(tensor, split[key][name]), (key, name)
    assert any("class_embedding" in name for name in whole["generator"])
    assert any("class_projection" in name for name in whole["discriminator"])
    loaded = load_checkpoint(tmp_path / "whole" / "model.pt")
    assert loaded.config.num_classes == 9 and loaded.class_names == EMOJI_CATEGORIES
    assert "class-conditional" in loaded.training["recipe"]


def test_conditional_training_needs_emoji_data_and_residual_blocks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs the emoji data"):
        train(conditional_run(tmp_path / "a", steps=2, data=str(tmp_path)))
    with pytest.raises(ValueError, match="--g-blocks residual"):
        train(conditional_run(tmp_path / "b", steps=2, g_blocks="transposed"))


def test_a_conditional_checkpoint_needs_its_class_names(tmp_path: Path) -> None:
    generator, discriminator = Generator(CONDITIONAL), Discriminator(CONDITIONAL)
    with pytest.raises(ValueError, match="needs as many class names"):
        save_checkpoint(tmp_path / "x.pt", CONDITIONAL, generator, discriminator, {}, EMOJI_CATEGORIES[:3])
    path = conditional_checkpoint(tmp_path / "ok.pt")
    payload = torch.load(path, weights_only=True)
    for classes, message in ((None, "needs 'classes'"), (["a"] * 9, "repeats a name"), (["a", "b"], "names 2 classes")):
        payload["classes"] = classes
        torch.save(payload, tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(tmp_path / "bad.pt")


def test_class_names_reach_the_api_and_classes_pick_the_sample(tmp_path: Path) -> None:
    path = conditional_checkpoint(tmp_path / "conditional.pt")
    model = load(path)
    assert model.inputs.class_names == EMOJI_CATEGORIES and model.inputs.truncation is None
    settings = Settings(checkpoint=path, model_name="cond", cache_bytes=8 * 2**20, torch_threads=1)
    with TestClient(create_app(settings)) as client:
        entry = client.get("/api/models").json()["models"][0]
        assert entry["classes"] == list(EMOJI_CATEGORIES) and entry["truncation"] is None
        assert entry["config"]["num_classes"] == 9
        flags = client.get("/api/models/cond/samples/3.png", params={"class": "Flags"})
        by_index = client.get("/api/models/cond/samples/3.png", params={"class": 8})
        smileys = client.get("/api/models/cond/samples/3.png")
        assert flags.status_code == by_index.status_code == smileys.status_code == 200
        assert flags.content == by_index.content and flags.content != smileys.content
        refused = client.get("/api/models/cond/samples/3.png", params={"truncation": 0.5})
        assert refused.status_code == 422 and "truncation" in refused.text
        row = client.get("/api/models/cond/samples/3/attention", params={"x": 5, "y": 9, "class": "Objects"})
        assert row.status_code == 200 and row.json()["class"] == 6
        assert row.json()["sum"] == pytest.approx(1.0, abs=1e-4)


def test_evaluate_scores_a_conditional_model_over_the_class_mix_and_per_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import models.data
    import models.quality
    from app.cli import main
    from models.quality import EmojiClassifier, QualityMeter, evaluation_classes, save_classifier

    counts = [2, 30, 2, 2, 2, 2, 2, 2, 4]  # one class dominates, as People & Body does in the emoji
    dataset = synthetic_emoji(count_per_category=1)
    images = torch.cat([dataset.images[index].expand(count, -1, -1, -1) for index, count in enumerate(counts)])
    categories = torch.cat([torch.full((count,), index) for index, count in enumerate(counts)])
    dataset = Dataset(images.contiguous(), categories, torch.arange(len(images)), DatasetInfo("t", "", ""))
    meter = QualityMeter(dataset, EmojiClassifier().eval(), accuracy=0.5)
    drawn = evaluation_classes(meter, 4000)
    shares = torch.bincount(drawn, minlength=9).double() / 4000
    torch.testing.assert_close(shares, torch.tensor(counts, dtype=torch.float64) / sum(counts), atol=0.03, rtol=0)

    monkeypatch.setattr(models.data, "load_emoji", lambda: dataset)
    classifier_file = tmp_path / "classifier.pt"
    save_classifier(EmojiClassifier().eval(), 0.5, dataset, classifier_file)
    monkeypatch.setattr(models.quality, "CLASSIFIER_FILE", classifier_file)
    path = conditional_checkpoint(tmp_path / "conditional.pt")
    assert main(["evaluate", str(path), "--samples", "32", "--per-class-samples", "12"]) == 0
    out = capsys.readouterr().out
    assert "| generated |" in out and "class by class (12 samples each" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and line.split(" | ")[0][2:] in EMOJI_CATEGORIES]
    class_rows = [row for row in rows if row.count("|") == 5]
    assert [row.split(" | ")[0][2:] for row in class_rows] == list(EMOJI_CATEGORIES)
