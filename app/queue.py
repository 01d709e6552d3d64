"""The generation queue: new samples are made only for requests still waiting, newest wanted first.

Every request for a sample that is not cached waits on the one pending job for its key. A request
that is cancelled (its client hung up) stops waiting; a job that nobody waits for is dropped before
it starts, and a running batch that nobody waits for may stop part-way (`run` returns None). Jobs
run one batch at a time on the caller's executor: the most recently wanted job, with up to
`batch_size − 1` others that can share its forward pass. Pending distinct jobs are bounded; past
the bound `QueueFullError` says when to retry.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import math
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from app.limits import ServerBusyError

__all__ = ["GenerationQueue", "QueueFullError"]

log = logging.getLogger(__name__)

Key = TypeVar("Key", bound=Hashable)
Result = TypeVar("Result")


class QueueFullError(ServerBusyError):
    """The queue holds `pending` distinct jobs already; `retry_after` is an estimate in whole seconds."""

    def __init__(self, pending: int, retry_after: int) -> None:
        super().__init__(
            f"the server is already making {pending} new samples, its limit; retry in {retry_after} s, "
            "or ask for a sample that is already made",
            retry_after,
        )
        self.pending = pending


@dataclass(eq=False)
class _Job(Generic[Key, Result]):
    key: Key
    future: asyncio.Future[Result]
    waiters: int = 0
    wanted: int = 0  # when a request last asked for it; the largest goes first
    started: bool = False


@dataclass
class QueueStats:
    runs: int = 0  # batches finished, i.e. forward passes that ran to the end
    made: int = 0  # jobs run, i.e. samples made
    dropped: int = 0  # jobs dropped unwanted, before they started or part-way
    interrupted: int = 0  # batches stopped part-way because nobody waited any more
    refused: int = 0  # requests answered with QueueFullError
    seconds_per_run: float = field(default=0.0)  # of the last batch


def _anyone_waits(batch: list[_Job[Key, Result]]) -> bool:
    return any(job.waiters > 0 for job in batch)


class GenerationQueue(Generic[Key, Result]):
    """`await queue.get(key)`: the result of `run([key, ...], wanted)` for `key`, shared by every concurrent waiter.

    `run(keys, wanted)` runs on `executor` and returns one result per key, in order, or None if it
    stopped because `wanted()` turned false. `group(key)` says which keys may share a batch (equal
    groups only). All other methods run on the event loop.
    """

    def __init__(
        self,
        run: Callable[[Sequence[Key], Callable[[], bool]], Sequence[Result] | None],
        executor: Executor,
        max_pending: int,
        batch_size: int = 1,
        group: Callable[[Key], Hashable] = lambda key: None,
    ) -> None:
        if max_pending < 1 or batch_size < 1:
            raise ValueError(f"max_pending and batch_size must be at least 1, got {max_pending}, {batch_size}")
        self._run = run
        self._executor = executor
        self.max_pending = max_pending
        self.batch_size = batch_size
        self._group = group
        self._pending: dict[Key, _Job[Key, Result]] = {}
        self._order = itertools.count(1)
        self._worker: asyncio.Task[None] | None = None
        self.stats = QueueStats()

    @property
    def pending(self) -> int:
        """Distinct jobs waiting or running."""
        return len(self._pending)

    def retry_after(self) -> int:
        batches = math.ceil(len(self._pending) / self.batch_size)
        return max(1, math.ceil(batches * self.stats.seconds_per_run))

    async def get(self, key: Key) -> Result:
        job = self._pending.get(key)
        if job is None:
            if len(self._pending) >= self.max_pending:
                self.stats.refused += 1
                raise QueueFullError(len(self._pending), self.retry_after())
            job = _Job(key, asyncio.get_running_loop().create_future())
            self._pending[key] = job
        job.waiters += 1
        job.wanted = next(self._order)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="generation-queue")
        try:
            return await asyncio.shield(job.future)
        finally:
            job.waiters -= 1
            if job.waiters == 0 and not job.started and self._pending.get(key) is job:
                del self._pending[key]
                job.future.cancel()
                self.stats.dropped += 1

    def _next_batch(self) -> list[_Job[Key, Result]]:
        waiting = sorted((job for job in self._pending.values() if not job.started), key=lambda job: -job.wanted)
        if not waiting:
            return []
        group = self._group(waiting[0].key)
        return [job for job in waiting if self._group(job.key) == group][: self.batch_size]

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while batch := self._next_batch():
            for job in batch:
                job.started = True
            started = loop.time()
            keys = [job.key for job in batch]
            wanted = functools.partial(_anyone_waits, batch)  # called from the executor's thread
            try:
                results = await loop.run_in_executor(self._executor, self._run, keys, wanted)
            except Exception as error:  # noqa: BLE001  every waiter gets the job's own error
                log.exception("making %d samples failed", len(batch))
                for job in batch:
                    self._finish(job, error=error)
            else:
                if results is None:
                    self._requeue_or_drop(batch)
                    continue
                for job, result in zip(batch, results, strict=True):
                    self._finish(job, result=result)
            self.stats.runs += 1
            self.stats.made += len(batch)
            self.stats.seconds_per_run = loop.time() - started

    def _requeue_or_drop(self, batch: list[_Job[Key, Result]]) -> None:
        """After a batch stopped part-way: a job someone asked for again meanwhile waits to run again."""
        self.stats.interrupted += 1
        for job in batch:
            if job.waiters > 0:
                job.started = False
            else:
                del self._pending[job.key]
                job.future.cancel()
                self.stats.dropped += 1

    def _finish(self, job: _Job[Key, Result], result: Result | None = None, error: BaseException | None = None) -> None:
        if self._pending.get(job.key) is job:
            del self._pending[job.key]
        if job.future.done():
            return
        if error is None:
            job.future.set_result(result)  # type: ignore[arg-type]
        else:
            job.future.set_exception(error)
            if job.waiters == 0:
                job.future.exception()  # nobody will read it

    async def close(self) -> None:
        """Stop the worker; whatever still waits is cancelled."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        for job in self._pending.values():
            job.future.cancel()
        self._pending.clear()
