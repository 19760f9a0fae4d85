"""The phone's queues when the core fails on one item (issue 19's audit), in Chromium's
mobile emulation against a real core with the demo's grids (the fixtures of
test_mobile.py): a report the core always answers 500 for no longer holds back the
reports queued after it: they reach the core, and after a few tries the bad one shows as
发送失败 with 立即重试 and 放弃. A patrol point the core refuses (stamped ahead of its
clock) is dropped by name and the points after it go on; a stale fix (GPS lost) records
no point, and a point carries the time of its fix."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.gis.features import GridFeature
from tests.console.conftest import PASSWORD, RunningCore
from tests.console.test_mobile import (  # noqa: F401 (fixtures used by name)
    INSPECTOR,
    centre,
    demo_grids,
    fill_report,
    inspector_cases,
    phone,
    phone_core,
    wait_until,
)

#: the phone's current fix is two minutes old (GPS lost); watchPosition is left as it is
STALE_FIX = """
const real = navigator.geolocation.getCurrentPosition.bind(navigator.geolocation);
navigator.geolocation.getCurrentPosition = (ok, fail, options) => real((pos) => ok({
  coords: pos.coords, timestamp: Date.now() - 120000,
}), fail, options);
"""


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


def track_of(core: RunningCore) -> list[dict[str, Any]]:
    import httpx

    token = httpx.post(
        f"{core.url}/api/v1/auth/login",
        json={"name": "oper", "password": PASSWORD},
        timeout=10,
    ).json()["token"]
    answer = httpx.get(
        f"{core.url}/api/v1/patrols/track?inspector={INSPECTOR}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    points: list[dict[str, Any]] = answer.json()["points"]
    return points


def test_a_patrol_point_stamped_ahead_of_the_cores_clock_does_not_hold_back_later_points(
    phone: Callable[..., Any],  # noqa: F811
    phone_core: RunningCore,  # noqa: F811
    demo_grids: list[GridFeature],  # noqa: F811
) -> None:
    """The first point goes out stamped an hour ahead (a phone clock running fast, each
    time it is sent): the core refuses that point by name, the phone drops it, says so,
    and the next point reaches the core (before: the batch was sent again forever)."""
    page = phone(service_workers="block")
    late = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    first: list[str] = []

    def clock_runs_fast(route: Any) -> None:
        body = json.loads(route.request.post_data)
        first.append(first[0] if first else body["points"][0]["id"])
        for point in body["points"]:
            if point["id"] == first[0]:
                point["at"] = late
        route.continue_(post_data=json.dumps(body))

    page.route("**/api/v1/mobile/patrol", clock_runs_fast)
    page.tap("#tabs button[data-view=patrol]")
    page.tap("#patrol-start")
    refused = page.wait_for_selector("#patrol-refused[data-refused='1']")
    assert "手机时间不正确" in refused.inner_text()
    page.wait_for_selector("#patrol-count[data-waiting='0']")
    page.context.set_geolocation(centre(demo_grids[43]))
    page.wait_for_selector("#patrol-count:has-text('本次已记录 2 个')")
    page.wait_for_selector("#patrol-count[data-waiting='0']")
    points = wait_until(lambda: track_of(phone_core))
    assert [p["grid_code"] for p in points] == [demo_grids[43].code]
    assert len(first) >= 2  # the later point went in a batch of its own


def test_a_stale_fix_is_not_recorded_and_a_point_carries_its_fixs_time(
    phone: Callable[..., Any],  # noqa: F811
    phone_core: RunningCore,  # noqa: F811
    demo_grids: list[GridFeature],  # noqa: F811
) -> None:
    """GPS lost: the phone's only fix is two minutes old; the patrol records nothing for
    it (no patrol time without a position), and the next fresh fix is recorded with the
    time the phone had it."""
    page = phone()
    page.add_init_script(STALE_FIX)
    page.reload()
    page.wait_for_selector("#event-search")
    page.tap("#tabs button[data-view=patrol]")
    page.tap("#patrol-start")
    page.wait_for_selector("#patrol-stop")
    page.wait_for_timeout(1000)  # the start's fix was asked for and turned down
    assert page.inner_text("#patrol-count").startswith("本次已记录 0 个")
    before = datetime.now(UTC)
    page.context.set_geolocation(centre(demo_grids[44]))
    page.wait_for_selector("#patrol-count:has-text('本次已记录 1 个')")
    page.wait_for_selector("#patrol-count[data-waiting='0']")
    [point] = wait_until(lambda: track_of(phone_core))
    assert point["grid_code"] == demo_grids[44].code
    at = datetime.fromisoformat(point["at"])
    assert before - timedelta(seconds=5) <= at <= datetime.now(UTC)
    page.tap("#patrol-stop")
