"""The real server on loopback: concurrent clients through the hooks, and clients that hang up."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

CLIENTS = 64


def requests_for_clients() -> list[str]:
    rng = random.Random(7)
    paths = []
    for client in range(CLIENTS):
        seed = 1000 + client
        layer = rng.choice(["attn1", "attn2"])
        direction = rng.choice(["row", "column"])
        x, y = rng.randrange(64), rng.randrange(64)
        query = f"layer={layer}&x={x}&y={y}&direction={direction}"
        paths.append(f"/api/models/tiny/samples/{seed}/heatmap.png?{query}")
        paths.append(f"/api/models/tiny/samples/{seed}/attention?{query}")
    return paths


def test_concurrent_clients_get_byte_for_byte_what_one_at_a_time_gets(
    tiny_checkpoint: Path, start_server: Callable[..., AbstractContextManager[str]]
) -> None:
    paths = requests_for_clients()
    room = {"SAGAN_ATTN_MODEL_NAME": "tiny", "SAGAN_ATTN_QUEUE_BOUND": str(CLIENTS)}  # every client's new sample waits
    with (
        start_server(tiny_checkpoint, **room) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        sequential = [client.get(path).content for path in paths]
    with start_server(tiny_checkpoint, **room) as url:

        def fetch_pair(index: int) -> tuple[bytes, bytes]:
            with httpx.Client(base_url=url, timeout=60) as client:
                return client.get(paths[2 * index]).content, client.get(paths[2 * index + 1]).content

        with ThreadPoolExecutor(CLIENTS) as pool:
            pairs = list(pool.map(fetch_pair, range(CLIENTS)))
        health = httpx.get(f"{url}/api/health").json()
    concurrent = [body for pair in pairs for body in pair]
    assert len(set(sequential)) == len(sequential), "every client asked for a different map"
    mismatched = [paths[i] for i in range(len(paths)) if concurrent[i] != sequential[i]]
    assert not mismatched, f"{len(mismatched)} responses differ, first {mismatched[:3]}"
    assert health["models"]["tiny"]["forward_hooks"] == 0


def test_clients_that_hang_up_mid_response_do_not_hurt_others(server_url: str) -> None:
    host, port = server_url.removeprefix("http://").split(":")
    for seed in range(10):
        with socket.create_connection((host, int(port))) as connection:
            connection.sendall(
                f"GET /api/models/tiny/samples/{seed}/attention.npy?layer=attn2 HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            )
            assert connection.recv(64).startswith(b"HTTP/1.1 200")
    with httpx.Client(base_url=server_url) as client:
        matrix = client.get("/api/models/tiny/samples/3/attention.npy", params={"layer": "attn2"})
        assert matrix.status_code == 200 and len(matrix.content) > 4 * 1024 * 1024
        assert client.get("/api/health").json()["models"]["tiny"]["forward_hooks"] == 0
