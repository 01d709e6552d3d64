"""The README and the documents under docs/ still match the project: every link and anchor resolves,
every command names a script, module, subcommand and option that exist, every endpoint and query
parameter of the API table is served, every setting is one; the BigGAN cache script does what its
document says, and the package metadata installs without deprecation warnings."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import subprocess
import warnings
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.cli import build_parser
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```(?:sh|bash)\n(.*?)```", re.S)
INLINE = re.compile(r"`((?:\.venv/bin/)?(?:sagan-attn |scripts/\w)[^`]*)`")
ENDPOINT_ROW = re.compile(r"^\| `GET ([^|]*)` \|", re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(document: Path) -> set[str]:
    text = FENCE.sub("", document.read_text(encoding="utf-8"))
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_link_and_anchor_resolves(document: Path) -> None:
    for target in LINK.findall(document.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        assert linked.exists(), f"{document.name}: {target} does not exist"
        if anchor:
            assert anchor in anchors(linked), f"{document.name}: no heading #{anchor} in {linked.name}"


def commands(document: Path) -> list[list[str]]:
    """The shell commands of a document: each line of its sh blocks, and inline `sagan-attn …` / `scripts/…`."""
    text = document.read_text(encoding="utf-8")
    lines = [line.split("  #")[0] for block in FENCE.findall(text) for line in block.splitlines()]
    lines += INLINE.findall(text)
    found = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith(("#", "cache=", "docker ", "python -c")):
            found.append(shlex.split(line.replace("|", " ").replace("…", "")))
    return found


def subcommand_options(parser: argparse.ArgumentParser) -> dict[str, set[str]]:
    choices = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction)).choices
    return {name: {flag for action in sub._actions for flag in action.option_strings} for name, sub in choices.items()}


def check_command(words: list[str], options: dict[str, set[str]]) -> None:
    program, *rest = words
    if program in (".venv/bin/sagan-attn", "sagan-attn") or words[:3] == [".venv/bin/torchrun", "--standalone"]:
        if program.endswith("torchrun"):
            rest = rest[rest.index("app.cli") + 1 :]
        assert rest and rest[0] in options, f"no subcommand {rest[:1]} in {words}"
        for word in rest[1:]:
            flag = word.split("=")[0]
            assert not flag.startswith("--") or flag in options[rest[0]], f"`{rest[0]}` has no option {flag}"
    elif program.startswith("scripts/"):
        script = ROOT / program
        assert script.is_file() and os.access(script, os.X_OK), f"{program} is not an executable script"
        if program == "scripts/serve.sh":  # passes its arguments to `sagan-attn serve`
            check_command(["sagan-attn", "serve", *rest], options)
    elif program.endswith("python") and rest[:1] == ["-m"]:
        assert importlib.util.find_spec(rest[1]) is not None, f"no module {rest[1]}"
    elif program.endswith("python") and rest[:1] == ["-c"]:
        compile(rest[1], "<command>", "exec")
    elif program.endswith("pip") or program == "mkdir":
        return
    else:
        raise AssertionError(f"a command the test does not know: {words}")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_command_names_what_exists(document: Path) -> None:
    options = subcommand_options(build_parser())
    for words in commands(document):
        check_command(words, options)


def test_every_endpoint_and_parameter_of_the_api_table_is_served(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    rows = ENDPOINT_ROW.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(rows) >= 10
    for row in rows:
        previous = None
        for entry in row.replace("`", "").split(", "):
            entry = entry.removeprefix("GET ").strip()
            if not entry.startswith("/"):  # a sibling of the previous path, e.g. "figure.svg"
                entry = previous.rsplit("/", 1)[0] + "/" + entry
            path, _, query = entry.partition("?")
            assert path in paths, f"the API has no {path}"
            served = {parameter["name"] for parameter in paths[path]["get"].get("parameters", [])}
            for name in re.findall(r"(\w+)=", query):
                assert name in served, f"{path} takes no {name}"
            previous = path


def test_every_setting_the_readme_names_exists() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"SAGAN_ATTN_([A-Z_]+)", text))
    named |= set(re.search(r"prefix `SAGAN_ATTN_` \(([^)]*)\)", text).group(1).replace("`", "").split(","))
    assert named, "the README names its settings"
    assert {name.strip().lower() for name in named} <= set(Settings.model_fields)


def test_pyproject_metadata_raises_no_deprecation_warning() -> None:
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        distribution = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert [str(warning.message)[:120] for warning in caught] == []
    assert distribution.metadata.license_expression == "MIT"


def run_cache_script(cache: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510  the return code is asserted by the callers
        [str(ROOT / "scripts" / "biggan_from_cache.sh"), "biggan-deep-128", str(folder)],
        env={**os.environ, "PYTORCH_PRETRAINED_BIGGAN_CACHE": str(cache)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cache_script_on_an_empty_cache_fails_and_says_how_to_fill_it(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    result = run_cache_script(tmp_path / "cache", tmp_path / "model")
    assert result.returncode == 1
    assert 'BigGAN.from_pretrained("biggan-deep-128")' in result.stderr and "Error" not in result.stderr
    assert not (tmp_path / "model").exists()


def test_the_cache_script_links_a_folder_the_server_loads(tmp_path: Path, biggan_folder: Path) -> None:
    from models.biggan import load_biggan_folder

    cache = tmp_path / "cache"
    cache.mkdir()
    base = "https://s3.amazonaws.com/models.huggingface.co/biggan"
    for name, hashed in (("config.json", "3f2a"), ("pytorch_model.bin", "9c1e")):
        (cache / hashed).write_bytes((biggan_folder / name).read_bytes())
        (cache / f"{hashed}.json").write_text(json.dumps({"url": f"{base}/biggan-deep-128-{name}", "etag": None}))
    (cache / "other.json").write_text(json.dumps({"url": f"{base}/biggan-deep-256-config.json"}))
    result = run_cache_script(cache, tmp_path / "model")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "model" / "config.json").resolve() == (cache / "3f2a").resolve()
    assert load_biggan_folder(tmp_path / "model") is not None
