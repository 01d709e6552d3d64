from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.cli import main
from app.main import create_app
from app.settings import Settings
from models.capture import count_forward_hooks
from models.registry import load
from tests.app.serving import run_scenario, served, tiny_app

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


def test_no_hooks_remain_after_concurrent_requests_that_make_read_and_abandon_samples(checkpoint_path: Path) -> None:
    """What ten thousand sequential requests once checked, from eight concurrent clients in 480: every capture,
    γ = 0 sample and effect map removes its hooks, also for requests cancelled while they wait, and the cache
    stays under its bound while new samples keep coming."""
    model = load(checkpoint_path)

    async def client_session(client: httpx.AsyncClient, index: int) -> list[int]:
        rng = random.Random(index)
        statuses = []
        for step in range(60):
            seed = 1000 * (index + 1) + step if step % 6 == 0 else rng.randrange(8)
            layer = rng.choice(["attn1", "attn2"])
            endpoint = ["heatmap.png", "attention", "ablation.png", "effect"][step % 4 if step % 5 == 0 else step % 2]
            request = client.get(f"{BASE}/{seed}/{endpoint}?x={rng.randrange(64)}&y={rng.randrange(64)}&layer={layer}")
            if step % 13 == 0:
                abandoned = asyncio.create_task(request)
                await asyncio.sleep(0.001)
                abandoned.cancel()
                continue
            statuses.append((await request).status_code)
        return statuses

    async def scenario() -> tuple[list[list[int]], dict[str, object]]:
        application = tiny_app(model, cache_bytes=12 * 2**20, analysis_waiting=64)
        async with served(application) as client:
            statuses = await asyncio.gather(*(client_session(client, index) for index in range(8)))
            await asyncio.sleep(0.2)  # work of cancelled requests still running finishes
            return statuses, (await client.get("/api/health")).json()["models"]["tiny"]

    statuses, health = run_scenario(scenario())
    assert {status for session in statuses for status in session} == {200}
    assert sum(map(len, statuses)) > 400
    assert count_forward_hooks(model.module) == 0 and health["forward_hooks"] == 0
    assert health["cache_bytes"] <= health["cache_bound_bytes"] and health["cached_samples"] >= 2


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
