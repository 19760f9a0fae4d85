"""Security headers on the console, the API and the docs; a console without inline script."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.core.api import WEB_DIR
from gateway.core.security_headers import SecurityHeaders, content_security_policy
from tests.core.api_harness import Api, make_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    harness = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    yield harness
    harness.close()


def directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def test_every_kind_of_response_carries_the_headers(api: Api) -> None:
    responses = {
        "console": api.client.get("/console/"),
        "script": api.client.get("/console/js/app.js"),
        "api": api.client.get("/api/v1/me", headers=api.headers("operator")),
        "refusal": api.client.get("/api/v1/me"),
        "health": api.client.get("/healthz"),
        "docs": api.client.get("/docs"),
    }
    for what, response in responses.items():
        assert response.headers["X-Frame-Options"] == "DENY", what
        assert response.headers["Referrer-Policy"] == "no-referrer", what
        assert response.headers["X-Content-Type-Options"] == "nosniff", what
        policy = directives(response.headers["Content-Security-Policy"])
        assert policy["frame-ancestors"] == ["'none'"], what
        assert "'unsafe-inline'" not in policy["script-src"], what
        assert "'unsafe-eval'" not in policy["script-src"], what
    console = directives(responses["console"].headers["Content-Security-Policy"])
    assert console["script-src"] == ["'self'"] and console["style-src"] == ["'self'"]
    # the live view's signalling, as the console guesses it: port 8091 of this host
    assert console["connect-src"] == ["'self'", "http://testserver:8091"]


def test_the_docs_page_allows_exactly_its_own_inline_script(api: Api) -> None:
    page = api.client.get("/docs")
    scripts = re.findall(r"<script>(.*?)</script>", page.text, re.S)
    assert scripts
    policy = directives(page.headers["Content-Security-Policy"])
    expected = {
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in scripts
    }
    assert set(policy["script-src"]) == {"'self'"} | expected


def test_a_configured_signalling_origin_is_the_one_allowed() -> None:
    async def app(scope: object, receive: object, send: object) -> None: ...

    middleware = SecurityHeaders(app, signalling_url="https://video-1.example:8443/live/")
    policy = middleware._policy({"type": "http", "headers": [(b"host", b"evil.example")]})
    assert b"connect-src 'self' https://video-1.example:8443;" in policy
    relative = SecurityHeaders(app, signalling_url="/live/")
    odd = relative._policy({"type": "http", "headers": [(b"host", b"a b;script-src *")]})
    assert directives(odd.decode())["connect-src"] == ["'self'"]
    assert "connect-src 'self'" in content_security_policy([])


def test_the_console_has_no_inline_script_handler_or_style() -> None:
    for page in WEB_DIR.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"{page.name}: inline script {tag}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{page.name}: inline event handler"
        assert not re.search(r"\sstyle\s*=", text), f"{page.name}: inline style"
        assert "<style" not in text, f"{page.name}: inline style sheet"
    for script in WEB_DIR.rglob("*.js"):
        # code only: comments may name what the code avoids
        text = re.sub(r"(?m)^\s*//.*$|\s//\s.*$", "", script.read_text(encoding="utf-8"))
        for pattern in (
            r"innerHTML",
            r"outerHTML",
            r"insertAdjacentHTML",
            r"document\.write",
            r"\beval\(",
            r"new Function",
            r"setAttribute\(\s*['\"](on|style)",
            r"['\"]?style['\"]?\s*:\s*['\"`]",  # h(tag, { style: '...' })
            r"javascript:",
        ):
            assert not re.search(pattern, text), f"{script.name}: {pattern}"
