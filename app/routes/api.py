"""REST API: models and layers, sample images, heatmap PNGs and raw attention."""

from __future__ import annotations

import asyncio
import io
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response

from app import render
from app.cache import Sample
from app.render import Direction
from app.routes.deps import (
    ColormapQuery,
    DirectionQuery,
    LayerQuery,
    ModelDep,
    PixelDep,
    SampleDep,
    reject_ambiguous_queries,
    resolve_layer,
)
from app.routes.heads import MEAN, HeadQuery, layer_map
from app.routes.responses import (
    PNG,
    ErrorMessage,
    cache_headers,
    colormap_lut,
    download_name,
    not_modified,
    png_response,
)
from app.service import ModelService
from app.transfer import compact_slices, gzip_if_accepted
from models.capture import count_forward_hooks
from models.geometry import AttentionLayer, cell_bounds, pixel_to_cell
from models.interception import active_captures

router = APIRouter(
    prefix="/api",
    tags=["api"],
    dependencies=[Depends(reject_ambiguous_queries)],
    responses={
        404: {"model": ErrorMessage, "description": "unknown model"},
        414: {"model": ErrorMessage},
        503: {"model": ErrorMessage, "description": "busy: past a bound on new samples or expensive work; see Retry-After"},
    },
)


def _timing(sample: Sample) -> dict[str, str]:
    """How long the sample's forward pass took (the first response for a new sample waited for it)."""
    return {"Server-Timing": f"generate;dur={sample.generate_seconds * 1000:.1f}"}


def _slice(
    service: ModelService,
    sample: Sample,
    view: AttentionLayer,
    pixel: tuple[int, int],
    direction: Direction,
    head: str = MEAN,
) -> tuple[np.ndarray, int]:
    """The pixel's row (on the key grid) or column (on the query grid) of the head's map, and its flat index."""
    x, y = pixel
    matrix = layer_map(sample, view, head)
    return render.attention_slice(matrix, x, y, direction, service.image_size, view.query_grid, view.key_grid)


@router.get("/models", summary="List models and their attention layers")
async def list_models(request: Request) -> dict[str, Any]:
    """Every served model with its attention layers: query grid, key grid, channels and γ."""
    models = request.app.state.models
    return {"default": request.app.state.default_model, "models": [service.describe() for service in models.values()]}


@router.get("/health", summary="Server state: models, cache use, the generation queue and registered forward hooks")
async def health(request: Request) -> dict[str, Any]:
    """`forward_hooks` counts hooks on each generator and `capture_modes` the interception captures open in
    the process; both are 0 whenever no capture is running. `cache_hits` and `cache_misses` count sample
    look-ups; `queue` counts new samples pending, made, dropped unwanted and refused."""
    return {
        "capture_modes": active_captures(),
        "models": {name: _health_of(service) for name, service in request.app.state.models.items()},
    }


def _health_of(service: ModelService) -> dict[str, Any]:
    queue = service.queue
    return {
        "cached_samples": len(service.cache),
        "cache_bytes": service.cache.bytes_used,
        "cache_bound_bytes": service.cache.max_bytes,
        "cache_hits": service.cache.hits,
        "cache_misses": service.cache.misses,
        "analysis_cache_bytes": service.analysis_cache.bytes_used,
        "analysis_cache_bound_bytes": service.analysis_cache.max_bytes,
        "forward_hooks": count_forward_hooks(service.generator),
        "queue": {
            "pending": queue.pending,
            "bound": queue.max_pending,
            "batch_size": queue.batch_size,
            "forward_passes": queue.stats.runs,
            "made": queue.stats.made,
            "dropped": queue.stats.dropped,
            "interrupted": queue.stats.interrupted,
            "refused": queue.stats.refused,
        },
    }


@router.get("/colormaps", summary="List colormap names")
async def list_colormaps() -> dict[str, list[str]]:
    return {"colormaps": render.colormap_names()}


@router.get("/colormaps/{name}", summary="A colormap's 256-entry lookup table")
async def colormap(name: Annotated[str, Path(max_length=64, description="matplotlib colormap name")]) -> dict[str, Any]:
    return {"name": name, "lut": colormap_lut(name, "name", "path").tolist()}


@router.get("/models/{model}/samples/{seed}.png", summary="The sample image", responses={200: PNG})
async def sample_image(
    request: Request,
    service: ModelDep,
    sample: SampleDep,
    size: Annotated[
        int | None, Query(ge=8, le=1024, description="output side in pixels, nearest-neighbour; default: the model's")
    ] = None,
) -> Response:
    if cached := not_modified(request, service):
        return cached
    return png_response(render.upscale_nearest(sample.image, size or service.image_size), service)


