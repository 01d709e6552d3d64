"""A wheel built from this tree, installed (not editable) into a fresh venv, serves from any folder."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["app", "models", "static", "templates", "pyproject.toml", "README.md"]


def run(*command: str | Path) -> str:
    result = subprocess.run([str(part) for part in command], check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def build_wheel(work: Path) -> Path:
    """`pip wheel` on a copy of the sources, so the build leaves nothing in the checkout."""
    source = work / "source"
    for name in SOURCES:
        original = PROJECT_ROOT / name
        if original.is_dir():
            shutil.copytree(original, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.partial"))
        else:
            shutil.copy2(original, source / name)
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--wheel-dir",
        work,
        source,
    )
    (wheel,) = work.glob("sagan_attn-*.whl")
    return wheel


def fresh_venv(work: Path) -> Path:
    """A venv of its own whose only borrowed packages are this interpreter's dependencies (torch and the rest),
    reached through a .pth line after its own site-packages; the project itself is not on that path."""
    venv = work / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    shared = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "shared_dependencies.pth").write_text("\n".join(sorted(shared)) + "\n")
    return venv


def test_installed_wheel_serves_the_page_and_heatmaps_from_another_folder(
    tmp_path: Path, start_server: Callable[..., AbstractContextManager[str]]
) -> None:
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"app/templates/index.html", "app/static/main.js", "models/emoji_sagan.pt"} <= names

    venv = fresh_venv(tmp_path)
    run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet", "--no-deps",
        "--no-index", "--ignore-installed", wheel)  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    imported = run(venv / "bin" / "python", "-I", "-c", "import app, models; print(app.__file__, models.__file__)")
    assert str(PROJECT_ROOT) not in imported and str(venv) in imported

    with start_server(None, command=(str(venv / "bin" / "sagan-attn"),), cwd=elsewhere, PYTHONPATH="") as url:
        page = httpx.get(f"{url}/")
        assert page.status_code == 200 and 'data-default-model="emoji_sagan"' in page.text
        assert httpx.get(f"{url}/static/main.js").status_code == 200
        heatmap = httpx.get(f"{url}/api/models/emoji_sagan/samples/7/heatmap.png", params={"x": 20, "y": 41})
        assert heatmap.status_code == 200
        assert Image.open(io.BytesIO(heatmap.content)).size == (16, 16)  # attn2's pooled key grid
        assert httpx.get(f"{url}/docs-assets/swagger-ui-bundle.js").status_code == 200
