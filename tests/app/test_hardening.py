from __future__ import annotations

import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.cli import main
from app.main import create_app
from app.settings import Settings
from models.capture import count_forward_hooks

BASE = "/api/models/tiny/samples"


def test_repeated_parameters_are_refused(client: TestClient) -> None:
    response = client.get(f"{BASE}/1/heatmap.png?x=1&x=2&y=3")
    assert response.status_code == 422
    assert "parameter 'x' is repeated; give it once" in response.text


def test_very_long_query_strings_are_refused(client: TestClient) -> None:
    response = client.get(f"{BASE}/1/heatmap.png?x=1&y=1&colormap={'a' * 5000}")
    assert response.status_code == 414 and "at most 1024" in response.text
    huge_number = client.get(f"{BASE}/1/heatmap.png?x={'9' * 900}&y=1")
    assert huge_number.status_code == 422


def test_unknown_layer_error_has_the_validation_shape(client: TestClient) -> None:
    detail = client.get(f"{BASE}/1/attention?x=1&y=1&layer=nope").json()["detail"]
    assert detail[0]["loc"] == ["query", "layer"] and "attn1" in detail[0]["msg"]


@pytest.mark.slow
def test_no_hooks_remain_after_ten_thousand_requests(client: TestClient) -> None:
    service = client.app.state.models["tiny"]
    rng = random.Random(0)
    for index in range(10_000):
        seed = index if index % 50 == 0 else rng.randrange(8)
        layer = rng.choice(["attn1", "attn2"])
        endpoint = rng.choice(["heatmap.png", "attention"])
        response = client.get(f"{BASE}/{seed}/{endpoint}?x={rng.randrange(64)}&y={rng.randrange(64)}&layer={layer}")
        assert response.status_code == 200
    assert count_forward_hooks(service.generator) == 0
    assert client.get("/api/health").json()["models"]["tiny"]["forward_hooks"] == 0
    assert service.cache.bytes_used <= service.cache.max_bytes


def test_cache_stays_under_its_byte_bound(checkpoint_path: Path) -> None:
    settings = Settings(checkpoint=checkpoint_path, model_name="tiny", cache_bytes=2**20 * 12)
    with TestClient(create_app(settings)) as client:
        for seed in range(20):
            assert client.get(f"{BASE}/{seed}.png").status_code == 200
        service = client.app.state.models["tiny"]
        assert 0 < len(service.cache) < 20
        assert service.cache.bytes_used <= 12 * 2**20


def test_full_matrix_responses_are_capped_deliberately(checkpoint_path: Path) -> None:
    settings = Settings(checkpoint=checkpoint_path, model_name="tiny", max_matrix_bytes=2**20)
    with TestClient(create_app(settings)) as client:
        assert client.get(f"{BASE}/1/attention.npy?layer=attn1").status_code == 200
        refused = client.get(f"{BASE}/1/attention.npy?layer=attn2")
        assert refused.status_code == 413 and "fetch rows with /attention" in refused.text


def test_no_cors_unless_configured(client: TestClient, checkpoint_path: Path) -> None:
    headers = {"Origin": "http://elsewhere.example"}
    assert "access-control-allow-origin" not in client.get("/api/models", headers=headers).headers
    settings = Settings(checkpoint=checkpoint_path, model_name="tiny", cors_origins=["http://elsewhere.example"])
    with TestClient(create_app(settings)) as allowed:
        response = allowed.get("/api/models", headers=headers)
        assert response.headers["access-control-allow-origin"] == "http://elsewhere.example"


def test_server_binds_loopback_unless_told_otherwise(checkpoint_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    bound_hosts: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **_: bound_hosts.append(host))
    assert main(["serve", "--checkpoint", str(checkpoint_path)]) == 0
    assert main(["serve", "--checkpoint", str(checkpoint_path), "--host", "0.0.0.0"]) == 0
    assert bound_hosts == ["127.0.0.1", "0.0.0.0"]


def test_no_endpoint_takes_a_file_path(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                assert parameter["name"] in {
                    "model",
                    "seed",
                    "layer",
                    "head",
                    "x",
                    "y",
                    "direction",
                    "colormap",
                    "overlay",
                    "opacity",
                    "size",
                    "marker",
                    "name",
                    "class",
                    "truncation",
                    "mode",
                    "pins",
                    "scale",
                    "contrast",
                    "mass",
                    "width",
                    "height",
                }, (path, parameter["name"])
