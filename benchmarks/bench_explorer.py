"""Benchmark of the explorer on this machine: clicks, new samples, the naive pipeline, memory, hover.

    .venv/bin/python -m benchmarks.bench_explorer [--checkpoint PATH] [--duration 5]

Starts the real server (uvicorn on 127.0.0.1, the default trained model), sends bounded load to it
over loopback only, and prints one markdown table with the targets beside the measurements.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import os
import platform
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from app.settings import DEFAULT_CHECKPOINT, model_name_for
from models.capture import AttentionCapture
from models.checkpoint import load_checkpoint
from models.sagan import sample_latents

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CACHED_SEEDS = list(range(4))  # a few, well inside the default cache bound
LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


@dataclass
class Row:
    measure: str
    result: str
    target: str
    verdict: str


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Connection:
    """A minimal HTTP/1.1 keep-alive client, so the load generator costs little CPU beside the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def get(self, path: str) -> int:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        match = LENGTH.search(header)
        await self.reader.readexactly(int(match.group(1)) if match else 0)
        return status

    def close(self) -> None:
        self.writer.close()


def heatmap_path(model: str, seed: int, rng: random.Random) -> str:
    layer = rng.choice(["attn1", "attn2"])
    direction = rng.choice(["row", "column"])
    x, y = rng.randrange(64), rng.randrange(64)
    return f"/api/models/{model}/samples/{seed}/heatmap.png?layer={layer}&x={x}&y={y}&direction={direction}"


async def load_test(
    port: int, model: str, clients: int, duration: float, max_requests: int
) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration
    budget = [max_requests]

    async def client(index: int) -> None:
        nonlocal errors
        rng = random.Random(index)
        connection = await Connection.open(port)
        try:
            while time.perf_counter() < deadline and budget[0] > 0:
                budget[0] -= 1
                path = heatmap_path(model, rng.choice(CACHED_SEEDS), rng)
                start = time.perf_counter()
                status = await connection.get(path)
                latencies.append(time.perf_counter() - start)
                errors += status != 200
        finally:
            connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - start
    return latencies, len(latencies) / elapsed, errors


async def new_sample_latencies(port: int, model: str, count: int, first_seed: int) -> list[float]:
    connection = await Connection.open(port)
    rng = random.Random(1)
    latencies = []
    try:
        for seed in range(first_seed, first_seed + count):
            start = time.perf_counter()
            status = await connection.get(heatmap_path(model, seed, rng))
            latencies.append(time.perf_counter() - start)
            assert status == 200, status
    finally:
        connection.close()
    return latencies


async def view_distinct_seeds(port: int, model: str, count: int, first_seed: int, clients: int = 2) -> int:
    seeds = iter(range(first_seed, first_seed + count))
    errors = 0

    async def client(index: int) -> None:
        nonlocal errors
        rng = random.Random(index)
        connection = await Connection.open(port)
        try:
            for seed in seeds:
                errors += await connection.get(heatmap_path(model, seed, rng)) != 200
        finally:
            connection.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return errors


