"""The MQTT adapter's own paho client: what it does differently, and that it is no worse.

`adapters.mqtt.connection._Client` reads every packet already received per wake-up
(paho reads one), and decodes an MQTT 3.1.1 PUBACK itself instead of through paho's
general decoder. These tests hand the same bytes to it and to a plain paho client and
compare what the application sees; the broker tests (test_mqtt_delivery.py and the
daemons' tests) run every message through it for real.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from adapters.mqtt.connection import _Client, _PahoDelivery

PUBACK = 0x40
PUBLISH_QOS0 = 0x30


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


def _publish(topic: str, payload: bytes) -> bytes:
    """A QoS 0 PUBLISH packet (short: one byte of remaining length)."""
    body = struct.pack("!H", len(topic)) + topic.encode() + payload
    assert len(body) < 128
    return bytes([PUBLISH_QOS0, len(body)]) + body


@pytest.fixture
def wire() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    yield ours, broker
    ours.close()
    broker.close()


def _reader(kind: type[paho.Client], sock: socket.socket) -> tuple[paho.Client, list[bytes]]:
    client = kind(CallbackAPIVersion.VERSION2, client_id="t", protocol=paho.MQTTv311)
    received: list[bytes] = []
    client.on_message = lambda _c, _u, message: received.append(message.payload)
    client._sock = sock  # as if connected: loop_read reads this socket
    return client, received


def test_one_read_takes_every_packet_already_received(
    wire: tuple[socket.socket, socket.socket],
) -> None:
    sock, broker = wire
    client, received = _reader(_Client, sock)
    broker.sendall(b"".join(_publish("t/a", b"m%d" % n) for n in range(5)))

    assert client.loop_read() == paho.MQTT_ERR_SUCCESS
    assert received == [b"m0", b"m1", b"m2", b"m3", b"m4"]


def test_paho_itself_reads_one_packet_per_call(wire: tuple[socket.socket, socket.socket]) -> None:
    """Why `_Client.loop_read` exists (if paho changes this, the override can go)."""
    sock, broker = wire
    client, received = _reader(paho.Client, sock)
    broker.sendall(_publish("t/a", b"m0") + _publish("t/a", b"m1"))
    client.loop_read()
    assert received == [b"m0"]


def test_a_packet_cut_in_two_is_finished_on_the_next_read(
    wire: tuple[socket.socket, socket.socket],
) -> None:
    sock, broker = wire
    client, received = _reader(_Client, sock)
    second = _publish("t/b", b"second")
    broker.sendall(_publish("t/a", b"first") + second[:4])
    assert client.loop_read() == paho.MQTT_ERR_SUCCESS
    assert received == [b"first"]
    broker.sendall(second[4:])
    assert client.loop_read() == paho.MQTT_ERR_SUCCESS
    assert received == [b"first", b"second"]


def test_a_read_stops_after_a_batch_so_writes_get_their_turn(
    wire: tuple[socket.socket, socket.socket],
) -> None:
    sock, broker = wire
    client, received = _reader(_Client, sock)
    broker.sendall(b"".join(_publish("t/a", b"%d" % n) for n in range(_Client.READ_BATCH + 20)))
    client.loop_read()
    assert len(received) == _Client.READ_BATCH
    client.loop_read()
    assert len(received) == _Client.READ_BATCH + 20


def test_a_closed_connection_is_reported(wire: tuple[socket.socket, socket.socket]) -> None:
    sock, broker = wire
    client, received = _reader(_Client, sock)
    broker.sendall(_publish("t/a", b"last"))
    broker.close()
    rc = client.loop_read()
    assert received == [b"last"]
    assert rc == paho.MQTT_ERR_CONN_LOST
