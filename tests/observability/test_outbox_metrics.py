"""The outbox's metrics, read at scrape time from a real `Outbox` on disk."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

from adapters.mqtt import Outbox
from adapters.prometheus import PrometheusMetrics
from gateway.bootstrap_metrics import export_outbox


def test_depth_bytes_and_the_age_of_the_oldest_message_come_from_the_outbox(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_messages=100, max_bytes=10**6)
    try:
        assert outbox.oldest_queued_at() is None
        first = time.time()
        outbox.put("t/a", b"x" * 10)
        time.sleep(0.3)
        outbox.put("t/b", b"y" * 5, confirm_id="cand-1")
        oldest = outbox.oldest_queued_at()
        assert oldest is not None and abs(oldest - first) < 0.1

        publisher = SimpleNamespace(
            outbox=outbox,
            inflight=1,
            published_total=7,
            acked_total=6,
            confirmed_total=5,
            resent_total=1,
        )
        metrics = PrometheusMetrics()
        export_outbox(metrics, "video", publisher, SimpleNamespace(connected=False))  # type: ignore[arg-type]
        labels = {"daemon": "video"}
        assert metrics.sample("citygw_outbox_messages", {**labels, "state": "unsent"}) == 2
        assert (
            metrics.sample("citygw_outbox_messages", {**labels, "state": "awaiting_receipt"}) == 0
        )
        assert metrics.sample("citygw_outbox_bytes", labels) == 15
        assert metrics.sample("citygw_outbox_inflight", labels) == 1
        assert metrics.sample("citygw_outbox_max_messages", labels) == 100
        assert metrics.sample("citygw_outbox_published_total", labels) == 7
        assert metrics.sample("citygw_outbox_resent_total", labels) == 1
        assert metrics.sample("citygw_mqtt_connected", labels) == 0
        age = metrics.sample("citygw_outbox_oldest_age_seconds", labels)
        assert age is not None and 0.3 <= age < 5

        outbox.delete([1, 2])
        assert metrics.sample("citygw_outbox_oldest_age_seconds", labels) == 0
        assert metrics.sample("citygw_outbox_messages", {**labels, "state": "unsent"}) == 0
    finally:
        outbox.close()
