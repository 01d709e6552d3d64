"""A deliberately slow test model that counts its forward passes, and the app served around it.

`served(...)` drives the app in-process through httpx's ASGI transport, so cancelling a request
task cancels the handler; `listening(...)` runs it in a real uvicorn on loopback, so a client can
hang up on a socket.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import torch
import uvicorn
from fastapi import FastAPI

from app.main import create_app
from app.settings import Settings
from models.families.base import Generate, LoadedModel
from models.registry import load

BASE = "/api/models/tiny/samples"
Result = TypeVar("Result")


@dataclasses.dataclass
class SlowForward:
    """A model's `generate` that first sleeps `seconds`; records the seeds of each forward pass started and finished."""

    generate: Generate
    seconds: float
    passes: list[tuple[int, ...]] = dataclasses.field(default_factory=list)
    finished: list[tuple[int, ...]] = dataclasses.field(default_factory=list)

    def __call__(self, seeds: Sequence[int], classes: Sequence[int] | None, truncation: float | None) -> torch.Tensor:
        time.sleep(self.seconds)
        self.passes.append(tuple(seeds))
        images = self.generate(seeds, classes, truncation)
        self.finished.append(tuple(seeds))
        return images


def slow_model(checkpoint: Path, seconds: float) -> tuple[LoadedModel, SlowForward]:
    model = load(checkpoint)
    forward = SlowForward(model.generate, seconds)
    return dataclasses.replace(model, generate=forward), forward


def tiny_app(model: LoadedModel, **settings: Any) -> FastAPI:
    return create_app(Settings(checkpoint=model.path, model_name="tiny", torch_threads=1, **settings), loaded=model)


def run_scenario(scenario: Coroutine[Any, Any, Result]) -> Result:
    """`asyncio.run(scenario)` in a thread of its own, so it works also where this thread runs a loop
    (Playwright's sync API leaves one running once the end-to-end tests have started a browser)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, scenario).result()


@asynccontextmanager
async def served(application: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
            yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def listening(application: FastAPI, **config: Any) -> Iterator[str]:
    """The app in a real uvicorn on a loopback port, in a thread of this process; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
