"""Expensive work is bounded: a flood of figures or γ = 0 samples gets 503, and cached heatmaps keep their pace."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import numpy as np

from tests.app.serving import BASE, run_scenario, served, slow_model, tiny_app

HEATMAP = f"{BASE}/3/heatmap.png?x=20&y=30&layer=attn2&overlay=true&size=256"  # as the page shows it
FIGURE = "/api/models/tiny/figure.png?seed=3&pins=1,1;20,30;40,50;60,2&mass=50&width={}&height={}"


async def _heatmap_seconds(client: httpx.AsyncClient, count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        response = await client.get(HEATMAP)
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 200
    return seconds


def test_a_figure_flood_gets_503_past_the_bound_and_cached_heatmaps_keep_their_latency(checkpoint_path: Path) -> None:
    model, _ = slow_model(checkpoint_path, 0.0)

    async def scenario() -> tuple[list[float], list[float], list[int]]:
        async with served(tiny_app(model, figures_waiting=2)) as client:
            assert (await client.get(FIGURE.format(400, 200))).status_code == 200
            await _heatmap_seconds(client, 20)  # warm
            idle = await _heatmap_seconds(client, 100)
            flood = [asyncio.create_task(client.get(FIGURE.format(1600, 800))) for _ in range(12)]
            await asyncio.sleep(0.2)  # the twelve are admitted or refused
            loaded = []
            while not all(task.done() for task in flood) and len(loaded) < 400:
                loaded += await _heatmap_seconds(client, 10)
            statuses = [response.status_code for response in await asyncio.gather(*flood)]
            idle += await _heatmap_seconds(client, 100)  # before and after, as the machine's other load drifts
            return idle, loaded, statuses

    idle, loaded, statuses = run_scenario(scenario())
    assert sorted(statuses) == [200] * 3 + [503] * 9, "one figure drawn and two queued; the other nine refused"
    assert len(loaded) >= 50, "the flood should last a while"
    idle_p99, loaded_p99 = np.percentile(idle, 99), np.percentile(loaded, 99)
    assert loaded_p99 <= 2 * idle_p99, f"heatmap p99 {loaded_p99:.4f} s under the flood, {idle_p99:.4f} s idle"


def test_a_flood_of_gamma_zero_samples_gets_503_past_the_bound(checkpoint_path: Path) -> None:
    model, forward = slow_model(checkpoint_path, 0.2)

    async def scenario() -> list[httpx.Response]:
        async with served(tiny_app(model, analysis_waiting=4)) as client:
            assert (await client.get(f"{BASE}/3.png")).status_code == 200
            requests = [f"{BASE}/3/ablation.png?layer=attn{1 + index % 2}" for index in range(2)]
            requests += [f"{BASE}/3/effect?layer=attn1"] + ["/api/models/tiny/effect-means"]
            requests += [f"{BASE}/3/ablation-difference.png?layer=attn1&colormap=magma"] * 6
            return await asyncio.gather(*(client.get(path) for path in requests))

    responses = run_scenario(scenario())
    statuses = [response.status_code for response in responses]
    assert statuses.count(503) >= 4 and statuses.count(200) >= 1, statuses
    refused = next(response for response in responses if response.status_code == 503)
    assert int(refused.headers["retry-after"]) >= 1 and "retry in" in refused.json()["detail"]
    assert len(forward.passes) <= 1 + 5 * 4, "at most the sample and five analyses (effect means: four passes)"
