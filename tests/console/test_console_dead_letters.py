"""死信 in the console: the admin sees the messages the core refused, each reason in Chinese;
no other role has the page."""

from __future__ import annotations

import time
from typing import Any

from adapters.mqtt import MqttConnection
from adapters.storage.dead_letter_store import SqlDeadLetters
from gateway import bootstrap
from tests.console.conftest import RunningCore, screenshot
from tests.foundation.poison_corpus import valid_document

NESTED = b"[" * 10_000 + b"]" * 10_000


def send_poison(core: RunningCore) -> None:
    """Three refused messages through the broker: too deep, on another source's topic, not
    UTF-8; waits until the core has kept all three."""
    import json

    topics = bootstrap.topics(core.config)
    connection = MqttConnection(core.config.mqtt, "console-fuzzer", clean_session=True)
    connection.start()
    try:
        assert connection.wait_connected(15)
        for topic, payload in (
            (topics.candidate("camera", "fuzzcam"), NESTED),
            (topics.candidate("call", "agi-1"), json.dumps(valid_document(1)).encode()),
            (topics.candidate("camera", "fuzzcam"), b"\xff\xfe\xfd"),
        ):
            assert connection.publish_and_wait(topic, payload, timeout=30)
    finally:
        connection.stop()
    kept = SqlDeadLetters.for_store(core.daemon.service.store)
    deadline = time.monotonic() + 30
    while kept.dead_letters(0, 1)[1] < 3:
        assert time.monotonic() < deadline, "the core did not keep the three dead letters"
        time.sleep(0.1)


def test_the_admin_reads_the_dead_letters_with_their_reasons_in_chinese(
    core: RunningCore, login: Any
) -> None:
    send_poison(core)
    admin = login("admin")
    admin.click("#nav a[data-view=deadletters]")
    rows = admin.locator("#dead-letters-rows tr")
    rows.first.wait_for()
    assert rows.count() == 3
    assert admin.inner_text("#dead-letters-summary") == "共 3 条，显示第 1–3 条（最新的在前）"
    # newest first
    reasons = [
        admin.locator(
            f"#dead-letters-rows tr:nth-child({n}) .dead-letter-reason strong"
        ).inner_text()
        for n in (1, 2, 3)
    ]
    assert reasons == [
        "内容不是 UTF-8 编码的文本",
        "消息声明的来源与发布主题不符",
        "JSON 嵌套层数过多",
    ]
    mismatch = admin.locator('#dead-letters-rows tr[data-code="source_mismatch"]')
    assert "citygw/v1/candidates/call/agi-1" in mismatch.inner_text()
    assert "fuzz-00000001" in mismatch.inner_text()  # the id read from the refused payload
    deep = admin.locator('#dead-letters-rows tr[data-code="too_deep"]')
    deep.locator("summary").click()
    assert "（仅保存前 2048 字节）" in deep.inner_text()
    assert deep.locator("pre").inner_text() == "[" * 2048
    assert admin.locator("#dead-letters-previous").is_disabled()
    assert admin.locator("#dead-letters-next").is_disabled()
    assert admin.console_errors == []
    screenshot(admin, "60-dead-letters")

    operator = login("operator")
    assert operator.locator("#nav a[data-view=deadletters]").count() == 0
    operator.goto(f"{core.url}/console/#/deadletters")
    operator.wait_for_selector("#nav a.active")
    assert operator.locator("#dead-letters").count() == 0  # sent to its own landing page
