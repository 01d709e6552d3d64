"""The generation queue makes only what someone waits for: shared jobs, cancellation, newest first, a bound."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from app.queue import GenerationQueue, QueueFullError
from tests.app.serving import BASE, listening, run_scenario, served, slow_model, tiny_app

FORWARD_SECONDS = 0.3


def test_five_cancelled_of_six_new_samples_cost_no_whole_forward_pass(checkpoint_path: Path) -> None:
    model, forward = slow_model(checkpoint_path, FORWARD_SECONDS)

    async def scenario() -> int:
        async with served(tiny_app(model)) as client:
            requests = []
            for seed in range(100, 106):
                requests.append(asyncio.create_task(client.get(f"{BASE}/{seed}.png")))
                await asyncio.sleep(0.01)  # the first starts running, the other five wait
            for request in requests[:5]:
                request.cancel()
            return (await requests[5]).status_code

    assert run_scenario(scenario()) == 200
    assert len(forward.passes) <= 2, f"only the pass already running and the 6th's may start, not {forward.passes}"
    assert forward.finished == [(105,)], "the running pass nobody waits for stops part-way"


def test_clients_that_hang_up_stop_waiting_and_the_next_request_costs_about_one_pass(checkpoint_path: Path) -> None:
    model, forward = slow_model(checkpoint_path, FORWARD_SECONDS)
    with listening(tiny_app(model)) as url:
        host, port = url.removeprefix("http://").split(":")
        connections = []
        for seed in range(100):
            connection = socket.create_connection((host, int(port)))
            connection.sendall(f"GET {BASE}/{1000 + seed}.png HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            connections.append(connection)
        time.sleep(0.1)
        for connection in connections:
            connection.close()
        deadline = time.monotonic() + 15  # until the server has seen every hang-up, however busy the machine
        while (
            httpx.get(f"{url}/api/health").json()["models"]["tiny"]["queue"]["pending"] and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        response = httpx.get(f"{url}{BASE}/5.png", timeout=30)
        health = httpx.get(f"{url}/api/health").json()["models"]["tiny"]
    assert response.status_code == 200
    # At most one extra full pass: the first abandoned one may end before its client hangs up (opening
    # 100 connections can outlast a pass on a busy machine); every later one stopped part-way.
    assert forward.finished[-1] == (5,) and forward.passes[-1] == (5,), forward.passes
    assert forward.finished[:-1] in ([], forward.passes[:1]), forward.finished
    assert health["queue"]["pending"] == 0 and health["queue"]["dropped"] >= 1


def test_a_running_pass_nobody_waits_for_stops_part_way_unless_someone_asks_again(checkpoint_path: Path) -> None:
    model, forward = slow_model(checkpoint_path, FORWARD_SECONDS)

    async def scenario() -> tuple[list[int], dict[str, int]]:
        async with served(tiny_app(model)) as client:
            abandoned = asyncio.create_task(client.get(f"{BASE}/100.png"))
            await asyncio.sleep(0.1)  # running
            abandoned.cancel()
            again = asyncio.create_task(client.get(f"{BASE}/101.png"))
            await asyncio.sleep(0.05)
            first = await client.get(f"{BASE}/101/attention?x=1&y=2")
            asked_again = asyncio.create_task(client.get(f"{BASE}/102.png"))
            await asyncio.sleep(0.1)
            rejoined = asyncio.create_task(client.get(f"{BASE}/102/attention?x=1&y=2"))
            asked_again.cancel()  # its first asker leaves, but someone asks for 102 before the pass checks
            responses = [await again, first, await rejoined]
            health = (await client.get("/api/health")).json()["models"]["tiny"]["queue"]
            return [response.status_code for response in responses], health

    statuses, queue = run_scenario(scenario())
    assert statuses == [200, 200, 200]
    assert forward.finished == [(101,), (102,)], "100 was stopped part-way; 102 finished for whoever still waited"
    assert queue["interrupted"] == 1 and queue["dropped"] == 1 and queue["pending"] == 0


def test_past_the_pending_bound_new_samples_get_503_with_retry_after(checkpoint_path: Path) -> None:
    model, forward = slow_model(checkpoint_path, FORWARD_SECONDS)

    async def scenario() -> tuple[list[httpx.Response], httpx.Response, httpx.Response]:
        async with served(tiny_app(model, queue_bound=2)) as client:
            waiting = [asyncio.create_task(client.get(f"{BASE}/{seed}.png")) for seed in (1, 2)]
            await asyncio.sleep(0.05)
            refused = await client.get(f"{BASE}/3.png")
            joined = asyncio.create_task(client.get(f"{BASE}/2/attention?x=1&y=1"))  # a pending key is joined
            return await asyncio.gather(*waiting), refused, await joined

    answered, refused, joined = run_scenario(scenario())
    assert [response.status_code for response in answered] == [200, 200] and joined.status_code == 200
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    assert "retry in" in refused.json()["detail"] and "already made" in refused.json()["detail"]
    assert sorted(forward.passes) == [(1,), (2,)]


def test_two_waiters_on_one_key_cause_one_forward_pass(checkpoint_path: Path) -> None:
    model, forward = slow_model(checkpoint_path, FORWARD_SECONDS)

    async def scenario() -> list[httpx.Response]:
        async with served(tiny_app(model)) as client:
            return await asyncio.gather(
                client.get(f"{BASE}/42.png"), client.get(f"{BASE}/42/heatmap.png?x=3&y=4&layer=attn1")
            )

    responses = run_scenario(scenario())
    assert [response.status_code for response in responses] == [200, 200]
    assert forward.passes == [(42,)]


def test_the_newest_wanted_sample_is_made_first(checkpoint_path: Path) -> None:
    model, forward = slow_model(checkpoint_path, FORWARD_SECONDS)

    async def scenario() -> None:
        async with served(tiny_app(model)) as client:
            requests = []
            for seed in (10, 11, 12, 13):  # "next" pressed four times, each a little later
                requests.append(asyncio.create_task(client.get(f"{BASE}/{seed}.png")))
                await asyncio.sleep(0.02)
            requests.append(asyncio.create_task(client.get(f"{BASE}/11/attention?x=0&y=0")))  # 11 wanted again
            await asyncio.gather(*requests)

    run_scenario(scenario())
    assert forward.passes == [(10,), (11,), (13,), (12,)]


def test_a_job_nobody_waits_for_is_dropped_and_errors_reach_every_waiter() -> None:
    made: list[list[int]] = []

    def run(keys: list[int], wanted: Callable[[], bool]) -> list[int]:
        time.sleep(0.1)
        made.append(list(keys))
        if 7 in keys:
            raise RuntimeError("seven fails")
        return [key * 10 for key in keys]

    async def scenario() -> tuple[list[object], int]:
        with ThreadPoolExecutor(1) as executor:
            queue: GenerationQueue[int, int] = GenerationQueue(run, executor, max_pending=3, batch_size=2)
            first = asyncio.create_task(queue.get(1))
            await asyncio.sleep(0.02)
            dropped = asyncio.create_task(queue.get(2))
            failing = [asyncio.create_task(queue.get(7)) for _ in range(2)]
            await asyncio.sleep(0.02)
            try:
                await queue.get(9)
            except QueueFullError as error:
                refused = error.pending
            dropped.cancel()
            results = await asyncio.gather(first, *failing, return_exceptions=True)
            await queue.close()
            return results, refused

    results, refused = run_scenario(scenario())
    assert results[0] == 10
    assert all(isinstance(error, RuntimeError) and str(error) == "seven fails" for error in results[1:])
    assert refused == 3
    assert made == [[1], [7]]


def test_a_stopped_batch_runs_again_for_a_waiter_who_came_meanwhile() -> None:
    calls: list[list[int]] = []

    def run(keys: list[int], wanted: Callable[[], bool]) -> list[int] | None:
        calls.append(list(keys))
        time.sleep(0.2)
        return None if len(calls) == 1 else [key + 1 for key in keys]  # the first pass "stops part-way"

    async def scenario() -> int:
        with ThreadPoolExecutor(1) as executor:
            queue: GenerationQueue[int, int] = GenerationQueue(run, executor, max_pending=4)
            first = asyncio.create_task(queue.get(5))
            await asyncio.sleep(0.05)
            first.cancel()
            await asyncio.sleep(0.05)
            result = await queue.get(5)  # joins the running job, which stops, so it runs again
            stats = queue.stats
            await queue.close()
            assert (stats.interrupted, stats.dropped, stats.runs) == (1, 0, 1), "runs counts finished passes"
            return result

    assert run_scenario(scenario()) == 6
    assert calls == [[5], [5]]
