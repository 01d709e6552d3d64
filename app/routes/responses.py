"""Response helpers shared by the routers: cache headers and 304s, PNG bodies, colormap lookup, the error schema."""

from __future__ import annotations

import numpy as np
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from app import render
from app.routes.deps import query_error
from app.service import ModelService

__all__ = ["PNG", "ErrorMessage", "cache_headers", "colormap_lut", "not_modified", "png_response"]


class ErrorMessage(BaseModel):
    detail: str


PNG = {"content": {"image/png": {}}, "description": "PNG image"}


def download_name(
    model: str,
    seed: int,
    class_index: int | None,
    truncation: float | None,
    layer: str,
    head: str,
    *rest: str,
    suffix: str,
) -> str:
    """The file name a download offers: model, sample, layer and head (the mean of heads unnamed), then `rest`."""
    sample = [str(seed)]
    if class_index is not None:
        sample.append(f"class{class_index}")
    if truncation is not None:
        sample.append(f"truncation{truncation:g}")
    heads = [] if head == "mean" else [f"head{head}"]
    return "-".join([model, *sample, layer, *heads, *rest]) + f".{suffix}"


def cache_headers(service: ModelService, etag: str | None = None) -> dict[str, str]:
    """Browsers revalidate, so a retrained checkpoint under the same name is never shown stale.

    Every response is a pure function of its URL and the weights, so the weights' digest is its ETag;
    a gzipped body is another representation and gets its own.
    """
    return {"Cache-Control": "no-cache", "ETag": etag or service.etag}


def not_modified(request: Request, service: ModelService, etag: str | None = None) -> Response | None:
    if request.headers.get("if-none-match") == (etag or service.etag):
        return Response(status_code=304, headers=cache_headers(service, etag))
    return None


def colormap_lut(colormap: str, parameter: str = "colormap", where: str = "query") -> np.ndarray:
    try:
        return render.colormap_lut(colormap)
    except KeyError:
        message = f"unknown colormap {colormap[:64]!r}; use a matplotlib name such as viridis (see /api/colormaps)"
        raise query_error(parameter, message, where) from None


def png_response(rgb: np.ndarray, service: ModelService, headers: dict[str, str] | None = None) -> Response:
    return Response(
        render.encode_png(rgb), media_type="image/png", headers={**cache_headers(service), **(headers or {})}
    )
