"""Figures drawn in one worker process, so matplotlib's CPU time never holds the server's GIL.

The pool is shared by every app in this process and started on the first figure; a worker that
dies (out of memory, say) is replaced on the next figure, and a worker whose server dies without
shutting the pool down (killed, say) exits by itself.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.figure import figure_png_and_boxes, figure_svg
from app.views import FigureView, figure_spec

__all__ = ["FigureRequest", "draw_png", "draw_svg", "in_figure_process"]

log = logging.getLogger(__name__)

FIGURE_NICENESS = 10
_pool: ProcessPoolExecutor | None = None


@dataclass(frozen=True)
class FigureRequest:
    image: np.ndarray  # (S, S, 3) uint8
    matrix: np.ndarray  # (N, M) float32, the layer's map
    pins: Sequence[tuple[int, int]]
    view: FigureView


def draw_png(request: FigureRequest, width: int, height: int) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """The PNG and each pin's map box in it (x0, y0, x1, y1 pixels)."""
    return figure_png_and_boxes(figure_spec(request.image, request.matrix, request.pins, request.view), width, height)


def draw_svg(request: FigureRequest) -> bytes:
    return figure_svg(figure_spec(request.image, request.matrix, request.pins, request.view))


PARENT_CHECK_SECONDS = 1.0


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _start_worker(parent: int) -> None:
    """Figures are background work: the server's own requests get the CPU first."""
    os.nice(FIGURE_NICENESS)
    threading.Thread(target=_exit_with, args=(parent,), name="exit-with-server", daemon=True).start()


def _worker_pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        context = multiprocessing.get_context("spawn")
        _pool = ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
        )
    return _pool


async def in_figure_process(draw: object, *args: object) -> Any:
    """`draw(*args)` in the figure process; a broken pool is dropped, so the next call starts a fresh one."""
    global _pool
    pool = _worker_pool()
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, draw, *args)  # type: ignore[arg-type]
    except BrokenProcessPool:
        log.error("the figure process died; starting a new one for the next figure")
        if _pool is pool:
            _pool = None
        raise
