"""The FastAPI app factory. The lifespan loads the model once and drops it on shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import torch
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from app.disconnect import CancelOnDisconnect
from app.limits import ServerBusyError, WorkLimit
from app.resources import DEFAULT_CHECKPOINT, DOCS_ASSETS, STATIC
from app.routes import analysis, api, docs, pages
from app.service import ModelService
from app.settings import Settings
from models.checkpoint import CheckpointError
from models.devices import resolve_device
from models.finite import NonFiniteOutputError
from models.registry import LoadedModel, load
from models.user_generator import load_generator, parse_generator_args

__all__ = ["NoTrainedModelError", "create_app", "load_default"]

log = logging.getLogger(__name__)

API_DESCRIPTION = """
Attention maps of the self-attention layers of a GAN generator (SAGAN-64, BigGAN-deep, StudioGAN,
BigGAN-PyTorch, or your own generator named on the command line).

**Samples** are addressed by `seed`, for class-conditional models also by `class` (index or name, see
`/api/models`), and for models with a truncation (BigGAN-deep, BigGAN-PyTorch) by `truncation` in
(0, 1]; the same inputs give the same image everywhere. A model refuses with 422 a `class` or
`truncation` it does not take.

**Coordinates** are output-image pixels, `0 ≤ x, y < S` (S = the model's `image_size`), origin top
left. A layer on a G×G grid covers S/G pixels per cell: pixel (x, y) is cell `row = y·G // S`,
`col = x·G // S`, flat index `row·G + col`. The query grid and the key grid are separate: with
pooled keys the key grid is coarser (BigGAN-deep: 64×64 queries, 32×32 keys).

**Directions**: `row` is *where this pixel looks*: the query cell's row of softmax(QKᵀ), laid out
on the key grid; it sums to 1. `column` is *what looks at this pixel*: the key cell's column, laid
out on the query grid; it does not sum to 1 and heatmaps scale it by its maximum for display only.

**Transfer**: `slice.f32` is one row or column as raw float32 (the page's first map); `slices.u8`
is every row or every column at 8 bits with a float32 scale per slice (the data hover needs, gzip
when accepted); `attention.npy` and `attention.f32` are the whole float32 matrix.

**Heads**: a layer with several heads (`heads` in `/api/models`; a generator served with
`--generator`) has maps (heads, N, M). Every map route takes `head`, an index or `mean` (the
default, the mean over heads, whose rows still sum to 1).

**γ** scales each layer's attention output; it starts at 0 in training, and a γ near 0 means the
layer barely uses attention.
"""


class NoTrainedModelError(CheckpointError):
    pass


def load_default(settings: Settings, default_path: Path = DEFAULT_CHECKPOINT) -> LoadedModel:
    """Load the configured model on the configured device; a missing shipped default gets its own plain message."""
    if settings.generator is not None:
        arguments = parse_generator_args(settings.generator_args)
        return load_generator(settings.generator, arguments, resolve_device(settings.device))
    if settings.checkpoint == default_path and not default_path.exists():
        raise NoTrainedModelError(
            f"{settings.checkpoint}: no trained default model is present; "
            "train one with `sagan-attn train` or pass --checkpoint PATH"
        )
    return load(settings.checkpoint, resolve_device(settings.device))


async def _busy(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServerBusyError)
    return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": str(error.retry_after)})


def create_app(settings: Settings | None = None, loaded: LoadedModel | None = None) -> FastAPI:
    """Build the app. `loaded` lets the CLI validate the model before the server starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        torch.set_num_threads(settings.torch_threads)
        model = loaded if loaded is not None else load_default(settings)
        service = ModelService(
            settings.resolved_model_name(),
            model,
            settings.cache_bytes,
            settings.queue_bound,
            settings.batch_size,
            (settings.analysis_running, settings.analysis_waiting),
        )
        application.state.models = {service.name: service}
        application.state.default_model = service.name
        log.info("serving %s (%s) from %s on %s", service.name, model.family, model.path, model.device)
        yield
        await service.close()
        application.state.models = {}

    application = FastAPI(
        title="SAGAN attention explorer",
        description=API_DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    application.state.settings = settings
    application.state.figures = WorkLimit("figures", 1, settings.figures_waiting)
    application.add_exception_handler(ServerBusyError, _busy)

    @application.exception_handler(NonFiniteOutputError)
    async def non_finite_sample(request: Request, error: NonFiniteOutputError) -> JSONResponse:
        return JSONResponse(status_code=500, content={"detail": str(error)})

    if settings.cors_origins:
        application.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET"])
    application.add_middleware(CancelOnDisconnect)
    application.mount("/static", StaticFiles(directory=STATIC), name="static")
    application.mount(docs.ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    application.include_router(api.router)
    application.include_router(analysis.router)
    application.include_router(docs.router)
    application.include_router(pages.router)
    return application
