"""The README's examples are files under docs/examples; here they run as a user would run them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"


@pytest.mark.parametrize("name", ["attention_figure.py", "rest_client.py"])
def test_the_readme_shows_each_example_verbatim(name: str) -> None:
    assert (EXAMPLES / name).read_text(encoding="utf-8").strip() in (ROOT / "README.md").read_text(encoding="utf-8")


def run_example(code: str, cwd: Path) -> str:
    result = subprocess.run(  # noqa: PLW1510  the return code is asserted below
        [sys.executable, "-c", code],
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_figure_example_draws_the_sample_and_four_maps(tmp_path: Path) -> None:
    run_example((EXAMPLES / "attention_figure.py").read_text(encoding="utf-8"), tmp_path)
    with Image.open(tmp_path / "attention_figure.png") as figure:
        width, height = figure.size
    assert width > 4 * height  # five panels side by side


def test_the_rest_example_runs_against_the_default_server(
    start_server: Callable[..., AbstractContextManager[str]], tmp_path: Path
) -> None:
    code = (EXAMPLES / "rest_client.py").read_text(encoding="utf-8")
    with start_server(None) as url:
        output = run_example(code.replace("http://127.0.0.1:8000", url), tmp_path)
    # attn2: query cell 650 of the 32×32 grid, a row of 16 rows on the pooled 16×16 key grid;
    # attn1: 256 queries (16×16) over 64 pooled keys (8×8)
    assert "'index': 650" in output and output.rstrip().endswith("16 (256, 64)")
