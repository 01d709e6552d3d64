from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from app.cli import main
from app.main import create_app
from app.settings import Settings
from models.sagan import sample_latents
from models.user_generator import LOOKED_FOR, GeneratorError, load_generator, parse_generator_args
from tests.models import user_models

SPEC = "tests.models.user_models:tokens"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = Settings(generator=SPEC, generator_args=["heads=4"], model_name="tokens", device="cpu")
    with TestClient(create_app(settings)) as client:
        yield client


@torch.no_grad()
def _heads_by_hand(seed: int) -> np.ndarray:
    """softmax(q·kᵀ/√d) of every head of the token model for `seed`, from its own projections: (H, 64, 64)."""
    model = user_models.tokens(heads=4).module.eval()
    query, key, _ = model.attention.qkv_heads(model.tokens(sample_latents([seed], 8)))
    return (query @ key.transpose(-2, -1) / 2.0).softmax(-1)[0].numpy()


def test_models_lists_the_layer_with_its_heads_kind_and_grids(client: TestClient) -> None:
    layers = client.get("/api/models").json()["models"][0]["layers"]
    assert [(layer["name"], layer["kind"], layer["heads"]) for layer in layers] == [("attention", "fused attention", 4)]
    assert (layers[0]["query_grid"], layers[0]["key_grid"]) == (8, 8)


@pytest.mark.parametrize("head", ["0", "3", "mean"])
def test_each_head_row_equals_the_explicit_softmax(client: TestClient, head: str) -> None:
    expected = _heads_by_hand(7)
    expected = expected.mean(axis=0) if head == "mean" else expected[int(head)]
    body = client.get("/api/models/tokens/samples/7/attention", params={"x": 5, "y": 2, "head": head}).json()
    np.testing.assert_allclose(np.array(body["values"]).ravel(), expected[2 * 8 + 5], rtol=1e-5, atol=1e-7)
    assert (body["head"], body["heads"]) == (head, 4)
    raw = client.get("/api/models/tokens/samples/7/attention.f32", params={"head": head}).content
    np.testing.assert_allclose(np.frombuffer(raw, "<f4").reshape(64, 64), expected, rtol=1e-5, atol=1e-7)


def test_heads_differ_and_a_head_out_of_range_gets_422(client: TestClient) -> None:
    first = client.get("/api/models/tokens/samples/3/slice.f32", params={"x": 1, "y": 1, "head": 0}).content
    second = client.get("/api/models/tokens/samples/3/slice.f32", params={"x": 1, "y": 1, "head": 1}).content
    assert first != second
    response = client.get("/api/models/tokens/samples/3/slice.f32", params={"x": 1, "y": 1, "head": 4})
    assert response.status_code == 422
    assert "attention has 4 head(s): give 0 … 3 or mean" in response.text


def test_compact_slices_and_contrast_take_a_head(client: TestClient) -> None:
    expected = _heads_by_hand(2)[1]
    compact = client.get("/api/models/tokens/samples/2/slices.u8", params={"head": 1}).content
    scales = np.frombuffer(compact[: 64 * 4], "<f4")
    np.testing.assert_allclose(scales, expected.max(axis=1), rtol=1e-6)
    ratio = client.get(
        "/api/models/tokens/samples/2/contrast.f32", params={"x": 0, "y": 0, "head": 1, "mode": "ratio"}
    ).content
    np.testing.assert_allclose(np.frombuffer(ratio, "<f4"), expected[0] / expected.mean(axis=0), rtol=1e-5)