@router.get(
    "/models/{model}/samples/{seed}/heatmap.png",
    summary="Attention heatmap of one pixel",
    responses={200: PNG},
)
async def heatmap(
    request: Request,
    service: ModelDep,
    sample: SampleDep,
    pixel: PixelDep,
    layer: LayerQuery = None,
    head: HeadQuery = MEAN,
    direction: DirectionQuery = Direction.row,
    colormap: ColormapQuery = "viridis",
    overlay: Annotated[bool, Query(description="draw over the sample image")] = False,
    opacity: Annotated[float, Query(ge=0.0, le=1.0, description="heatmap opacity when overlaid")] = 0.6,
    size: Annotated[
        int | None,
        Query(
            ge=8, le=1024, description="side in pixels; default: the map's own grid, or the image size when overlaid"
        ),
    ] = None,
    marker: Annotated[
        bool, Query(description="outline the clicked pixel's cell: the query cell for row, the key cell for column")
    ] = False,
) -> Response:
    """`row`: where pixel (x, y) looks. `column`: what looks at pixel (x, y). Scaled by the map's maximum."""
    x, y = pixel
    view = resolve_layer(service, layer)
    lut = colormap_lut(colormap)
    if cached := not_modified(request, service):
        return cached
    values, _ = _slice(service, sample, view, pixel, direction, head)
    if size is None:
        size = service.image_size if overlay else values.shape[0]
    marker_grid = view.query_grid if direction is Direction.row else view.key_grid
    row, col, _ = pixel_to_cell(x, y, service.image_size, marker_grid)
    rgb = render.render_heatmap(
        values,
        lut,
        size,
        image=sample.image if overlay else None,
        opacity=opacity,
        marker=cell_bounds(row, col, service.image_size, marker_grid) if marker else None,
        image_size=service.image_size,
    )
    return png_response(rgb, service)


@router.get("/models/{model}/samples/{seed}/attention", summary="One row or column of the attention map, as JSON")
async def attention_values(
    service: ModelDep,
    sample: SampleDep,
    pixel: PixelDep,
    layer: LayerQuery = None,
    head: HeadQuery = MEAN,
    direction: DirectionQuery = Direction.row,
) -> dict[str, Any]:
    """The raw values: a row sums to 1 over the key grid; a column lies on the query grid and does not."""
    x, y = pixel
    view = resolve_layer(service, layer)
    values, index = _slice(service, sample, view, pixel, direction, head)
    grid = view.query_grid if direction is Direction.row else view.key_grid
    row, col, _ = pixel_to_cell(x, y, service.image_size, grid)
    return {
        "model": service.name,
        "seed": sample.seed,
        "class": sample.class_index,
        "truncation": sample.truncation,
        "layer": view.name,
        "head": head,
        "heads": view.heads,
        "direction": direction.value,
        "x": x,
        "y": y,
        "gamma": view.gamma,
        "query_grid": view.query_grid,
        "key_grid": view.key_grid,
        "cell": {"row": row, "col": col, "index": index, "grid": grid},
        "cell_pixels": cell_bounds(row, col, service.image_size, grid),
        "shape": list(values.shape),
        "sum": float(values.sum(dtype=np.float64)),
        "max": float(values.max()),
        "values": values.tolist(),
    }


def _matrix_responses(description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"content": {"application/octet-stream": {}}, "description": description},
        413: {"model": ErrorMessage, "description": "matrix larger than the server's max_matrix_bytes"},
    }


def _whole_matrix(
    request: Request, service: ModelService, sample: Sample, layer: str | None, head: str
) -> tuple[AttentionLayer, np.ndarray]:
    view = resolve_layer(service, layer)
    matrix = layer_map(sample, view, head)
    limit = request.app.state.settings.max_matrix_bytes
    if matrix.nbytes > limit:
        raise HTTPException(
            413, f"{view.name} is {matrix.nbytes:,} bytes, over this server's {limit:,}; fetch rows with /attention"
        )
    return view, matrix


