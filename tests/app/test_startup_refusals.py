"""Files that cannot be a model are refused at start-up with one line naming the file and the problem, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main


def _folder_with_config(tmp_path: Path, biggan_folder: Path, config_text: str) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "pytorch_model.bin").symlink_to(biggan_folder / "pytorch_model.bin")
    (folder / "config.json").write_text(config_text, encoding="utf-8")
    return folder


def _refusal(capsys: pytest.CaptureFixture[str], checkpoint: Path) -> str:
    assert main(["serve", "--checkpoint", str(checkpoint)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and not captured.out, captured.err
    return lines[0]


def test_deeply_nested_json_is_refused(
    tmp_path: Path, biggan_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = json.loads((biggan_folder / "config.json").read_text())
    nested = json.dumps(config)[:-1] + ', "extra": ' + "[" * 1500 + "]" * 1500 + "}"
    line = _refusal(capsys, _folder_with_config(tmp_path, biggan_folder, nested))
    assert "config.json" in line and "nested more than 32 levels deep" in line


def test_a_huge_integer_is_refused(tmp_path: Path, biggan_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = json.loads((biggan_folder / "config.json").read_text())
    text = json.dumps({**config, "z_dim": 0}).replace('"z_dim": 0', '"z_dim": ' + "9" * 100_000)
    line = _refusal(capsys, _folder_with_config(tmp_path, biggan_folder, text))
    assert "config.json" in line and "an integer of 100,000 digits" in line


def test_a_config_that_is_not_an_object_is_refused(
    tmp_path: Path, biggan_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _refusal(capsys, _folder_with_config(tmp_path, biggan_folder, "[1, 2, 3]"))
    assert "config.json" in line and "expected a JSON object of BigGAN settings, got list" in line


def test_symlink_loops_are_refused(tmp_path: Path, biggan_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder_with_config(tmp_path, biggan_folder, "{}")
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to(folder / "loop.json")
    (folder / "loop.json").symlink_to(folder / "config.json")
    line = _refusal(capsys, folder)
    assert f"{folder / 'config.json'}: a symlink loop" in line
    checkpoint = tmp_path / "model.pt"
    checkpoint.symlink_to(checkpoint)
    assert f"{checkpoint}: a symlink loop" in _refusal(capsys, checkpoint)
