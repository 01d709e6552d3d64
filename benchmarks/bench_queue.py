"""Benchmark of the generation queue and the server's bounds, against the real server on loopback.

    .venv/bin/python -m benchmarks.bench_queue [--checkpoint PATH | --random-biggan 128] [--users 8] [--abandoned 100]

Starts `sagan-attn serve` (2 torch threads; the default model unless --checkpoint) and measures:

- "next" pressed 5 times fast in headless Chromium: last click → last map, against one "next";
- one new sample's latency right after `--abandoned` clients asked for new samples and hung up,
  against the same request on an idle server;
- `--users` clients asking for 3 new samples each at once: samples per second and p95 latency,
  with batch_size 1 and with batch_size = users;
- heatmap p99 of a cached sample, idle and while 12 clients keep asking for 4096×4096 figures,
  waiting as Retry-After says after each 503, or retrying every 50 ms.

Prints one markdown table with the targets beside the measurements.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
from pathlib import Path

import httpx

from app.settings import DEFAULT_CHECKPOINT, model_name_for
from benchmarks.bench_explorer import HOST, Connection, machine_description, percentile, start_server
from benchmarks.bench_transfer import write_random_biggan

FIGURE = "figure.png?seed=1&pins=" + ";".join(f"{4 * k},{5 * k}" for k in range(1, 11)) + "&width=4096&height=4096"


def next_five_seconds(port: int, first_seed: int) -> tuple[float, float, float]:
    """(one "next" → its map; of five fast "next": last click → last map, first click → last map), seconds."""
    from playwright.sync_api import sync_playwright

    from scripts.chromium import launch_chromium

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"http://{HOST}:{port}/?seed={first_seed}")
        page.wait_for_selector("#heatmap[data-painted]", timeout=600_000)
        started = time.perf_counter()
        page.click("#next-seed")
        page.wait_for_selector(f'#heatmap[data-seed="{first_seed + 1}"][data-painted]', timeout=600_000)
        one = time.perf_counter() - started
        first_click = time.perf_counter()
        for _ in range(5):
            page.click("#next-seed")
        last_click = time.perf_counter()
        page.wait_for_selector(f'#heatmap[data-seed="{first_seed + 6}"][data-painted]', timeout=600_000)
        painted = time.perf_counter()
        browser.close()
    return one, painted - last_click, painted - first_click


async def _timed_get(port: int, path: str) -> float:
    connection = await Connection.open(port)
    try:
        started = time.perf_counter()
        status = await connection.get(path)
        if status != 200:
            raise RuntimeError(f"{path}: HTTP {status}")
        return time.perf_counter() - started
    finally:
        connection.close()


def _forward_passes(port: int, model: str) -> int:
    return httpx.get(f"http://{HOST}:{port}/api/health").json()["models"][model]["queue"]["forward_passes"]


def after_abandoned(port: int, model: str, abandoned: int, first_seed: int) -> tuple[float, float, int]:
    """(a new sample on the idle server, a new sample right after `abandoned` clients asked for new samples and
    hung up, in seconds; forward passes run besides that sample's own)."""
    idle = asyncio.run(_timed_get(port, f"/api/models/{model}/samples/{first_seed}.png"))
    passes = _forward_passes(port, model)
    connections = []
    for index in range(abandoned):
        connection = socket.create_connection((HOST, port))
        path = f"/api/models/{model}/samples/{first_seed + 1 + index}.png"
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        connections.append(connection)
    for connection in connections:
        connection.close()
    after = asyncio.run(_timed_get(port, f"/api/models/{model}/samples/{first_seed + abandoned + 1}.png"))
    return idle, after, _forward_passes(port, model) - passes - 1


async def _users(port: int, model: str, users: int, first_seed: int, per_user: int = 3) -> tuple[float, list[float]]:
    async def user(index: int) -> list[float]:
        seeds = range(first_seed + index * per_user, first_seed + (index + 1) * per_user)
        return [await _timed_get(port, f"/api/models/{model}/samples/{seed}.png") for seed in seeds]

    started = time.perf_counter()
    latencies = [seconds for times in await asyncio.gather(*(user(k) for k in range(users))) for seconds in times]
    return users * per_user / (time.perf_counter() - started), latencies


async def _heatmaps(port: int, model: str, count: int) -> list[float]:
    connection = await Connection.open(port)
    path = f"/api/models/{model}/samples/1/heatmap.png?x=10&y=20&overlay=true&size=512"
    try:
        await connection.get(path)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            await connection.get(path)
            times.append(time.perf_counter() - started)
        return times
    finally:
        connection.close()


async def _flood(
    port: int, model: str, clients: int, heatmaps: int, pause: float
) -> tuple[list[float], dict[int, int]]:
    """Heatmap times while `clients` keep asking for big figures, each waiting `pause` s after a 503."""
    statuses: dict[int, int] = {}
    stop = asyncio.Event()

    async def figure_client() -> None:
        connection = await Connection.open(port)
        try:
            while not stop.is_set():
                status = await connection.get(f"/api/models/{model}/{FIGURE}")
                statuses[status] = statuses.get(status, 0) + 1
                if status == 503:
                    await asyncio.sleep(pause)
        finally:
            connection.close()

    flood = [asyncio.create_task(figure_client()) for _ in range(clients)]
    await asyncio.sleep(0.5)
    times = await _heatmaps(port, model, heatmaps)
    stop.set()
    await asyncio.gather(*flood)
    return times, statuses


def row(measure: str, result: str, target: str = "–", verdict: str = "–") -> str:
    return f"| {measure} | {result} | {target} | {verdict} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument(
        "--random-biggan", type=int, choices=(128, 256, 512), help="serve BigGAN-deep at this size, random weights"
    )
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--abandoned", type=int, default=100)
    parser.add_argument("--skip-browser", action="store_true", help="leave out the Chromium measurement")
    args = parser.parse_args(argv)
    if args.random_biggan:
        folder = Path(tempfile.mkdtemp(prefix="bench-queue-")) / f"biggan-deep-{args.random_biggan}"
        args.checkpoint = write_random_biggan(args.random_biggan, folder)
    model = model_name_for(args.checkpoint)
    rows = [row("measure", "result", "target", "verdict"), "|---|---|---|---|"]
    ms = lambda seconds: f"{seconds * 1000:,.0f} ms"  # noqa: E731

    for batch in (1, args.users):
        process = start_server(args.checkpoint, args.port, None, {"SAGAN_ATTN_BATCH_SIZE": str(batch)})
        try:
            asyncio.run(_timed_get(args.port, f"/api/models/{model}/samples/0.png"))  # warm
            rate, latencies = asyncio.run(_users(args.port, model, args.users, 10_000 * batch))
            rows.append(
                row(
                    f"{args.users} users × 3 new samples at once, batch_size {batch}",
                    f"{rate:.2f} samples/s, p95 {ms(percentile(latencies, 0.95))}",
                )
            )
            if batch > 1:
                continue
            if not args.skip_browser:
                one, five, whole = next_five_seconds(args.port, 500)
                rows.append(
                    row(
                        '"next" ×5 in Chromium: last click → last map',
                        f"{ms(five)}, first click → last map {ms(whole)} (one next: {ms(one)}, {five / one:.2f}×)",
                        "≤ 1.3× one next",
                        "met" if five <= 1.3 * one else "MISSED",
                    )
                )
            idle, after, extra = after_abandoned(args.port, model, args.abandoned, 20_000)
            rows.append(
                row(
                    f"new sample after {args.abandoned} abandoned requests",
                    f"{ms(after)} (idle: {ms(idle)}); {extra} extra forward passes ran",
                    "at most one extra forward pass",
                    "met" if extra <= 1 else "MISSED",
                )
            )
            quiet = asyncio.run(_heatmaps(args.port, model, 300))
            quiet_p99 = percentile(quiet, 0.99)
            for pause, who in ((2.0, "waiting the 2 s Retry-After"), (0.05, "retrying every 50 ms")):
                loaded, statuses = asyncio.run(_flood(args.port, model, 12, 300, pause))
                loaded_p99 = percentile(loaded, 0.99)
                answered = ", ".join(f"{count}× {status}" for status, count in sorted(statuses.items()))
                rows.append(
                    row(
                        f"heatmap p99 (512 px overlay), 12 clients asking for 4096² figures, {who}",
                        f"{ms(loaded_p99)} (idle {ms(quiet_p99)}; figures: {answered})",
                        "≤ 2× idle",
                        "met" if loaded_p99 <= 2 * quiet_p99 else "MISSED",
                    )
                )
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"{model} on {machine_description()}\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
