"""Where the page's files and the shipped weights live, found through `importlib.resources`.

A wheel ships `static/` and `templates/` inside the `app` package and the weights inside `models`;
a source checkout keeps `static/` and `templates/` at the top of the repository.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from models.registry import SHIPPED_MODEL as DEFAULT_CHECKPOINT

__all__ = ["DEFAULT_CHECKPOINT", "DOCS_ASSETS", "STATIC", "TEMPLATES"]

_CHECKOUT = Path(__file__).resolve().parent.parent


def _page_folder(name: str) -> Path:
    bundled = Path(str(files("app").joinpath(name)))
    return bundled if bundled.is_dir() else _CHECKOUT / name


STATIC = _page_folder("static")
TEMPLATES = _page_folder("templates")
DOCS_ASSETS = Path(str(files("fastapi_offline").joinpath("static")))  # Swagger UI and ReDoc, bundled
