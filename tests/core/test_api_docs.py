"""The docs page needs nothing from the internet; ``/`` leads to the console."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.api_harness import Api, make_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    harness = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    yield harness
    harness.close()


def test_the_docs_page_loads_swagger_ui_from_the_core_itself(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    urls = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    for url in urls:
        assert url.startswith("/"), f"{url} is not served by the core"
        asset = api.client.get(url)
        assert asset.status_code == 200, url
    script = api.client.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in script.headers["content-type"] and len(script.content) > 100_000
    # Swagger UI 4 cannot read FastAPI's OpenAPI 3.1 (a blank page again): it must be 5
    assert api.client.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert re.search(rb'PACKAGE_VERSION:"5\.', script.content)


def test_redoc_from_a_cdn_is_gone(api: Api) -> None:
    assert api.client.get("/redoc").status_code == 404


def test_the_root_redirects_to_the_console(api: Api) -> None:
    response = api.client.get("/", follow_redirects=False)
    assert response.status_code in (301, 302, 307, 308)
    assert response.headers["location"] == "/console/"
    assert "操作台" in api.client.get("/").text
