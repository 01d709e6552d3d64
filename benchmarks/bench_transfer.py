"""What a new sample costs in the browser: forward pass, bytes sent, time to the first map, hover.

    .venv/bin/python -m benchmarks.bench_transfer [--sizes 128 256 512] [--samples 4]

For the default (emoji) model and BigGAN-deep at 128, 256 and 512 px with the real architectures
and random weights (timing does not depend on the weights; bytes after gzip a little, through how
peaked the maps are), it starts the real server with 2 torch threads, opens the page in headless
Chromium and presses "next" several times, on loopback and under 10 Mbit/s with 40 ms latency
(CDP Network.emulateNetworkConditions). Per new sample it measures:

- the forward pass with capture, as the server reports it (Server-Timing of the slice request);
- the bytes received for the sample (image, first slice, compact hover data), on the wire (CDP);
- "next" pressed → first map painted, and that time minus the forward pass;
- then, once the hover data is in, pointer event → map on the canvas over many cells (p95).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from app.settings import DEFAULT_CHECKPOINT, model_name_for
from benchmarks.bench_explorer import HOST, machine_description, percentile, start_server
from models.biggan import BIGGAN_DEEP_CONFIGS, BigGANDeep

MIB = 2**20
THROTTLED = {"offline": False, "latency": 40, "downloadThroughput": 10e6 / 8, "uploadThroughput": 10e6 / 8}
UNTHROTTLED = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}

PROBE = """
() => {
  window.__bench = { clicks: [], paints: [] };
  document.getElementById("next-seed").addEventListener(
    "click", () => window.__bench.clicks.push(performance.now()), { capture: true });
  new MutationObserver(() => window.__bench.paints.push(
      [performance.now(), document.getElementById("heatmap").dataset.seed]))
    .observe(document.getElementById("heatmap"), { attributes: true, attributeFilter: ["data-painted"] });
}
"""
GENERATE_MS = """
(seed) => {
  const entry = performance.getEntriesByType("resource")
    .filter((e) => e.name.includes(`/samples/${seed}/slice.f32`)).pop();
  return entry?.serverTiming?.find((t) => t.name === "generate")?.duration ?? null;
}
"""


@dataclass
class Measured:
    model: str
    forward_ms: list[float]
    bytes_per_sample: list[int]
    first_map_ms: dict[str, list[float]]  # condition → times
    after_forward_ms: list[float]  # loopback first map minus the forward pass
    hover_ms: list[float]
    query_grid: int


def write_random_biggan(size: int, folder: Path) -> Path:
    """The real BigGAN-deep architecture at `size` px with torch's default initialisation, as its two files."""
    folder.mkdir(parents=True, exist_ok=True)
    config = BIGGAN_DEEP_CONFIGS[size]
    torch.manual_seed(size)
    model = BigGANDeep(config)
    (folder / "config.json").write_text(json.dumps(config.to_dict()), encoding="utf-8")
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


def measure(checkpoint: Path, port: int, samples: int, hover_moves: int) -> Measured:
    from playwright.sync_api import sync_playwright

    from scripts.chromium import launch_chromium

    name = model_name_for(checkpoint)
    process = start_server(checkpoint, port, cache_mib=96)
    url = f"http://{HOST}:{port}"
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            cdp = page.context.new_cdp_session(page)
            cdp.send("Network.enable")
            urls: dict[str, str] = {}
            received: dict[str, int] = {}
            cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
            cdp.on("Network.loadingFinished", lambda e: received.__setitem__(e["requestId"], e["encodedDataLength"]))

            seed = 1000
            page.goto(f"{url}/?seed={seed}")
            page.wait_for_selector("#heatmap[data-painted]", timeout=600_000)
            page.evaluate(PROBE)
            model = json.loads(page.locator("#explorer").get_attribute("data-models"))[0]
            layer = next(layer for layer in model["layers"] if layer["name"] == model["default_layer"])
            result = Measured(name, [], [], {"loopback": [], "throttled": []}, [], [], layer["query_grid"])
            for condition, network in (("loopback", UNTHROTTLED), ("throttled", THROTTLED)):
                cdp.send("Network.emulateNetworkConditions", network)
                for _ in range(samples):
                    seed += 1
                    with page.expect_response(lambda r, s=seed: f"/samples/{s}/slices.u8" in r.url, timeout=600_000):
                        page.click("#next-seed")
                        page.wait_for_selector(f'#heatmap[data-seed="{seed}"]', timeout=600_000)
                    page.wait_for_timeout(100)  # let the last loadingFinished event arrive
                    clicks, paints = page.evaluate("() => [window.__bench.clicks, window.__bench.paints]")
                    painted = next(time for time, shown in paints if shown == str(seed))
                    first_map = painted - clicks[-1]
                    forward = page.evaluate(GENERATE_MS, seed)
                    result.first_map_ms[condition].append(first_map)
                    if condition == "loopback":
                        result.forward_ms.append(forward)
                        result.after_forward_ms.append(first_map - forward)
                        wanted = f"/samples/{seed}"
                        result.bytes_per_sample.append(
                            sum(size for rid, size in received.items() if wanted in urls.get(rid, ""))
                        )
            cdp.send("Network.emulateNetworkConditions", UNTHROTTLED)
            result.hover_ms = hover(page, model["image_size"], layer["query_grid"], hover_moves)
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return result


