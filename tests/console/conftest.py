"""Console test harness: a real core (real Mosquitto, SQLite in tmp, its HTTP API and
console) started per test, one user per role, and Debian's Chromium driven by Playwright.

Chromium is launched from ``/usr/bin/chromium`` (never a downloaded browser) in Chinese:
Debian's ``chromium-l10n`` gives it the zh-CN resources and ``LANGUAGE=zh_CN`` picks them, so
a date field reads 年/月/日 as on an operator's desk, not mm/dd/yyyy. The tests fail, saying
what to install, when either is absent. Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.mqtt.broker import free_port
from gateway import bootstrap
from gateway.config import Config
from gateway.contract import CandidateCase
from gateway.core.daemon import CoreDaemon, build_core
from tests.conftest import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
#: the zh-CN resources of Debian's chromium-l10n: without them Chromium's own widgets (the
#: date field's mm/dd/yyyy) stay American whatever the page's locale says
CHROMIUM_ZH_CN = Path("/usr/lib/chromium/locales/zh-CN.pak")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: Playwright evaluates string predicates (wait_for_function("...")) with eval, which the
#: core's Content-Security-Policy refuses: the walks run with it bypassed, and
#: test_console_users runs the console under the policy and checks it is never violated
BYPASS_CSP = True
SCREENSHOTS = REPO_ROOT / "test-output" / "screenshots"
PASSWORD = "console-pass-1"
USERS = {
    "inspector": ("insp", None),
    "operator": ("oper", None),
    "shift_lead": ("lead", None),
    "dispatcher": ("disp", None),
    "department": ("dept", "city-management"),
    "admin": ("admin", None),
}
#: the inspector's reach (the grids of the test cases: 海州区 新海街道, 连云区 连云街道, 东海县)
INSPECTOR_GRIDS = ("320706901", "320703901", "320722")


def grids_of(role: str) -> tuple[str, ...]:
    return INSPECTOR_GRIDS if role == "inspector" else ()


CORE_SETTINGS: dict[str, Any] = {
    "departments": [
        {"id": "city-management", "name": "城管执法"},
        {"id": "sanitation", "name": "环卫"},
        {"id": "traffic", "name": "交警"},
    ],
    "default_department": "city-management",
    "dispatch": [
        {"event_prefix": "01", "grid_prefix": "", "department": "sanitation"},
        {"event_prefix": "0505", "grid_prefix": "", "department": "city-management"},
    ],
}


@dataclass
class RunningCore:
    config: Config
    daemon: CoreDaemon
    url: str

    def publish_candidates(self, candidates: list[CandidateCase], timeout: float = 30) -> None:
        """Publish through a durable outbox over MQTT, as the video gateway does."""
        connection = bootstrap.mqtt_connection(self.config, "video")
        publisher = bootstrap.edge_publisher(self.config, "video", connection)
        contract = bootstrap.contract_publisher(self.config, publisher)
        publisher.start()
        connection.start()
        try:
            for candidate in candidates:
                contract.candidate(candidate)
            assert publisher.wait_drained(timeout), "the broker did not take the candidates"
        finally:
            publisher.stop()
            connection.stop()
            publisher.outbox.close()

    def wait_for_case(self, candidate_id: str, timeout: float = 30) -> Any:
        from gateway.core.intake import case_id_for

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            case = self.daemon.service.store.get_case(case_id_for(candidate_id))
            if case is not None:
                return case
            time.sleep(0.1)
        raise AssertionError(f"the core stored no case for candidate {candidate_id}")

    def case(self, case_id: str) -> Any:
        return self.daemon.service.store.get_case(case_id)

    def steps(self, case_id: str) -> list[Any]:
        return [s.step for s in self.daemon.service.store.steps(case_id)]


@pytest.fixture
def core(make_config: Callable[..., Config], tmp_path: Path) -> Iterator[RunningCore]:
    port = free_port()
    config = make_config(
        core={
            **CORE_SETTINGS,
            "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
            "http_port": port,
        }
    )
    daemon = build_core(config)
    for role, (name, department) in USERS.items():
        daemon.auth.add_user(name, role, PASSWORD, department, grids_of(role))
    daemon.start()
    try:
        yield RunningCore(config, daemon, f"http://127.0.0.1:{port}")
    finally:
        daemon.stop()


def chinese_environment() -> dict[str, str]:
    """The environment Chromium starts in: this one, with its UI language set to Chinese."""
    return {**os.environ, "LANGUAGE": "zh_CN"}


@pytest.fixture(scope="package")
def playwright_driver() -> Iterator[Any]:
    """The one Playwright of these tests: its sync API runs an event loop in this thread,
    so a second `sync_playwright()` beside it fails; a test that needs a Chromium started
    with other flags launches it from this one."""
    for needed, package in ((CHROMIUM, "chromium"), (CHROMIUM_ZH_CN, "chromium-l10n")):
        if not needed.exists():
            pytest.fail(f"{needed} is missing: apt-get install {package} (scripts/setup.sh does)")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as playwright:
        yield playwright


def launch_chromium(playwright: Any, extra_args: list[str] | None = None) -> Any:
    """Debian's Chromium in Chinese, headless, with the tests' flags and ``extra_args``."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*CHROMIUM_ARGS, *(extra_args or [])],
        env=chinese_environment(),
        timeout=60_000,
    )


@pytest.fixture(scope="package")
def browser(playwright_driver: Any) -> Iterator[Any]:
    instance = launch_chromium(playwright_driver)
    yield instance
    instance.close()


@pytest.fixture
def login(browser: Any, core: RunningCore) -> Iterator[Callable[[str], Any]]:
    """``login(role)``: a fresh 1366×768 page logged in through the form as that role."""
    contexts: list[Any] = []

    def open_as(role: str) -> Any:
        context = browser.new_context(
            viewport={"width": 1366, "height": 768},
            locale="zh-CN",
            accept_downloads=True,
            bypass_csp=BYPASS_CSP,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.console_errors = errors  # type: ignore[attr-defined]
        sign_in(page, core.url, role)
        return page

    yield open_as
    for context in contexts:
        context.close()


def sign_in(page: Any, base_url: str, role: str) -> None:
    """Log in through the console's form as the test user of ``role``."""
    page.goto(f"{base_url}/console/")
    page.fill("#login-form input[name=name]", USERS[role][0])
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#who-name")


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
