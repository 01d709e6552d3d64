from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models.registry import installed_families, load

PACKAGE = Path(__file__).with_name("family_package")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test package, installed by pip into a folder of its own (not the project's environment)."""
    target = tmp_path_factory.mktemp("site")
    source = shutil.copytree(PACKAGE, tmp_path_factory.mktemp("source") / PACKAGE.name)  # a build writes beside it
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path_factory.mktemp("build"),
    )
    return target


def test_a_family_declared_by_an_installed_package_is_found_and_serves_its_files(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert [family.name for family in installed_families()] == []
    monkeypatch.syspath_prepend(str(installed))
    assert [family.name for family in installed_families()] == ["tiny-attention"]
    weights = tmp_path / "model.tinyattn"
    weights.write_text("3")
    model = load(weights)
    assert model.family == "tiny-attention"
    image, maps = model.capture(11)
    assert image.shape == (8, 8, 3) and maps["attn"].shape == (16, 16)
    torch.testing.assert_close(torch.from_numpy(maps["attn"]).sum(-1), torch.ones(16))
