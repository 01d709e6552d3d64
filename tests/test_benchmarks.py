"""The benchmarks' own model code runs on the shipped model (the timings themselves are the benchmarks' to print)."""

from __future__ import annotations

from app.settings import DEFAULT_CHECKPOINT
from benchmarks import bench_capture, bench_explorer


def test_bench_capture_measures_every_generator_with_and_without_capture() -> None:
    results = bench_capture.measure(rounds=1)
    assert len(results) == 4
    assert all(without > 0 and with_ > 0 for without, with_, _ in results.values())


def test_bench_explorer_naive_click_draws_a_map_per_click() -> None:
    latencies = bench_explorer.naive_click_latencies(DEFAULT_CHECKPOINT, 2)
    assert len(latencies) == 2 and all(latency > 0 for latency in latencies)
