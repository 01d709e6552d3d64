"""REST API for what attention adds and for reading a view: γ = 0 samples, effect maps, contrast slices, figures."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from app import render
from app.cache import Sample
from app.figure import FIGURE_PIXELS, MAX_ASPECT, MAX_PINS
from app.figure_process import FigureRequest, draw_png, draw_svg, in_figure_process
from app.render import Direction
from app.routes.deps import (
    ColormapQuery,
    DirectionQuery,
    LayerQuery,
    ModelDep,
    PixelDep,
    SampleDep,
    SeedQuerySampleDep,
    query_error,
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
from app.service import EFFECT_SEEDS, ModelService
from app.views import CONTRAST_FORMULAS, FigureContrast, FigureView, contrast_slice
from models.capture import attention_layer_names
from models.reading import Contrast, Scale

EFFECT_FORMULA = "‖γ·o‖ / ‖x‖ per query cell: L2 over channels of what the layer adds over its input"

router = APIRouter(
    prefix="/api",
    tags=["analysis"],
    dependencies=[Depends(reject_ambiguous_queries)],
    responses={
        404: {"model": ErrorMessage, "description": "unknown model"},
        414: {"model": ErrorMessage},
        503: {
            "model": ErrorMessage,
            "description": "busy: past a bound on new samples or expensive work; see Retry-After",
        },
    },
)

SAMPLE = "/models/{model}/samples/{seed}"


@router.get(
    f"{SAMPLE}/ablation.png", summary="The sample regenerated with one layer's γ set to 0", responses={200: PNG}
)
async def ablation_image(request: Request, service: ModelDep, sample: SampleDep, layer: LayerQuery = None) -> Response:
    """The same latent through the same weights, except that `layer` returns its input unchanged (γ = 0),
    at the model's image size. The served weights are never changed: a private γ = 0 copy of the layer
    stands in for it during this forward pass only."""
    view = resolve_layer(service, layer)
    require_gamma(service, view.name)
    if cached := not_modified(request, service):
        return cached
    ablated = await service.ablation_async(sample, view.name)
    return png_response(ablated.image, service)


@router.get(
    f"{SAMPLE}/ablation-difference.png",
    summary="Per-pixel difference between the sample and its γ = 0 version",
    responses={200: PNG},
)
async def ablation_difference(
    request: Request,
    service: ModelDep,
    sample: SampleDep,
    layer: LayerQuery = None,
    colormap: ColormapQuery = "viridis",
) -> Response:
    """d = meanₖ |image − image₍γ=0₎| over the 3 colour channels, images on [−1, 1] (so 0 ≤ d ≤ 2), coloured on
    [0, max d] at the model's image size. Headers: `X-Difference-Max` and `X-Difference-Mean`, in image units."""
    view = resolve_layer(service, layer)
    require_gamma(service, view.name)
    lut = colormap_lut(colormap)
    if cached := not_modified(request, service):
        return cached
    difference = (await service.ablation_async(sample, view.name)).difference  # (S, S)
    headers = {
        "X-Difference-Max": repr(float(difference.max())),
        "X-Difference-Mean": repr(float(difference.mean(dtype=np.float64))),
    }
    return png_response(render.colorize(render.scale_for_display(difference), lut), service, headers)


class EffectMap(BaseModel):
    layer: str
    query_grid: int
    values: list[float]
    mean: float
    formula: str


