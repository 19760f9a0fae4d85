"""The inspectors' phone app over the core's own HTTPS (issue 19), as a phone on the street
network reaches it: by a host name that is not loopback. Chromium resolves
``phone.citygw.test`` to 127.0.0.1 (``--host-resolver-rules``) and trusts the test
certificate by its public key (``--ignore-certificate-errors-spki-list``, no "proceed
anyway": the page is a real secure context). Over ``https://phone.citygw.test:PORT`` the
service worker registers, controls the page and serves the app offline, and the microphone
API is there; over plain ``http://phone.citygw.test:PORT`` (a core without `http_tls`) the
page is not a secure context and has neither."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.mqtt.broker import free_port
from gateway.config import Config
from gateway.core.daemon import build_core
from tests.console.conftest import CORE_SETTINGS, PASSWORD, launch_chromium
from tests.tls_certs import HttpsFiles, make_tls

HOST = "phone.citygw.test"
PHONE = {"width": 360, "height": 640}
INSPECTOR = "walker"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> HttpsFiles:
    return make_tls(tmp_path_factory.mktemp("https"), [HOST])


@pytest.fixture(scope="module")
def phone_browser(playwright_driver: Any, tls: HttpsFiles) -> Iterator[Any]:
    """Chromium that finds ``phone.citygw.test`` on loopback and trusts the test key only
    (a second Chromium of the package's one Playwright: two would share a thread's loop)."""
    instance = launch_chromium(
        playwright_driver,
        [
            f"--host-resolver-rules=MAP {HOST} 127.0.0.1",
            f"--ignore-certificate-errors-spki-list={tls.spki_sha256}",
        ],
    )
    yield instance
    instance.close()


def start_core(
    make_config: Callable[..., Config], tmp_path: Path, tls: HttpsFiles | None
) -> tuple[Any, str]:
    port = free_port()
    core: dict[str, Any] = {
        **CORE_SETTINGS,
        "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
        "http_port": port,
    }
    if tls is not None:
        core["http_tls"] = {"cert_file": str(tls.cert_file), "key_file": str(tls.key_file)}
    daemon = build_core(make_config(core=core))
    daemon.auth.add_user(INSPECTOR, "inspector", PASSWORD, None, ("320706",))
    daemon.start()
    scheme = "https" if tls is not None else "http"
    return daemon, f"{scheme}://{HOST}:{port}"


@pytest.fixture
def open_phone(phone_browser: Any) -> Iterator[Callable[[str], Any]]:
    contexts: list[Any] = []

    def open_at(url: str) -> Any:
        context = phone_browser.new_context(
            viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN"
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{url}/console/mobile/")
        page.wait_for_selector("#login-form")
        return page

    yield open_at
    for context in contexts:
        context.close()


def log_in(page: Any) -> None:
    page.fill("#login-form input[name=name]", INSPECTOR)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.tap("#login-form button[type=submit]")
    page.wait_for_selector("#event-search")


def test_over_the_cores_https_the_phone_app_gets_its_service_worker_and_microphone(
    make_config: Callable[..., Config],
    tmp_path: Path,
    tls: HttpsFiles,
    open_phone: Callable[[str], Any],
) -> None:
    daemon, url = start_core(make_config, tmp_path, tls)
    try:
        page = open_phone(url)
        assert page.url.startswith(f"https://{HOST}:")
        assert page.evaluate("window.isSecureContext") is True
        scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == f"{url}/console/mobile/"
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        assert page.evaluate("navigator.serviceWorker.controller.scriptURL") == (
            f"{url}/console/mobile/sw.js"
        )
        assert page.evaluate("typeof navigator.mediaDevices?.getUserMedia") == "function"
        log_in(page)
        # the app shell comes from the service worker's cache while the network is gone
        page.context.set_offline(True)
        page.reload()
        page.wait_for_selector("#event-search")
        assert page.inner_text("#net") == "离线"
    finally:
        daemon.stop()


def test_over_plain_http_at_the_same_name_the_page_is_no_secure_context(
    make_config: Callable[..., Config],
    tmp_path: Path,
    open_phone: Callable[[str], Any],
) -> None:
    daemon, url = start_core(make_config, tmp_path, None)
    try:
        page = open_phone(url)  # the app itself loads ...
        assert page.url.startswith(f"http://{HOST}:")
        assert page.evaluate("window.isSecureContext") is False
        # ... without a service worker (no offline mode) and without the microphone
        assert page.evaluate("'serviceWorker' in navigator") is False
        assert page.evaluate("navigator.mediaDevices === undefined") is True
    finally:
        daemon.stop()
