"""The API's documentation page, served whole from this machine.

FastAPI's own ``/docs`` loads Swagger UI from a CDN, so a centre without internet access saw
a blank page. Here the page loads the Swagger UI files of the installed ``swagger-ui-bundle``
package (Apache-2.0; no Debian 12 package carries Swagger UI) from ``/docs/assets``. Build the
app with ``docs_url=None, redoc_url=None`` and call `add_docs`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"


def add_docs(app: FastAPI) -> None:
    """``/docs`` (public, like the OpenAPI document it shows) and its assets."""

    async def docs(_request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} · API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
        )

    # mounted before the page's route: a mount at /docs/assets never shadows /docs itself
    app.mount(ASSETS_URL, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
    app.add_route(DOCS_URL, docs, include_in_schema=False)
