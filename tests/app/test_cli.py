from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from app.cli import main
from app.main import NoTrainedModelError, load_default
from app.settings import Settings
from models.checkpoint import load_checkpoint, save_checkpoint

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_missing_default_model_is_reported_plainly(tmp_path: Path) -> None:
    default = tmp_path / "emoji_sagan.pt"
    with pytest.raises(NoTrainedModelError, match="no trained default model is present"):
        load_default(Settings(checkpoint=default), default_path=default)


def test_serve_with_a_bad_checkpoint_exits_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"\x00" * 100)
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--checkpoint", str(bad), "--port", "1"],
        check=False,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "weights_only=True" in lines[0]


def test_a_list_setting_that_is_not_json_stops_serve_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SAGAN_ATTN_CORS_ORIGINS", "http://localhost:3000")
    assert main(["serve"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "cors_origins" in lines[0] and "take JSON" in lines[0]


def test_inspect_prints_each_layer(checkpoint_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(checkpoint_path), "--seeds", "3"]) == 0
    assert "targets" not in capsys.readouterr().out, "the emoji targets are not printed for other data"
    loaded = load_checkpoint(checkpoint_path)
    emoji_model = tmp_path / "emoji.pt"
    training = {**loaded.training, "data": "emoji: a test set"}
    save_checkpoint(emoji_model, loaded.config, loaded.generator, loaded.discriminator, training)
    grid = tmp_path / "grid.png"
    assert main(["inspect", str(emoji_model), "--seeds", "3", "--grid", str(grid)]) == 0
    assert Image.open(grid).size == (8 * 66 + 2, 8 * 66 + 2)
    output = capsys.readouterr().out
    rows = [line for line in output.splitlines() if line.startswith("| attn")]
    assert [row.split("|")[1].strip() for row in rows] == ["attn1", "attn2"]
    attn2 = [cell.strip() for cell in rows[1].split("|")[1:-1]]
    assert attn2[1] == "32×32" and attn2[3] == "-0.7000"
    assert 0.0 < float(attn2[4]) <= 1.0
    targets = output.split("targets (attn2, the last layer)\n")[1].splitlines()
    assert (
        targets[0].startswith("- object share ratio at least 1.5: ")
        and targets[0].split(": ")[1].split(",")[0] == attn2[7]
    )
    assert (
        targets[1].startswith("- ring mass ratio at most 1.0: ") and targets[1].split(": ")[1].split(",")[0] == attn2[8]
    )
    assert targets[2] == f"- query variation (reported, no target): {attn2[6]}"


def _served_app(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> object:
    import uvicorn

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **_: served.append(application))
    assert main(argv) == 0
    return served[0]


def test_serve_names_the_model_after_the_file_unless_told(
    checkpoint_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    for extra, expected in (([], "tiny"), (["--model-name", "demo.v2"], "demo.v2")):
        application = _served_app(monkeypatch, ["serve", "--checkpoint", str(checkpoint_path), *extra])
        with TestClient(application) as client:
            assert client.get("/api/models").json()["default"] == expected
            assert client.get(f"/api/models/{expected}/samples/1.png").status_code == 200


def test_a_model_name_that_cannot_sit_in_a_url_stops_serve_with_one_line(
    checkpoint_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--checkpoint", str(checkpoint_path), "--model-name", "a/b"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "model_name" in lines[0]


@pytest.mark.parametrize("command", ["serve", "train", "inspect"])
def test_every_help_shows_every_default(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    subparser = parser._subparsers._group_actions[0].choices[command]
    for action in subparser._actions:
        if action.default is not None and action.default is not argparse.SUPPRESS:
            assert f"(default: {action.default})" in text, action.dest


def test_serve_takes_a_biggan_folder(biggan_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    application = _served_app(monkeypatch, ["serve", "--checkpoint", str(biggan_folder), "--device", "cpu"])
    with TestClient(application) as client:
        (model,) = client.get("/api/models").json()["models"]
        assert (model["name"], model["family"], len(model["classes"])) == ("small-biggan", "biggan-deep", 1000)
        assert client.get("/api/models/small-biggan/samples/1.png?class=goldfish").status_code == 200


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda folder: (folder / "pytorch_model.bin").unlink(), "pytorch_model.bin: no such file"),
        (lambda folder: (folder / "config.json").write_text("{", encoding="utf-8"), "config.json: not valid JSON"),
        (lambda folder: (folder / "config.json").unlink(), "no model family recognises it"),
    ],
)
def test_serve_with_a_bad_biggan_folder_exits_with_one_line(
    biggan_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage, fragment: str
) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    for name in ("config.json", "pytorch_model.bin"):
        (folder / name).write_bytes((biggan_folder / name).read_bytes())
    damage(folder)
    assert main(["serve", "--checkpoint", str(folder)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and str(folder) in lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch sees CUDA")
def test_serve_on_cuda_without_cuda_exits_with_one_line(
    checkpoint_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--checkpoint", str(checkpoint_path), "--device", "cuda"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "sees no CUDA device" in lines[0]


def test_inspect_refuses_a_model_with_a_truncation_in_one_line(
    biggan_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(biggan_folder), "--seeds", "2"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "biggan-deep model takes a truncation" in lines[0]
