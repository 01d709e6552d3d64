from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import load_checkpoint
from models.devices import has_native_bf16
from models.train import TrainOptions, describe_segments, train

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(8):
        rgba = np.zeros((32, 32, 4), dtype=np.uint8)
        top, left = rng.integers(0, 16, size=2)
        rgba[top : top + 16, left : left + 16] = [*rng.integers(0, 256, size=3), 255]
        Image.fromarray(rgba, mode="RGBA").save(folder / f"shape{index}.png")
    return folder


def options(folder: Path, out: Path, **changes: object) -> TrainOptions:
    base = {
        "data": str(folder),
        "out_dir": out,
        "steps": 4,
        "batch_size": 4,
        "g_conv_dim": 8,
        "d_conv_dim": 8,
        "z_dim": 8,
        "sample_every": 2,
        "checkpoint_every": 2,
        "device": "cpu",
    }
    base.update(changes)
    return TrainOptions(**base)


def generator_state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path / "train_state.pt", weights_only=True)["generator"]


def assert_same_state(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> None:
    assert first.keys() == second.keys()
    for key, tensor in first.items():
        assert torch.equal(tensor, second[key]), key


def test_training_writes_samples_plot_and_a_loadable_model(image_folder: Path, tmp_path: Path) -> None:
    model_path = train(options(image_folder, tmp_path / "run"))
    assert (tmp_path / "run" / "samples" / "latest.png").exists()
    assert (tmp_path / "run" / "samples" / "step_000002.png").exists()
    assert (tmp_path / "run" / "losses.png").exists()
    loaded = load_checkpoint(model_path)
    assert loaded.training["steps"] == 4 and loaded.training["data"] == "folder: images"
    assert loaded.training["batch_size"] == 4
    assert loaded.training["recipe"] == (
        "hinge loss, Adam(0, 0.9), TTUR 0.0001/0.0004, DiffAugment colour+translation+cutout, EMA 0.999"
    )
    assert loaded.training["precision"] == "fp32 on cpu for steps 1–4"
    assert loaded.discriminator is not None
    history = torch.load(tmp_path / "run" / "train_state.pt", weights_only=True)["history"]
    assert len(history) == 4 and any(entry["gamma_attn2"] != 0.0 for entry in history)


def test_fixed_seed_is_deterministic_and_resume_continues_exactly(image_folder: Path, tmp_path: Path) -> None:
    train(options(image_folder, tmp_path / "a"))
    train(options(image_folder, tmp_path / "b"))
    assert_same_state(generator_state(tmp_path / "a"), generator_state(tmp_path / "b"))

    train(options(image_folder, tmp_path / "c", steps=2))
    train(options(image_folder, tmp_path / "c", steps=4, resume=True))
    assert_same_state(generator_state(tmp_path / "a"), generator_state(tmp_path / "c"))

    train(options(image_folder, tmp_path / "d", seed=1))
    key = "l1.linear.parametrizations.weight.original"
    assert not torch.equal(generator_state(tmp_path / "a")[key], generator_state(tmp_path / "d")[key])


def test_resume_refuses_a_missing_state_or_changed_options(image_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        train(options(image_folder, tmp_path / "none", resume=True))
    train(options(image_folder, tmp_path / "e", steps=2))
    with pytest.raises(ValueError, match="--seed is 3, but the run was trained with 0"):
        train(options(image_folder, tmp_path / "e", steps=4, seed=3, resume=True))


def test_bf16_autocast_is_deterministic_and_can_take_over_on_resume(image_folder: Path, tmp_path: Path) -> None:
    train(options(image_folder, tmp_path / "fp32"))
    train(options(image_folder, tmp_path / "bf16", precision="bf16"))
    train(options(image_folder, tmp_path / "bf16-again", precision="bf16"))
    bf16_state = generator_state(tmp_path / "bf16")
    assert_same_state(bf16_state, generator_state(tmp_path / "bf16-again"))
    assert not torch.equal(generator_state(tmp_path / "fp32")["l4.bn2.weight"], bf16_state["l4.bn2.weight"])
    assert all(tensor.dtype != torch.bfloat16 for tensor in bf16_state.values())

    train(options(image_folder, tmp_path / "mixed", steps=2))
    train(options(image_folder, tmp_path / "mixed", steps=4, resume=True, precision="bf16"))
    state = torch.load(tmp_path / "mixed" / "train_state.pt", weights_only=True)
    assert state["sittings"] == [[0, "fp32 on cpu"], [2, "bf16 autocast on cpu"]]
    exported = load_checkpoint(tmp_path / "mixed" / "model.pt").training["precision"]
    assert exported == "fp32 on cpu for steps 1–2, bf16 autocast on cpu for steps 3–4"


@pytest.mark.parametrize("native", [True, False])
def test_bf16_warns_only_where_the_cpu_would_emulate_it(
    image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, native: bool
) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert has_native_bf16(torch.device("cpu")) is native
    train(options(image_folder, tmp_path / "bf16", steps=1, precision="bf16"))
    train(options(image_folder, tmp_path / "fp32", steps=1))
    emulated_warnings = [record for record in caplog.records if "emulated" in record.getMessage()]
    assert len(emulated_warnings) == (0 if native else 1)


def test_sitting_description_names_each_sitting() -> None:
    assert describe_segments([[0, "fp32 on cpu"]], 10) == "fp32 on cpu for steps 1–10"
    segments = [[0, "a"], [5, "a"], [5, "b"], [8, "a"]]
    assert describe_segments(segments, 9) == "a for steps 1–5, b for steps 6–8, a for steps 9–9"
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        train(TrainOptions(precision="fp16"))


def test_torchrun_with_two_cpu_processes(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "app.cli",
        "train",
        "--data",
        str(image_folder),
        "--out",
        str(out),
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--conv-dim",
        "8",
        "--sample-every",
        "2",
        "--checkpoint-every",
        "2",
        "--device",
        "cpu",
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        command, check=False, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, env=environment
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = load_checkpoint(out / "model.pt")
    assert loaded.training["steps"] == 2


def run_cli(*arguments: str | Path) -> int:
    from app.cli import main

    return main(["train", *(str(argument) for argument in arguments)])


def test_resume_takes_the_runs_options_from_its_state(
    image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    first = ("--data", image_folder, "--out", out, "--batch-size", "4", "--conv-dim", "8", "--z-dim", "8")
    assert run_cli(*first, "--steps", "2", "--checkpoint-every", "2", "--g-blocks", "residual", "--device", "cpu") == 0
    assert run_cli("--out", out, "--steps", "4", "--resume") == 0
    state = torch.load(out / "train_state.pt", weights_only=True)
    assert state["step"] == 4 and state["options"]["batch_size"] == "4" and state["options"]["g_blocks"] == "residual"

    capsys.readouterr()
    assert run_cli("--out", out, "--steps", "6", "--resume", "--batch-size", "8") == 2
    assert "--batch-size is 8, but the run was trained with 4" in capsys.readouterr().err
    assert run_cli("--out", out, "--steps", "4", "--resume") == 2
    assert "has done 4 steps already" in capsys.readouterr().err


def test_states_saved_before_an_option_existed_resume_with_what_they_did() -> None:
    from models.train_options import options_from_saved, options_to_saved, resume_options

    saved = {"data": "emoji", "batch_size": "32", "diff_augment": "True", "out_dir": "runs/x", "g_lr": "0.0001"}
    options = options_from_saved(saved)
    assert (options.attn_key_pool, options.shared_forward, options.fused_attention, options.channels_last) == (
        1,
        False,
        False,
        False,
    )
    assert options.batch_size == 32 and options.diff_augment is True and options.out_dir == Path("runs/x")
    assert options_from_saved(options_to_saved(options)) == options
    continued = resume_options(saved, {"steps": 9000, "precision": "bf16"})
    assert continued.steps == 9000 and continued.precision == "bf16" and continued.resume
    with pytest.raises(ValueError, match="--attn-key-pool is 2, but the run was trained with 1"):
        resume_options(saved, {"attn_key_pool": 2})


@pytest.mark.parametrize(
    "recipe",
    [
        {"g_blocks": "residual"},
        {"balance": "emoji", "attn_key_pool": 1},
        {"shared_forward": False, "fused_attention": False, "channels_last": False},
    ],
)
def test_every_recipe_trains_and_exports(image_folder: Path, tmp_path: Path, recipe: dict[str, object]) -> None:
    loaded = load_checkpoint(train(options(image_folder, tmp_path / "run", steps=2, **recipe)))
    assert loaded.training["steps"] == 2
    for key, value in recipe.items():
        if key in ("g_blocks", "attn_key_pool"):
            assert getattr(loaded.config, key) == value


def test_emoji_balance_makes_every_emoji_equally_likely() -> None:
    from models.data import Dataset, DatasetInfo
    from models.distributed import Distributed
    from models.train import batch_indices

    emoji_ids = torch.tensor([0] * 9 + [1])  # emoji 0 has nine variants, emoji 1 one
    dataset = Dataset(
        torch.zeros(10, 3, 64, 64, dtype=torch.uint8), torch.zeros(10), emoji_ids, DatasetInfo("", "", "")
    )
    drawn = torch.cat(
        [
            batch_indices(dataset, TrainOptions(batch_size=10, balance="emoji"), step, Distributed())
            for step in range(200)
        ]
    )
    share_of_rare_emoji = float((drawn == 9).float().mean())
    assert 0.45 < share_of_rare_emoji < 0.55
    by_image = torch.cat(
        [batch_indices(dataset, TrainOptions(batch_size=10), step, Distributed()) for step in range(10)]
    )
    assert float((by_image == 9).float().mean()) == pytest.approx(0.1)


def test_training_logs_the_quality_score_every_k_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import models.data
    import models.quality
    from models.data import EMOJI_CATEGORIES, Dataset, DatasetInfo
    from models.quality import EmojiClassifier, save_classifier

    generator = torch.Generator().manual_seed(0)
    count = 4 * len(EMOJI_CATEGORIES)
    images = torch.randint(0, 256, (count, 3, 64, 64), generator=generator, dtype=torch.uint8)
    categories = torch.arange(count) % len(EMOJI_CATEGORIES)
    dataset = Dataset(images, categories, torch.arange(count), DatasetInfo("emoji (test)", "", ""))
    monkeypatch.setattr(models.data, "load_emoji", lambda: dataset)
    classifier_file = tmp_path / "classifier.pt"
    save_classifier(EmojiClassifier().eval(), 0.5, dataset, classifier_file)
    monkeypatch.setattr(models.quality, "CLASSIFIER_FILE", classifier_file)

    run = options(Path("unused"), tmp_path / "run", data="emoji", evaluate_every=2, evaluate_samples=8)
    train(run)
    quality = torch.load(tmp_path / "run" / "train_state.pt", weights_only=True)["quality_history"]
    assert [entry["step"] for entry in quality] == [2, 4]
    assert all(entry["frechet"] > 0 and entry["floor_frechet"] < entry["frechet"] for entry in quality)
    assert (tmp_path / "run" / "losses.png").exists()


def test_a_state_saved_before_this_version_resumes_with_its_own_recipe(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "legacy"
    legacy = {
        "attn_key_pool": 1,
        "g_blocks": "transposed",
        "shared_forward": False,
        "fused_attention": False,
        "channels_last": False,
    }
    train(options(image_folder, out, steps=2, **legacy))
    state = torch.load(out / "train_state.pt", weights_only=True)
    new_fields = ("attn_key_pool", "g_blocks", "balance", "shared_forward", "fused_attention", "channels_last")
    state["options"] = {k: v for k, v in state["options"].items() if k not in (*new_fields, "evaluate_every", "device")}
    state["config"] = {k: v for k, v in state["config"].items() if k != "g_blocks"}
    state["precision_segments"] = [[0, "fp32"]]
    del state["sittings"], state["quality_history"]
    torch.save(state, out / "train_state.pt")

    assert run_cli("--out", out, "--steps", "4", "--resume") == 0
    resumed = torch.load(out / "train_state.pt", weights_only=True)
    assert resumed["step"] == 4 and resumed["sittings"][0] == [0, "fp32 on cpu"]
    assert resumed["options"]["attn_key_pool"] == "1" and resumed["options"]["shared_forward"] == "False"
    assert load_checkpoint(out / "model.pt").config.attn_key_pool == 1


def test_a_time_limit_stops_the_sitting_with_a_checkpoint_and_resume_continues_exactly(
    image_folder: Path, tmp_path: Path
) -> None:
    limited = tmp_path / "limited"
    train(options(image_folder, limited, steps=3, checkpoint_every=100, time_limit_minutes=1e-6, keep_checkpoints=True))
    assert torch.load(limited / "train_state.pt", weights_only=True)["step"] == 1
    assert sorted(path.name for path in (limited / "checkpoints").iterdir()) == ["step_000001.pt"]
    train(options(image_folder, limited, steps=3, checkpoint_every=100, resume=True))
    train(options(image_folder, tmp_path / "straight", steps=3, checkpoint_every=100))
    assert_same_state(generator_state(limited), generator_state(tmp_path / "straight"))
