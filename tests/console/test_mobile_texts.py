"""The phone app never shows the browser's English (issue 19's audit), in Chromium's mobile
emulation against a real core (the fixtures of test_mobile.py): a position that times out
or cannot be had, a microphone another app holds, and a refusal naming a field the app
has no word for are each said in a Chinese sentence of the app's own."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.console.conftest import RunningCore
from tests.console.test_mobile import (  # noqa: F401 (fixtures used by name)
    demo_grids,
    fill_report,
    phone,
    phone_core,
)

#: a GeolocationPositionError as Chromium gives it: its message in English
POSITION_ERROR = """
navigator.geolocation.watchPosition = (ok, fail) => {
  setTimeout(() => fail({ code: %d, message: %s }), 50);
  return 1;
};
"""
MIC_BUSY = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException('Could not start audio source', 'NotReadableError'));
"""
LATIN = re.compile(r"[A-Za-z]")


def reopened(page: Any, script: str) -> Any:
    page.add_init_script(script)
    page.reload()
    page.wait_for_selector("#event-search")
    return page


@pytest.mark.parametrize(
    ("code", "message", "said"),
    [(3, "Timeout expired", "定位超时"), (2, "Position update is unavailable", "暂时无法定位")],
)
def test_a_position_the_phone_cannot_have_is_said_in_chinese(
    phone: Callable[..., Any],  # noqa: F811
    code: int,
    message: str,
    said: str,
) -> None:
    page = reopened(phone(), POSITION_ERROR % (code, json.dumps(message)))
    shown = page.wait_for_selector(f"#position:has-text('{said}')").inner_text()
    assert not LATIN.search(shown), shown


def test_a_microphone_another_app_holds_is_said_in_chinese(
    phone: Callable[..., Any],  # noqa: F811
) -> None:
    page = reopened(phone(), MIC_BUSY)
    page.tap("#voice-record")
    shown = page.wait_for_selector("#voice-error").inner_text()
    assert "麦克风正被其他应用使用" in shown and not LATIN.search(shown), shown


def test_a_refusal_naming_a_field_is_said_with_its_chinese_name_or_a_chinese_word(
    phone: Callable[..., Any],  # noqa: F811
    phone_core: RunningCore,  # noqa: F811
) -> None:
    page = phone(service_workers="block")
    fields = iter(["position_source", "some_new_field"])

    def refuse(route: Any) -> None:
        detail = [{"loc": ["body", next(fields)], "type": "literal_error", "msg": "", "ctx": {}}]
        body = json.dumps({"error": "invalid_request", "detail": detail})
        route.fulfill(status=422, content_type="application/json", body=body)

    page.route("**/api/v1/mobile/reports", refuse)
    for text in ("第一件", "第二件"):
        fill_report(page, text)
        page.tap("#submit-report")
        page.wait_for_selector("#event-search")
    page.tap("#tabs button[data-view=queue]")
    page.wait_for_selector(".queued >> nth=1")
    page.wait_for_selector(".queued .error:has-text('位置来源的取值不在可选范围内')")
    page.wait_for_selector(".queued .error:has-text('字段的取值不在可选范围内')")
    for shown in page.locator(".queued .error").all_inner_texts():
        assert not LATIN.search(shown), shown
