"""How uvicorn serves the app: h11, whose parser refuses request headers past a documented size."""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_HEADER_BYTES", "SERVER_OPTIONS"]

MAX_HEADER_BYTES = 64 * 2**10  # request line and headers together; more is answered 400 and the connection closed

SERVER_OPTIONS: dict[str, Any] = {"http": "h11", "h11_max_incomplete_event_size": MAX_HEADER_BYTES}
