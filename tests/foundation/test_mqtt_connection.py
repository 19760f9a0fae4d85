"""The MQTT adapter's own paho client: its cheaper PUBACK gives what paho's gives.

`adapters.mqtt.connection._Client` decodes an MQTT 3.1.1 PUBACK itself instead of
through paho's general decoder. These tests hand the same packets to it and to a plain
paho client and compare what each application callback sees; the broker tests in
test_mqtt_delivery.py run every acknowledgement through it for real.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from adapters.mqtt.connection import _Client, _PahoDelivery

PUBACK = 0x40


def _client(kind: type[paho.Client]) -> tuple[paho.Client, list[tuple[Any, ...]]]:
    client = kind(CallbackAPIVersion.VERSION2, client_id="t", protocol=paho.MQTTv311)
    client.max_inflight_messages_set(0)
    seen: list[tuple[Any, ...]] = []

    def on_publish(_c: object, _u: object, mid: int, reason: Any, properties: Any) -> None:
        seen.append((mid, reason.value, reason.is_failure, str(reason), properties.json()))

    client.on_publish = on_publish
    return client, seen


def _receive(client: paho.Client, packet: bytes) -> Any:
    """Hand ``packet`` (the bytes after the fixed header) to the client as a PUBACK."""
    client._in_packet = {"command": PUBACK, "packet": packet}
    return client._handle_pubackcomp("PUBACK")


def test_a_puback_is_reported_as_paho_reports_it() -> None:
    ours, ours_seen = _client(_Client)
    theirs, theirs_seen = _client(paho.Client)
    infos = []
    for client in (ours, theirs):
        # not connected: paho keeps the message and waits for the (here, simulated) ack
        info = client.publish("t/1", b"x", qos=1)
        assert info.mid == 1
        infos.append(_PahoDelivery(info))  # paho's own is_published() raises for NO_CONN
        assert not infos[-1].is_published()

    assert _receive(ours, b"\x00\x01") == _receive(theirs, b"\x00\x01")

    assert ours_seen == theirs_seen == [(1, 0, False, "Success", {})]
    assert all(info.is_published() for info in infos)
    assert 1 not in ours._out_messages


def test_an_ack_for_an_unknown_message_is_ignored_as_paho_ignores_it() -> None:
    ours, ours_seen = _client(_Client)
    theirs, theirs_seen = _client(paho.Client)
    for client in (ours, theirs):
        client.publish("t/1", b"x", qos=1)

    assert _receive(ours, b"\x00\x07") == _receive(theirs, b"\x00\x07")

    assert ours_seen == theirs_seen == []
    assert 1 in ours._out_messages


@pytest.mark.parametrize("packet", [b"\x00", b"\x00\x01\x00"])
def test_a_malformed_puback_is_refused_by_paho(packet: bytes) -> None:
    ours, ours_seen = _client(_Client)
    ours.publish("t/1", b"x", qos=1)

    with pytest.raises(paho.MalformedPacket):  # paho's decoder, not ours, judges it
        _receive(ours, packet)
    assert ours_seen == []