@router.get(
    "/models/{model}/samples/{seed}/attention.npy",
    summary="The whole attention matrix of a layer, as .npy",
    responses=_matrix_responses("float32 (N, M) array"),
)
async def attention_matrix(
    request: Request, service: ModelDep, sample: SampleDep, layer: LayerQuery = None, head: HeadQuery = MEAN
) -> Response:
    """float32 (N, M): row i is query cell i (row-major on the query grid), column j key cell j."""
    view, matrix = _whole_matrix(request, service, sample, layer, head)
    if cached := not_modified(request, service):
        return cached
    buffer = io.BytesIO()
    np.save(buffer, matrix)
    filename = download_name(
        service.name, sample.seed, sample.class_index, sample.truncation, view.name, head, suffix="npy"
    )
    headers = {**cache_headers(service), "Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(buffer.getvalue(), media_type="application/octet-stream", headers=headers)


@router.get(
    "/models/{model}/samples/{seed}/attention.f32",
    summary="The whole attention matrix of a layer, as raw little-endian float32, for the page",
    responses=_matrix_responses("float32 (N, M), row-major, no header; grids in X-Query-Grid and X-Key-Grid"),
)
async def attention_matrix_raw(
    request: Request, service: ModelDep, sample: SampleDep, layer: LayerQuery = None, head: HeadQuery = MEAN
) -> Response:
    view, matrix = _whole_matrix(request, service, sample, layer, head)
    if cached := not_modified(request, service):
        return cached
    headers = {**cache_headers(service), "X-Query-Grid": str(view.query_grid), "X-Key-Grid": str(view.key_grid)}
    return Response(matrix.astype("<f4", copy=False).tobytes(), media_type="application/octet-stream", headers=headers)


@router.get(
    "/models/{model}/samples/{seed}/slice.f32",
    summary="One row or column of the attention map, as raw float32, for the page's first map",
    responses={200: {"content": {"application/octet-stream": {}}, "description": "float32 slice, little-endian"}},
)
async def attention_slice_raw(
    request: Request,
    service: ModelDep,
    sample: SampleDep,
    pixel: PixelDep,
    layer: LayerQuery = None,
    head: HeadQuery = MEAN,
    direction: DirectionQuery = Direction.row,
) -> Response:
    """`row`: the query cell's M values on the key grid (sums to 1); `column`: the key cell's N values on the
    query grid. Row-major, no header; the grid side and the flat cell index are in X-Grid and X-Cell-Index,
    the forward pass's time in Server-Timing."""
    view = resolve_layer(service, layer)
    values, index = _slice(service, sample, view, pixel, direction, head)
    headers = {
        **cache_headers(service),
        **_timing(sample),
        "X-Grid": str(values.shape[0]),
        "X-Cell-Index": str(index),
    }
    if cached := not_modified(request, service):
        return cached
    return Response(values.astype("<f4").tobytes(), media_type="application/octet-stream", headers=headers)


@router.get(
    "/models/{model}/samples/{seed}/slices.u8",
    summary="Every row or every column of a layer's map, 8 bits per value with a scale per slice",
    responses={
        200: {
            "content": {"application/octet-stream": {}},
            "description": "K float32 little-endian scales, then K·L uint8 values; gzip when accepted",
        }
    },
)
async def attention_compact(
    request: Request,
    service: ModelDep,
    sample: SampleDep,
    layer: LayerQuery = None,
    head: HeadQuery = MEAN,
    direction: DirectionQuery = Direction.row,
) -> Response:
    """The data that hovering needs, about a quarter of the float32 matrix before gzip.

    `row`: K = N slices (query cells, row-major on the query grid) of L = M values (the key grid);
    `column`: K = M slices (key cells) of L = N values (the query grid). Each slice is stored as
    q = floor(255·v/s + 0.5) with s its maximum, so v ≈ q·s/255 (within s/510), and q is exactly the
    colour-table index the heatmap PNG uses. Body: the K scales s (float32, little-endian), then the
    K·L bytes q, slice after slice. Headers: X-Slices (K), X-Slice-Length (L), X-Query-Grid, X-Key-Grid.
    """
    view = resolve_layer(service, layer)
    matrix = layer_map(sample, view, head)
    gzipped = "gzip" in request.headers.get("accept-encoding", "").lower()
    etag = service.etag[:-1] + '-gz"' if gzipped else service.etag
    if cached := not_modified(request, service, etag):
        return cached
    accept = request.headers.get("accept-encoding", "")
    body, gzipped = await asyncio.to_thread(lambda: gzip_if_accepted(compact_slices(matrix, direction.value), accept))
    count, length = matrix.shape if direction is Direction.row else matrix.shape[::-1]
    headers = {
        **cache_headers(service, etag),
        "Vary": "Accept-Encoding",
        "X-Slices": str(count),
        "X-Slice-Length": str(length),
        "X-Query-Grid": str(view.query_grid),
        "X-Key-Grid": str(view.key_grid),
    }
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/octet-stream", headers=headers)