def test_after_an_exception_inside_generate_no_mode_or_hook_remains() -> None:
    settings = Settings(generator="tests.models.user_models:fails_after_probe", model_name="fails", device="cpu")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/api/models/fails/samples/1.png").status_code == 500
        health = client.get("/api/health").json()
    assert health["capture_modes"] == 0
    assert health["models"]["fails"]["forward_hooks"] == 0
    assert torch._C._len_torch_function_stack() == 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_package.models:build", "no module named 'no_such_package'"),
        ("tests.models.user_models:broken", "the factory raised FileNotFoundError: no weights here"),
        ("tests.models.user_models:plain", f"no attention found in Plain; looked for {LOOKED_FOR}"),
        (
            "tests.models.user_models:nan_output",
            "the probe sample (seed 0) is NaN or infinite; the first module whose output is not finite is broken",
        ),
        ("tests.models.user_models", "expected package.module:factory"),
        (
            "tests.models.raises_on_import:build",
            "importing tests.models.raises_on_import raised RuntimeError: cannot find",
        ),
    ],
)
@pytest.mark.parametrize("command", ["inspect", "serve"])
def test_generator_failures_get_one_line(
    spec: str, message: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--generator", spec]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(f"sagan-attn: --generator {spec}") and message in error


@pytest.mark.parametrize("command", ["inspect", "serve"])
def test_a_checkpoint_and_a_generator_together_are_refused(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = ["--checkpoint", str(tmp_path)] if command == "serve" else [str(tmp_path)]
    assert main([command, *checkpoint, "--generator", SPEC]) == 2
    assert capsys.readouterr().err == "sagan-attn: give --checkpoint or --generator, not both\n"


def test_inspect_lists_every_layer_found_with_kind_heads_and_grids(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "--generator", "tests.models.user_models:inline", "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert "| attention | inline softmax | 1 | 16×16 | 8×8 |" in out
    assert "measured over seeds 0..1" in out


def test_a_map_that_is_not_square_is_listed_with_its_reason_and_skipped() -> None:
    model = load_generator("tests.models.user_models:class_token")
    assert [layer.name for layer in model.layers] == ["grid_only"]
    assert model.skipped == {
        "with_token": "fused attention map (2, 65, 65): its 65 query positions are not a square number, "
        "so they form no grid"
    }
    _, maps = model.capture_heads(0)
    assert list(maps) == ["grid_only"] and maps["grid_only"].shape == (2, 64, 64)


def test_a_layer_without_gamma_refuses_ablation_and_effect_with_422(client: TestClient) -> None:
    for path in ("/samples/1/ablation.png", "/samples/1/effect", "/effect-means"):
        response = client.get(f"/api/models/tokens{path}", params={} if "means" in path else {"layer": "attention"})
        assert response.status_code == 422, path
        assert "attention has no γ" in response.text


def test_the_figure_draws_the_chosen_head_and_names_it(client: TestClient) -> None:
    params = {"seed": 4, "pins": "3,3", "layer": "attention"}
    head = client.get("/api/models/tokens/figure.svg", params={**params, "head": 3})
    mean = client.get("/api/models/tokens/figure.svg", params=params)
    assert head.status_code == mean.status_code == 200
    assert "head 3 of 4" in head.text and "head 3 of 4" not in mean.text
    assert 'filename="tokens-4-attention-head3-row.svg"' in head.headers["content-disposition"]
    assert 'filename="tokens-4-attention-row.svg"' in mean.headers["content-disposition"]


def test_inspect_lists_a_map_it_cannot_place_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "--generator", "tests.models.user_models:class_token", "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "| grid_only | fused attention | 2 | 8×8 | 8×8 |" in out
    assert "skipped with_token: fused attention map (2, 65, 65): its 65 query positions are not a square number" in out


def test_the_console_script_finds_a_module_in_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "my_models.py").write_text(
        (Path(__file__).parents[2] / "docs" / "examples" / "token_generator.py").read_text(encoding="utf-8")
    )
    script = Path(sys.executable).with_name("sagan-attn")
    result = subprocess.run(
        [str(script), "inspect", "--generator", "my_models:build", "--generator-arg", "heads=2", "--seeds", "1"],
        cwd=tmp_path,
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-1000:]
    assert "| stages.1.1 | fused attention | 2 | 16×16 | 16×16 |" in result.stdout


def test_generator_arguments_are_literals_where_they_parse_else_text() -> None:
    parsed = parse_generator_args(["heads=4", "scale=0.5", "name=tokens", "flag=True", "path=/tmp/x.pt"])
    assert parsed == {"heads": 4, "scale": 0.5, "name": "tokens", "flag": True, "path": "/tmp/x.pt"}
    with pytest.raises(GeneratorError, match="expected key=value"):
        parse_generator_args(["heads"])
