"""Typed dependencies and bounded parameters shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request

from app.cache import Sample
from app.render import Direction
from app.service import SEED_LIMIT, ModelService
from models.geometry import AttentionLayer
from models.registry import SamplingInputError

__all__ = [
    "ClassQuery",
    "ColormapQuery",
    "DirectionQuery",
    "LayerQuery",
    "ModelDep",
    "PixelDep",
    "SampleDep",
    "SeedPath",
    "SeedQuery",
    "SeedQuerySampleDep",
    "TruncationQuery",
    "XQuery",
    "YQuery",
    "resolve_layer",
]

SeedPath = Annotated[
    int, Path(ge=0, lt=SEED_LIMIT, description="sample seed; the same seed gives the same image everywhere")
]
SeedQuery = Annotated[
    int, Query(ge=0, lt=SEED_LIMIT, description="sample seed; the same seed gives the same image everywhere")
]
MAX_IMAGE_SIZE = 4096
XQuery = Annotated[
    int, Query(ge=0, lt=MAX_IMAGE_SIZE, description="pixel column in the output image, 0 ≤ x < the model's image_size")
]
YQuery = Annotated[
    int, Query(ge=0, lt=MAX_IMAGE_SIZE, description="pixel row in the output image, 0 ≤ y < the model's image_size")
]
ClassQuery = Annotated[
    str | None,
    Query(
        alias="class",
        max_length=100,
        description="conditional models only: a class index (0 … classes − 1) or a class name from /api/models "
        "(exact, case-sensitive first; else ignoring case if that names one class); default: class 0. "
        "An unconditional model refuses it with 422.",
    ),
]
TruncationQuery = Annotated[
    float | None,
    Query(
        gt=0.0,
        le=1.0,
        description="models with a truncation only (BigGAN-deep): z is a normal truncated to [−2, 2] times this, "
        "in (0, 1]; default: the model's default in /api/models (0.4 for BigGAN-deep). "
        "A model without truncation refuses it with 422.",
    ),
]
LayerQuery = Annotated[
    str | None,
    Query(max_length=64, description="attention layer name; default: the last layer, the one nearest the output"),
]
DirectionQuery = Annotated[
    Direction,
    Query(description="`row`: where this pixel looks (sums to 1); `column`: what looks at this pixel"),
]
ColormapQuery = Annotated[str, Query(max_length=64, description="any matplotlib colormap name, e.g. viridis, magma")]


MAX_QUERY_LENGTH = 1024


def query_error(name: str, message: str, where: str = "query") -> HTTPException:
    """A client error in the same shape FastAPI gives failed validation, so one schema covers both."""
    return HTTPException(422, [{"loc": [where, name], "msg": message, "type": "value_error"}])


async def reject_ambiguous_queries(request: Request) -> None:
    """Refuse over-long query strings and repeated parameters instead of silently picking one."""
    if len(request.url.query) > MAX_QUERY_LENGTH:
        raise HTTPException(414, f"query string is {len(request.url.query)} characters; at most {MAX_QUERY_LENGTH}")
    seen: set[str] = set()
    for key, _ in request.query_params.multi_items():
        if key in seen:
            raise query_error(key[:64], f"parameter {key[:64]!r} is repeated; give it once")
        seen.add(key)


async def get_model(
    request: Request, model: Annotated[str, Path(max_length=64, description="model name")]
) -> ModelService:
    models: dict[str, ModelService] = request.app.state.models
    service = models.get(model)
    if service is None:
        raise HTTPException(404, f"unknown model {model[:64]!r}; this server has {sorted(models)}")
    return service


ModelDep = Annotated[ModelService, Depends(get_model)]


async def _sample(service: ModelService, seed: int, class_: str | None, truncation: float | None) -> Sample:
    try:
        class_index, truncation = service.resolve(class_, truncation)
    except SamplingInputError as error:
        raise query_error(error.parameter, str(error)) from None
    return await service.sample_async(seed, class_index, truncation)


async def get_sample(
    service: ModelDep, seed: SeedPath, class_: ClassQuery = None, truncation: TruncationQuery = None
) -> Sample:
    return await _sample(service, seed, class_, truncation)


async def get_sample_by_query(
    service: ModelDep, seed: SeedQuery, class_: ClassQuery = None, truncation: TruncationQuery = None
) -> Sample:
    return await _sample(service, seed, class_, truncation)


SampleDep = Annotated[Sample, Depends(get_sample)]
SeedQuerySampleDep = Annotated[Sample, Depends(get_sample_by_query)]


async def get_pixel(service: ModelDep, x: XQuery, y: YQuery) -> tuple[int, int]:
    for name, value in (("x", x), ("y", y)):
        if value >= service.image_size:
            raise query_error(name, f"{name} must be below the image size {service.image_size}, got {value}")
    return x, y


PixelDep = Annotated[tuple[int, int], Depends(get_pixel)]


def resolve_layer(service: ModelService, layer: str | None) -> AttentionLayer:
    name = layer or service.default_layer
    view = service.layers.get(name)
    if view is None:
        raise query_error("layer", f"unknown layer {name[:64]!r}; this model has {list(service.layers)}")
    return view