@router.get(
    f"{SAMPLE}/effect",
    summary="How much a layer's attention moves its features, per query cell",
    response_model=EffectMap,
)
async def effect(request: Request, service: ModelDep, sample: SampleDep, layer: LayerQuery = None) -> Response:
    """At each query cell, ‖γ·o‖₂ / ‖x‖₂: the L2 norm over channels of what the layer adds (γ times its
    attention output o) over that of its input x (1e-12 where ‖x‖ = 0). 0: attention changes nothing there;
    0.1: it moves the features by a tenth of their size. `values` are G·G floats, row-major on the query
    grid; `mean` is their mean. `effect-means` gives each layer's mean over seeds 0–15."""
    view = resolve_layer(service, layer)
    require_gamma(service, view.name)
    if cached := not_modified(request, service):
        return cached
    values = (await service.effects_async(sample)).maps[view.name]  # (G, G)
    body = EffectMap(
        layer=view.name,
        query_grid=view.query_grid,
        values=values.ravel().tolist(),
        mean=float(values.mean(dtype=np.float64)),
        formula=EFFECT_FORMULA,
    )
    return Response(body.model_dump_json(), media_type="application/json", headers=cache_headers(service))


class EffectMeans(BaseModel):
    seeds: list[int] = Field(description="the seeds averaged over")
    class_index: int | None = Field(serialization_alias="class", description="their class (conditional models)")
    truncation: float | None = Field(description="their truncation (models with one)")
    layers: dict[str, float] = Field(description="layer name → mean ‖γ·o‖ / ‖x‖ over every query cell of the seeds")
    formula: str


@router.get(
    "/models/{model}/effect-means",
    summary="Each layer's mean ‖γ·o‖ / ‖x‖ over seeds 0–15",
    response_model=EffectMeans,
)
async def effect_means(request: Request, service: ModelDep) -> Response:
    """The mean of `effect` over every query cell of seeds 0–15, per layer (class 0 and the default truncation
    for a conditional model). Measured on the first request (16 forward passes), then kept."""
    if cached := not_modified(request, service):
        return cached
    for name in service.layers:
        require_gamma(service, name)
    class_index, truncation = service.resolve(None, None)
    body = EffectMeans(
        seeds=list(EFFECT_SEEDS),
        class_index=class_index,
        truncation=truncation,
        layers=await service.effect_means_async(),
        formula=EFFECT_FORMULA,
    )
    return Response(body.model_dump_json(by_alias=True), media_type="application/json", headers=cache_headers(service))


ModeQuery = Annotated[
    Contrast,
    Query(
        description="`ratio`: A / ā (1 where ā = 0; 1 = as much as the average query); "
        "`difference`: A − ā (0 = as much as the average query)"
    ),
]


@router.get(
    f"{SAMPLE}/contrast.f32",
    summary="One row or column against the sample's average row, as raw float32",
    responses={
        200: {
            "content": {"application/octet-stream": {}},
            "description": "float32 little-endian, row-major; grid side in X-Grid, clicked cell in X-Cell, "
            "formula in X-Formula",
        }
    },
)
async def contrast_values(
    request: Request,
    service: ModelDep,
    sample: SampleDep,
    pixel: PixelDep,
    layer: LayerQuery = None,
    head: HeadQuery = MEAN,
    direction: DirectionQuery = Direction.row,
    mode: ModeQuery = Contrast.ratio,
) -> Response:
    """What is specific to this query, under the patterns every query shares. ā is the sample's average row,
    āⱼ = (1/N) Σᵢ Aᵢⱼ on the key grid (it sums to 1).

    - `row` (query cell i, M values on the key grid): ratio Cⱼ = Aᵢⱼ / āⱼ, difference Cⱼ = Aᵢⱼ − āⱼ.
    - `column` (key cell j, N values on the query grid): ratio Cᵢ = Aᵢⱼ / āⱼ, difference Cᵢ = Aᵢⱼ − āⱼ:
      which queries look at key j more than the average query does.

    Headers: `X-Grid` (side of the grid the values lie on), `X-Cell` (flat index of the clicked cell on
    the other grid: the query cell for a row, the key cell for a column), `X-Formula` (the formula, ASCII).
    """
    x, y = pixel
    view = resolve_layer(service, layer)
    if cached := not_modified(request, service):
        return cached
    matrix = layer_map(sample, view, head)
    values, index = await asyncio.to_thread(
        contrast_slice, matrix, x, y, direction.value, mode, service.image_size, view.query_grid, view.key_grid
    )
    headers = {
        **cache_headers(service),
        "X-Grid": str(values.shape[0]),
        "X-Cell": str(index),
        "X-Formula": CONTRAST_FORMULAS[direction.value, mode],
    }
    return Response(values.astype("<f4").tobytes(), media_type="application/octet-stream", headers=headers)