def naive_click_latencies(checkpoint: Path, clicks: int) -> list[float]:
    """What notebooks do: a forward pass per click, then a matplotlib figure saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    generator = load_checkpoint(checkpoint).generator
    classes = torch.zeros(1, dtype=torch.long) if generator.config.conditional else None
    rng = random.Random(2)
    latencies = []
    for _ in range(clicks):
        seed, x, y = rng.choice(CACHED_SEEDS), rng.randrange(64), rng.randrange(64)
        start = time.perf_counter()
        with torch.no_grad(), AttentionCapture(generator, ["attn2"]) as capture:
            generator(sample_latents([seed], generator.config.z_dim), classes)
        row = capture.maps["attn2"][0, (y // 2) * 32 + x // 2]
        side = math.isqrt(row.numel())
        row = row.reshape(side, side).numpy()
        figure, axis = plt.subplots(figsize=(4, 4))
        axis.imshow(row, cmap="viridis")
        axis.axis("off")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
        latencies.append(time.perf_counter() - start)
    return latencies


def rss_mib(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


HOVER_PROBE = """
() => {
  const heatmap = document.getElementById("heatmap");
  window.__hover = { inputs: [], paints: [] };
  window.addEventListener("pointermove", (event) => window.__hover.inputs.push(event.timeStamp), { capture: true });
  new MutationObserver(() => window.__hover.paints.push(performance.now()))
    .observe(heatmap, { attributes: true, attributeFilter: ["data-painted"] });
}
"""


def hover_latencies(url: str, moves: int) -> list[float]:
    """Real pointer moves through Chromium's input pipeline; each is timed from the input event's
    timestamp to the moment the new map is on the canvas (ready for the next composited frame)."""
    from playwright.sync_api import sync_playwright

    from scripts.chromium import launch_chromium

    latencies = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{url}/?seed=0&x=63&y=63")
        page.wait_for_selector("#heatmap[data-painted]")
        box = page.locator("#image-stack").bounding_box()
        page.evaluate(HOVER_PROBE)
        for index in range(moves):
            x, y = (index * 7) % 64, (index * 13 + index // 64) % 64
            page.mouse.move(box["x"] + (x + 0.5) * box["width"] / 64, box["y"] + (y + 0.5) * box["height"] / 64)
            page.wait_for_selector(f'#heatmap[data-x="{x}"][data-y="{y}"]', timeout=5000)
            inputs, paints = page.evaluate("() => [window.__hover.inputs.pop(), window.__hover.paints.pop()]")
            latencies.append((paints - inputs) / 1000)
        browser.close()
    return latencies


def machine_description() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
        f"{platform.system()} {platform.release()}"
    )


def start_server(
    checkpoint: Path, port: int, cache_mib: int | None, settings: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`sagan-attn serve` on loopback; `settings` are SAGAN_ATTN_ variables (cache_mib None: the default)."""
    environment = {**os.environ, **(settings or {})}
    if cache_mib is not None:
        environment["SAGAN_ATTN_CACHE_BYTES"] = str(cache_mib * 2**20)
    command = [sys.executable, "-m", "app.cli", "serve", "--checkpoint", str(checkpoint), "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            asyncio.run(_probe(port))
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not start within 60 s")


async def _probe(port: int) -> None:
    connection = await Connection.open(port)
    try:
        if await connection.get("/api/models") != 200:
            raise OSError("not ready")
    finally:
        connection.close()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load level")
    parser.add_argument("--max-requests", type=int, default=50_000, help="cap per load level")
    parser.add_argument("--distinct-seeds", type=int, default=1000)
    parser.add_argument("--hover-moves", type=int, default=300)
    parser.add_argument("--cache-mib", type=int, default=32, help="server sample-cache bound")
    args = parser.parse_args(argv)

    model = model_name_for(args.checkpoint)
    process = start_server(args.checkpoint, args.port, args.cache_mib)
    rows: list[Row] = []
    try:
        asyncio.run(new_sample_latencies(args.port, model, len(CACHED_SEEDS), CACHED_SEEDS[0]))  # warm the cache
        heatmap_p50 = None
        for clients in (1, 8, 32):
            latencies, throughput, errors = asyncio.run(
                load_test(args.port, model, clients, args.duration, args.max_requests)
            )
            p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
            if clients == 1:
                heatmap_p50 = p50
                rows.append(Row("heatmap HTTP p50, cached sample, 1 client", ms(p50), "≤ 2 ms", verdict(p50 <= 0.002)))
            target = "≥ 1,500 heatmaps/s" if clients == 32 else "–"
            ok = throughput >= 1500 if clients == 32 else True
            rows.append(
                Row(
                    f"heatmaps, {clients} clients: p50 / p99 / throughput",
                    f"{ms(p50)} / {ms(p99)} / {throughput:,.0f}/s ({errors} errors)",
                    target,
                    verdict(ok and errors == 0) if clients == 32 else ("no errors" if errors == 0 else "ERRORS"),
                )
            )

        new = asyncio.run(new_sample_latencies(args.port, model, 50, 10_000_000))
        new_p50 = percentile(new, 0.5)
        rows.append(
            Row(
                "new sample end to end p50 / p99",
                f"{ms(new_p50)} / {ms(percentile(new, 0.99))}",
                "≤ 20 ms p50",
                verdict(new_p50 <= 0.020),
            )
        )

        naive = naive_click_latencies(args.checkpoint, 40)
        naive_p50 = percentile(naive, 0.5)
        speedup = naive_p50 / heatmap_p50
        rows.append(Row("naive click (forward + matplotlib savefig) p50", ms(naive_p50), "–", "–"))
        rows.append(
            Row(
                "speed-up of a cached heatmap over the naive click",
                f"{speedup:,.0f}×",
                "≥ 100×",
                verdict(speedup >= 100),
            )
        )

        errors = asyncio.run(view_distinct_seeds(args.port, model, args.distinct_seeds, 20_000_000))
        rss, peak = rss_mib(process.pid)
        rows.append(
            Row(
                f"server RSS after {args.distinct_seeds:,} distinct seeds (now / peak)",
                f"{rss:.0f} MiB / {peak:.0f} MiB, cache bound {args.cache_mib} MiB ({errors} errors)",
                "≤ 400 MB",
                verdict(peak * 2**20 <= 400e6 and errors == 0),
            )
        )

        hover = hover_latencies(f"http://{HOST}:{args.port}", args.hover_moves)
        hover_p95 = percentile(hover, 0.95)
        rows.append(
            Row(
                "hover: pointer event to map on canvas, Chromium, p50 / p95",
                f"{ms(percentile(hover, 0.5))} / {ms(hover_p95)}",
                "≤ 16 ms p95",
                verdict(hover_p95 <= 0.016),
            )
        )
    finally:
        process.terminate()
        process.wait(timeout=10)

    print(f"Machine: {machine_description()}")
    print(f"Model: {args.checkpoint.name}; {args.duration:g} s per load level; loopback only\n")
    print("| measure | result | target | verdict |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row.measure} | {row.result} | {row.target} | {row.verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
