"""Bounded soak test on loopback: many requests at fixed concurrency, mixing new and cached seeds.

    .venv/bin/python -m benchmarks.soak [--requests 20000] [--clients 32]

Prints the error count and the server's RSS every few thousand requests, and says whether RSS
levelled off under the cache bound instead of growing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

from app.settings import DEFAULT_CHECKPOINT, model_name_for
from benchmarks.bench_explorer import Connection, heatmap_path, machine_description, rss_mib, start_server

CACHED_SEEDS = range(16)


async def soak(
    port: int, model: str, total: int, clients: int, new_fraction: float, samples: list[tuple[int, float]], pid: int
) -> int:
    counter = {"sent": 0, "done": 0, "errors": 0, "next_new_seed": 50_000_000}
    checkpoint_every = max(total // 10, 1)

    async def client(index: int) -> None:
        rng = random.Random(index)
        connection = await Connection.open(port)
        try:
            while counter["sent"] < total:
                counter["sent"] += 1
                if rng.random() < new_fraction:
                    counter["next_new_seed"] += 1
                    seed = counter["next_new_seed"]
                else:
                    seed = rng.choice(CACHED_SEEDS)
                counter["errors"] += await connection.get(heatmap_path(model, seed, rng)) != 200
                counter["done"] += 1
                if counter["done"] % checkpoint_every == 0:
                    samples.append((counter["done"], rss_mib(pid)[0]))
        finally:
            connection.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return counter["errors"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--new-fraction", type=float, default=0.05, help="share of requests for never-seen seeds")
    parser.add_argument("--cache-mib", type=int, default=32)
    args = parser.parse_args(argv)

    model = model_name_for(args.checkpoint)
    process = start_server(args.checkpoint, args.port, args.cache_mib)
    samples: list[tuple[int, float]] = []
    try:
        start = time.perf_counter()
        errors = asyncio.run(
            soak(args.port, model, args.requests, args.clients, args.new_fraction, samples, process.pid)
        )
        elapsed = time.perf_counter() - start
        rss_now, rss_peak = rss_mib(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)

    half = len(samples) // 2
    first_half_peak = max(rss for _, rss in samples[:half]) if half else 0.0
    second_half_peak = max(rss for _, rss in samples[half:]) if samples else 0.0
    growth = second_half_peak - first_half_peak
    print(f"Machine: {machine_description()}")
    print(
        f"Soak: {args.requests:,} requests, {args.clients} clients, {args.new_fraction:.0%} new seeds, "
        f"cache bound {args.cache_mib} MiB, {elapsed:.1f} s ({args.requests / elapsed:,.0f} req/s)\n"
    )
    print("| requests answered | server RSS (MiB) |")
    print("|---|---|")
    for sent, rss in samples:
        print(f"| {sent:,} | {rss:.0f} |")
    print(f"\nerrors: {errors}; RSS now {rss_now:.0f} MiB, peak {rss_peak:.0f} MiB")
    levelled = growth <= 16
    print(
        f"second-half peak minus first-half peak: {growth:+.0f} MiB -> "
        f"{'levelled off' if levelled else 'STILL GROWING'}; errors {'none' if errors == 0 else 'PRESENT'}"
    )
    return 0 if errors == 0 and levelled else 1


if __name__ == "__main__":
    sys.exit(main())
