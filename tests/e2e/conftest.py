"""A real uvicorn server on loopback and a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import save_checkpoint
from models.sagan import Discriminator, Generator, SAGANConfig
from scripts.chromium import launch_chromium

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(
    checkpoint: Path | None,
    command: tuple[str, ...] = (sys.executable, "-m", "app.cli"),
    cwd: Path = PROJECT_ROOT,
    arguments: tuple[str, ...] = (),
    **environment: str,
) -> Iterator[str]:
    """`sagan-attn serve` (`command`, run in `cwd`) in a subprocess on a free loopback port; yields its base URL.

    With no checkpoint it serves the default model; `arguments` follow `serve` (e.g. --generator ...).
    """
    port = free_port()
    chosen = [] if checkpoint is None else ["--checkpoint", str(checkpoint)]
    process = subprocess.Popen(
        [*command, "serve", *chosen, *arguments, "--port", str(port)],
        cwd=cwd,
        env={**os.environ, **environment},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/api/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def start_server() -> Callable[..., AbstractContextManager[str]]:
    """`with start_server(checkpoint, command=..., cwd=..., **environment) as url:` a real server on loopback."""
    return running_server


@pytest.fixture(scope="session")
def tiny_checkpoint(
    tmp_path_factory: pytest.TempPathFactory, tiny_config: SAGANConfig, make_generator: Callable[..., Generator]
) -> Path:
    path = tmp_path_factory.mktemp("e2e") / "tiny.pt"
    torch.manual_seed(1)
    training = {"steps": 3, "data": "test data", "licence": "none", "attribution": "made in the test"}
    save_checkpoint(path, tiny_config, make_generator(), Discriminator(tiny_config), training)
    return path


@pytest.fixture(scope="session")
def server_url(tiny_checkpoint: Path) -> Iterator[str]:
    with running_server(tiny_checkpoint) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"the page raised: {errors}"


def read_canvas(page, selector: str) -> np.ndarray:
    """A canvas's pixels as (height, width, 3) uint8."""
    data = page.evaluate(
        """(selector) => {
            const canvas = document.querySelector(selector);
            const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            return { width: canvas.width, height: canvas.height, pixels: Array.from(pixels) };
        }""",
        selector,
    )
    return np.array(data["pixels"], dtype=np.uint8).reshape(data["height"], data["width"], 4)[:, :, :3]


def fetch_heatmap(server_url: str, model: str, seed: int, **params: object) -> np.ndarray:
    """The API's heatmap PNG of a sample, decoded to (height, width, 3) uint8."""
    response = httpx.get(f"{server_url}/api/models/{model}/samples/{seed}/heatmap.png", params=params)
    response.raise_for_status()
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def click_output_pixel(page, x: int, y: int, image_size: int = 64) -> None:
    """Click the centre of output pixel (x, y) of the sample shown on the page."""
    box = page.locator("#image-stack").bounding_box()
    page.mouse.click(
        box["x"] + (x + 0.5) * box["width"] / image_size, box["y"] + (y + 0.5) * box["height"] / image_size
    )


def compare_maps(shown: np.ndarray, expected: np.ndarray) -> None:
    """Two drawings of one map agree: the page divides in float64 and the server in float32, so a value
    exactly on a LUT boundary may land one entry over, nothing more."""
    assert shown.shape == expected.shape
    difference = np.abs(shown.astype(int) - expected.astype(int))
    assert difference.max() <= 4, f"largest channel difference {difference.max()}"
    assert (difference.max(axis=2) == 0).mean() > 0.99


def record_every_frame(page, snapshot: str) -> Callable[[], list]:
    """Call the JS arrow function `snapshot` on every animation frame from now on; the returned
    callable gives what it returned, frame by frame."""
    page.evaluate(f"""() => {{
        const snapshot = {snapshot};
        window.recorded_frames = [];
        const record = () => {{ window.recorded_frames.push(snapshot()); requestAnimationFrame(record); }};
        requestAnimationFrame(record);
    }}""")
    return lambda: page.evaluate("window.recorded_frames")


def throttle_network(page, latency_ms: int, bytes_per_second: int) -> None:
    """Emulate a slow link for the page (Chromium's DevTools protocol)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    conditions = {"latency": latency_ms, "downloadThroughput": bytes_per_second, "uploadThroughput": bytes_per_second}
    cdp.send("Network.emulateNetworkConditions", {"offline": False, **conditions})


@pytest.fixture(scope="session")
def every_frame() -> Callable[..., Callable[[], list]]:
    """`frames = every_frame(page, "() => ({...})")`: record a snapshot on every animation frame; `frames()` reads them."""
    return record_every_frame


@pytest.fixture(scope="session")
def slow_network() -> Callable[..., None]:
    """`slow_network(page, latency_ms, bytes_per_second)`: throttle the page's network."""
    return throttle_network


@pytest.fixture(scope="session")
def same_map() -> Callable[[np.ndarray, np.ndarray], None]:
    """`same_map(shown, expected)`: assert two RGB drawings of a map agree up to LUT rounding."""
    return compare_maps


@pytest.fixture(scope="session")
def canvas_pixels() -> Callable[..., np.ndarray]:
    """`canvas_pixels(page, selector)`: a canvas's pixels as (height, width, 3) uint8."""
    return read_canvas


@pytest.fixture(scope="session")
def heatmap_png() -> Callable[..., np.ndarray]:
    """`heatmap_png(server_url, model, seed, **params)`: the API's heatmap, decoded."""
    return fetch_heatmap


@pytest.fixture(scope="session")
def click_pixel() -> Callable[..., None]:
    """`click_pixel(page, x, y, image_size=64)`: click an output pixel of the shown sample."""
    return click_output_pixel