PIN = re.compile(r"\s*(\d{1,5})\s*,\s*(\d{1,5})\s*")


async def get_pins(
    service: ModelDep,
    pins: Annotated[
        str,
        Query(
            max_length=160,
            description=f'1..{MAX_PINS} query pixels "x,y" separated by ";", e.g. "10,50;32,8", each inside '
            "the image (0 ≤ x, y < image_size); pin k is drawn in matplotlib's tab10 colour k",
        ),
    ],
) -> list[tuple[int, int]]:
    parts = pins.split(";")
    if not 1 <= len(parts) <= MAX_PINS:
        raise query_error("pins", f'give 1..{MAX_PINS} pins as "x,y" separated by ";", got {len(parts)}')
    size = service.image_size
    parsed = []
    for number, part in enumerate(parts, start=1):
        match = PIN.fullmatch(part)
        if match is None:
            raise query_error("pins", f'pin {number} ({part[:20]!r}) is not "x,y" in integer pixels, e.g. 10,50')
        x, y = int(match[1]), int(match[2])
        if x >= size or y >= size:
            raise query_error(
                "pins", f"pin {number} ({x}, {y}) lies outside the {size}×{size} image; x and y must be 0..{size - 1}"
            )
        parsed.append((x, y))
    return parsed


def require_gamma(service: ModelService, layer: str) -> None:
    """Ablation and effect set or read a layer's γ: only our attention modules (a `softmax` child and γ) have one."""
    if layer not in attention_layer_names(service.generator) or not hasattr(
        service.generator.get_submodule(layer), "gamma"
    ):
        raise query_error(
            "layer",
            f"{layer} has no γ (a layer found by interception): ablation and effect need an attention module with one",
        )


def _caption_notes(sample: Sample, service: ModelService) -> tuple[str, ...]:
    if sample.class_index is None:
        return ()
    names = service.model.inputs.class_names or ()
    note = f"class {sample.class_index} ({names[sample.class_index]})"
    return (note if sample.truncation is None else f"{note} · truncation {sample.truncation:g}",)


async def get_figure_request(
    service: ModelDep,
    sample: SeedQuerySampleDep,
    pins: Annotated[list[tuple[int, int]], Depends(get_pins)],
    layer: LayerQuery = None,
    head: HeadQuery = MEAN,
    direction: DirectionQuery = Direction.row,
    scale: Annotated[
        Scale,
        Query(
            description="`relative`: v on [0, the pin's max]; `absolute`: v on [0, max of the whole map], one range "
            "for every pin; `uniform`: v·M (ratio to uniform attention) on [0, the pin's max]; `log`: log₁₀(v·M), "
            "the pin's top 4 decades"
        ),
    ] = Scale.relative,
    colormap: ColormapQuery = "viridis",
    contrast: Annotated[
        FigureContrast,
        Query(
            description="`none`: the attention values on `scale`; `ratio` (A / ā) or `difference` (A − ā) against "
            "the sample's average row, as in contrast.f32, replacing the scale; the formula goes in the caption"
        ),
    ] = FigureContrast.none,
    mass: Annotated[
        float,
        Query(
            ge=0,
            le=100,
            description="percent: outline on the sample, in each pin's colour, the smallest set of cells holding "
            "this share of the pin's attention (as the page's top mass %); 0 = no outline",
        ),
    ] = 0.0,
) -> FigureRequest:
    view = resolve_layer(service, layer)
    colormap_lut(colormap)
    figure_view = FigureView(
        model=service.name,
        layer=view.name,
        seed=sample.seed,
        query_grid=view.query_grid,
        key_grid=view.key_grid,
        direction=direction.value,
        scale=scale,
        contrast=contrast,
        colormap=colormap,
        notes=(*_caption_notes(sample, service), *([] if head == MEAN else [f"head {head} of {view.heads}"])),
        mass=mass,
        head=str(head),
        class_index=sample.class_index,
        truncation=sample.truncation,
    )
    return FigureRequest(sample.image, layer_map(sample, view, head), pins, figure_view)


