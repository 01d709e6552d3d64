"""Debian's headless Chromium, launched the same way by the end-to-end tests, benchmarks and screenshots."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "launch_chromium", "opened_page"]

CHROMIUM = Path(os.environ.get("SAGAN_ATTN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(playwright: Any) -> Any:
    """A headless Chromium `Browser` from a started `sync_playwright()`; a missing binary is named."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@contextmanager
def opened_page(url: str, ready: str, viewport: tuple[int, int] = (1240, 860)) -> Iterator[Any]:
    """A Playwright `Page` at `url` in a fresh headless Chromium, once the selector `ready` shows; closed after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.goto(url)
            page.wait_for_selector(ready)
            yield page
        finally:
            browser.close()