HOVER_PROBE = """
() => {
  window.__hover = { inputs: [], paints: [] };
  window.addEventListener("pointermove", (event) => window.__hover.inputs.push(event.timeStamp), { capture: true });
  new MutationObserver(() => window.__hover.paints.push(performance.now()))
    .observe(document.getElementById("heatmap"), { attributes: true, attributeFilter: ["data-painted"] });
}
"""


def hover(page, image_size: int, grid: int, moves: int) -> list[float]:
    """Pointer moves from query cell to query cell once the hover data is in: input event → map on the canvas."""
    box = page.locator("#image-stack").bounding_box()
    for attempt in range(600):  # moves paint from a slice until the hover data is in, then from it
        page.mouse.move(box["x"] + 2 + attempt % 2 * box["width"] / 2, box["y"] + 2)
        if page.locator('#heatmap[data-source="compact"]').count():
            break
        page.wait_for_timeout(100)
    page.evaluate(HOVER_PROBE)
    step = image_size // grid
    latencies = []
    for index in range(moves):
        col, row = (index * 7) % grid, (index * 13 + index // grid) % grid
        x, y = col * step + step // 2, row * step + step // 2
        page.mouse.move(
            box["x"] + (x + 0.5) * box["width"] / image_size, box["y"] + (y + 0.5) * box["height"] / image_size
        )
        page.wait_for_selector(f'#heatmap[data-x="{x}"][data-y="{y}"]', state="attached", timeout=5000)
        inputs, paints = page.evaluate("() => [window.__hover.inputs.pop(), window.__hover.paints.pop()]")
        latencies.append(paints - inputs)
    return latencies


def row(measure: str, result: str, target: str = "–", verdict: str = "–") -> str:
    return f"| {measure} | {result} | {target} | {verdict} |"


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(measured: Measured) -> list[str]:
    name = measured.model
    forward = percentile(measured.forward_ms, 0.5)
    bytes_p50 = percentile(measured.bytes_per_sample, 0.5)
    loopback = percentile(measured.first_map_ms["loopback"], 0.5)
    throttled = percentile(measured.first_map_ms["throttled"], 0.5)
    after = percentile(measured.after_forward_ms, 0.5)
    hover_p95 = percentile(measured.hover_ms, 0.95)
    byte_target = {"emoji_sagan": 1 * MIB, "biggan-deep-128": 4 * MIB}.get(name)
    lines = [
        row(f"{name}: new sample, forward pass with capture p50 (2 threads)", f"{forward:,.0f} ms"),
        row(
            f"{name}: bytes per new sample p50 (image + slice + hover data)",
            f"{bytes_p50 / MIB:.2f} MiB",
            f"≤ {byte_target / MIB:g} MiB" if byte_target else "–",
            met(bytes_p50 <= byte_target) if byte_target else "–",
        ),
        row(f"{name}: next → first map p50, loopback", f"{loopback:,.0f} ms"),
        row(
            f"{name}: next → first map p50, 10 Mbit/s + 40 ms",
            f"{throttled:,.0f} ms",
            "≤ 300 ms" if name == "emoji_sagan" else "–",
            met(throttled <= 300) if name == "emoji_sagan" else "–",
        ),
        row(
            f"{name}: first map after the forward pass ends p50, loopback",
            f"{after:,.0f} ms",
            "≤ 150 ms",
            met(after <= 150),
        ),
        row(
            f"{name}: hover p95 ({measured.query_grid}×{measured.query_grid} query grid)",
            f"{hover_p95:.1f} ms",
            "≤ 16 ms",
            met(hover_p95 <= 16),
        ),
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="the SAGAN model to measure")
    parser.add_argument("--sizes", type=int, nargs="*", choices=sorted(BIGGAN_DEEP_CONFIGS), default=[128, 256, 512])
    parser.add_argument("--samples", type=int, default=4, help="new samples per network condition")
    parser.add_argument("--hover-moves", type=int, default=200)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)

    lines = []
    with tempfile.TemporaryDirectory(prefix="bench-biggan-") as scratch:
        checkpoints = [args.checkpoint]
        checkpoints += [write_random_biggan(size, Path(scratch) / f"biggan-deep-{size}") for size in args.sizes]
        for checkpoint in checkpoints:
            print(f"measuring {checkpoint.name} …", file=sys.stderr, flush=True)
            lines += report(measure(checkpoint, args.port, args.samples, args.hover_moves))
            if checkpoint != args.checkpoint:
                for file in checkpoint.iterdir():
                    file.unlink()  # a few hundred MB each

    print(f"Machine: {machine_description()}; torch threads 2; load average {os.getloadavg()[0]:.1f}")
    print(f"{args.samples} new samples per condition; Chromium headless, CDP network emulation\n")
    print("| measure | result | target | verdict |")
    print("|---|---|---|---|")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
