"""The API's documentation page, served whole from this machine.

FastAPI's own ``/docs`` loads Swagger UI from a CDN, so a centre without internet access saw
a blank page. Here the page loads Swagger UI 5 (which reads OpenAPI 3.1, FastAPI's version;
``swagger-ui-bundle``'s 4.15 cannot) from the files the ``fastapi-offline`` package carries
(MIT; no Debian 12 package has Swagger UI), served at ``/docs/assets``. Only its files are
used: its ``FastAPIOffline`` factory would add routes without our access rules. Build the app
with ``docs_url=None, redoc_url=None`` and call `add_docs`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
#: swagger-ui-bundle.js, swagger-ui.css and favicon.png of Swagger UI 5
ASSETS_DIR = Path(str(importlib.resources.files("fastapi_offline") / "static"))
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def add_docs(app: FastAPI) -> None:
    """``/docs`` (public, like the OpenAPI document it shows) and its assets."""

    async def docs(_request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} · API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )
        page.headers["Content-Security-Policy"] = _docs_policy(bytes(page.body))
        return page

    # mounted before the page's route: a mount at /docs/assets never shadows /docs itself
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    app.add_route(DOCS_URL, docs, include_in_schema=False)


def _docs_policy(html: bytes) -> str:
    """The console's policy, but Swagger UI's own inline start-up script allowed by its
    hash (nothing else inline) and its inline styles."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    ]
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' " + " ".join(hashes),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )
