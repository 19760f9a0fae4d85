"""The phone's queues when the core fails on one item (issue 19's audit), in Chromium's
mobile emulation against a real core with the demo's grids (the fixtures of
test_mobile.py): a report the core always answers 500 for no longer holds back the
reports queued after it: they reach the core, and after a few tries the bad one shows as
发送失败 with 立即重试 and 放弃."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.console.conftest import RunningCore
from tests.console.test_mobile import (  # noqa: F401 (fixtures used by name)
    demo_grids,
    fill_report,
    inspector_cases,
    phone,
    phone_core,
    wait_until,
)


def request_id(route: Any) -> str:
    found = re.search(rb'name="request_id"\r\n\r\n([^\r]+)', route.request.post_data_buffer)
    assert found, "the report carries no request_id"
    return found.group(1).decode("ascii")


def test_a_report_the_core_always_fails_on_does_not_hold_back_the_next_one(
    phone: Callable[..., Any],  # noqa: F811
    phone_core: RunningCore,  # noqa: F811
) -> None:
    page = phone(service_workers="block")  # page.route sees the page's own requests
    tries: list[str] = []

    def fail_the_first_report(route: Any) -> None:
        sent = request_id(route)
        if not tries or sent == tries[0]:
            tries.append(sent)
            route.fulfill(status=500, content_type="text/plain", body="Internal Server Error")
        else:
            route.continue_()

    page.route("**/api/v1/mobile/reports", fail_the_first_report)
    fill_report(page, "总是出错的上报")
    page.tap("#submit-report")
    page.wait_for_selector("#toast:has-text('稍后自动重发')")
    fill_report(page, "排在后面的上报")
    page.tap("#submit-report")
    page.wait_for_selector("#toast.ok")
    [case] = wait_until(lambda: inspector_cases(phone_core))
    assert case.description == "排在后面的上报"
    page.wait_for_selector("#queue-count:text-is('1')")  # the first one waits
    page.tap("#tabs button[data-view=queue]")
    page.wait_for_selector(".queued:has-text('乱堆物堆料')")  # tried twice: 将自动重发
    page.tap(".queued button:has-text('立即重试')")
    failed = page.wait_for_selector(".queued .error:has-text('发送失败')")
    assert re.search(r"核心服务处理出错（已尝试 \d 次）", failed.inner_text()), failed.inner_text()
    assert len(tries) >= 3  # sent again each pass, with its request id
    page.tap(".queued button:has-text('放弃')")
    page.wait_for_selector("#queue-empty")
    assert page.is_hidden("#queue-count")
    assert len(inspector_cases(phone_core)) == 1