FigureDep = Annotated[FigureRequest, Depends(get_figure_request)]
FIGURE_DOC = """The sample with each pinned query marked in its own colour, one map per pin on the range the
page uses (`absolute`: one shared range with a colour bar of real values; every other scale and contrast:
each map on its own range, written above it), and a caption with model, layer, seed, direction, scale,
which range and the top-mass share: the page's "save figure", for scripts. Drawn with matplotlib."""
SMALLEST, LARGEST = FIGURE_PIXELS
WidthQuery = Annotated[int, Query(ge=SMALLEST, le=LARGEST, description=f"PNG width in pixels, {SMALLEST}..{LARGEST}")]
HeightQuery = Annotated[
    int,
    Query(
        ge=SMALLEST,
        le=LARGEST,
        description=f"PNG height in pixels, {SMALLEST}..{LARGEST}; the longer side at most {MAX_ASPECT:g}× the shorter",
    ),
]


async def _drawn(request: Request, draw: object, *args: object) -> Any:
    """A figure drawn in the figure process, under the app's bound on figures at once (503 past it)."""
    async with request.app.state.figures.slot():
        return await in_figure_process(draw, *args)


def _figure_response(body: bytes, media_type: str, view: FigureView, service: ModelService, suffix: str) -> Response:
    filename = download_name(
        view.model, view.seed, view.class_index, view.truncation, view.layer, view.head, view.direction, suffix=suffix
    )
    headers = {**cache_headers(service), "Content-Disposition": f'inline; filename="{filename}"'}
    return Response(body, media_type=media_type, headers=headers)


async def figure_room(request: Request) -> None:
    """503 before any other work when the figure bound is reached, so a flood of refusals costs little."""
    request.app.state.figures.check()


@router.get(
    "/models/{model}/figure.png",
    summary="A figure of pinned queries, as PNG",
    description=FIGURE_DOC + " Header `X-Map-Boxes`: each pin's map as x0,y0,x1,y1 pixels (origin top left, "
    "ends exclusive), separated by ';'.",
    responses={200: PNG},
    dependencies=[Depends(figure_room)],
)
async def figure_as_png(
    request: Request, service: ModelDep, figure: FigureDep, width: WidthQuery = 1200, height: HeightQuery = 600
) -> Response:
    if max(width, height) > MAX_ASPECT * min(width, height):
        name = "width" if width > height else "height"
        raise query_error(
            name, f"width and height may differ by a factor of {MAX_ASPECT:g} at most, got {width}×{height}"
        )
    if cached := not_modified(request, service):
        return cached
    body, boxes = await _drawn(request, draw_png, figure, width, height)
    response = _figure_response(body, "image/png", figure.view, service, "png")
    response.headers["X-Map-Boxes"] = ";".join(",".join(map(str, box)) for box in boxes)
    return response


@router.get(
    "/models/{model}/figure.svg",
    summary="A figure of pinned queries, as SVG",
    description=FIGURE_DOC + " Laid out as the 1200×600 PNG.",
    responses={200: {"content": {"image/svg+xml": {}}, "description": "SVG image; text stays text"}},
    dependencies=[Depends(figure_room)],
)
async def figure_as_svg(request: Request, service: ModelDep, figure: FigureDep) -> Response:
    if cached := not_modified(request, service):
        return cached
    body = await _drawn(request, draw_svg, figure)
    return _figure_response(body, "image/svg+xml", figure.view, service, "svg")
