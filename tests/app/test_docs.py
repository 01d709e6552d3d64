"""/docs and /redoc load every asset from this server, so they work with no internet."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
ANY_HOST = re.compile(r"""(?:https?:)?//[\w.-]+""")


@pytest.mark.parametrize(("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_docs_pages_load_their_assets_from_this_server(client: TestClient, page: str, script: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert not ANY_HOST.findall(response.text), "the page names another host"
    assets = ASSET.findall(response.text)
    assert any(asset.endswith(script) for asset in assets)
    for asset in assets:
        fetched = client.get(asset)
        assert fetched.status_code == 200 and len(fetched.content) > 1000, asset
