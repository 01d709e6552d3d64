"""ASGI middleware that cancels a request whose client hangs up before the response starts.

Starlette keeps running a handler after its client has gone; cancelled here, a request waiting on
the generation queue stops waiting, so nobody's forward pass is spent on it.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["CancelOnDisconnect"]

Message = dict[str, Any]


class CancelOnDisconnect:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        response_started = False
        hung_up = False

        async def tracked_send(message: Message) -> None:
            nonlocal response_started
            response_started = True
            await send(message)

        handler = asyncio.ensure_future(self.app(scope, inbox.get, tracked_send))

        async def relay() -> None:
            nonlocal hung_up
            while True:
                message = await receive()
                inbox.put_nowait(message)
                if message["type"] == "http.disconnect":
                    if not response_started and not handler.done():
                        hung_up = True
                        handler.cancel()
                    return

        relaying = asyncio.ensure_future(relay())
        try:
            await handler
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not hung_up or (current is not None and current.cancelling()):
                raise
        finally:
            relaying.cancel()
