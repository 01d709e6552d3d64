"""The explorer page. State travels to the script through data- attributes, never inline globals."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.resources import TEMPLATES

router = APIRouter(tags=["pages"])
templates = Jinja2Templates(directory=TEMPLATES)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def explorer_page(request: Request) -> HTMLResponse:
    models = [service.describe() for service in request.app.state.models.values()]
    context = {"models": models, "models_json": json.dumps(models), "default_model": request.app.state.default_model}
    return templates.TemplateResponse(request, "index.html", context)
