"""Bounds on expensive work: a few run at once, a few more wait, the rest are told to come back later."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["ServerBusyError", "WorkLimit"]


class ServerBusyError(Exception):
    """Answered as 503 with `Retry-After: retry_after` and the message as its detail."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WorkLimit:
    """`async with limit.slot():` at most `running` bodies at once and `waiting` more queued; others get
    ServerBusyError. Event-loop only."""

    def __init__(self, what: str, running: int, waiting: int, retry_after: int = 2) -> None:
        if running < 1 or waiting < 0:
            raise ValueError(f"a work limit needs running ≥ 1 and waiting ≥ 0, got {running}, {waiting}")
        self.what = what
        self.running = running
        self.waiting = waiting
        self.retry_after = retry_after
        self.admitted = 0
        self.refused = 0
        self._semaphore = asyncio.Semaphore(running)

    def check(self) -> None:
        """ServerBusyError if a slot asked for now would be refused: a cheap refusal before any work."""
        if self.admitted >= self.running + self.waiting:
            self.refused += 1
            raise ServerBusyError(
                f"the server is already busy with {self.admitted} {self.what}, its limit; "
                f"retry in {self.retry_after} s",
                self.retry_after,
            )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        self.check()
        self.admitted += 1
        try:
            async with self._semaphore:
                yield
        finally:
            self.admitted -= 1
