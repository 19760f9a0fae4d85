"""One MQTT connection per daemon (paho-mqtt 2.x), the only place citygw touches paho.

- MQTT 3.1.1, persistent session (``clean_session=False``) under a stable client id, so
  the broker keeps QoS 1 messages for a subscriber that is away;
- paho's network thread reconnects with doubling backoff (``reconnect_min_s`` to
  ``reconnect_max_s``); every connect attempt has a timeout;
- availability: a retained ``online`` status on each connect, ``offline`` as the last
  will (the broker sends it if the daemon dies) and on a clean stop;
- optional username/password and TLS from config;
- a subscription may be shared (``share_group``): the broker hands each message of the
  filter to one member of the group (MQTT shared subscriptions, ``$share/<group>/<filter>``,
  which Mosquitto 2 offers to 3.1.1 clients too), so several consumers split one stream;
- subscriptions are re-made on every connect; with ``manual_ack`` a message is
  acknowledged only when the application says so, and only on the connection it came
  in on (a packet id from an earlier connection means nothing on a new one: the broker
  redelivers such a message and the consumer's store-by-id absorbs the duplicate).
"""

from __future__ import annotations

import logging
import re
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.config import MqttConfig
from gateway.ports import Delivery

log = logging.getLogger(__name__)


class ConnectionState(StrEnum):
    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ReceivedMessage:
    """A message as it arrived; ``ack()`` confirms it (manual-ack connections only)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int
    generation: int
    _connection: MqttConnection

    def ack(self) -> bool:
        """PUBACK this message; False if the connection it came on is gone (it will be redelivered)."""
        return self._connection._ack(self)


class _PahoDelivery:
    """`Delivery` over paho's ``MQTTMessageInfo``.

    paho's own ``is_published()`` raises forever for a message handed over while the
    connection was down (its ``rc`` stays NO_CONN), even after paho re-sent it on reconnect
    and the broker acked it; the flag paho sets on the PUBACK is what counts here.
    """

    __slots__ = ("_info",)

    def __init__(self, info: paho.MQTTMessageInfo) -> None:
        self._info = info

    def is_published(self) -> bool:
        return bool(self._info._published)


_MESSAGE_ID = struct.Struct("!H")
_PUBACK_SUCCESS = ReasonCode(PacketTypes.PUBACK)
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)


class _Client(paho.Client):
    """paho's client with two hot paths made cheaper; everything else is paho's own.

    - **Reading:** paho's network thread reads one packet per ``select()`` (more only while
      it has publishes awaiting acknowledgement), so a stream of incoming messages costs
      a system call and a pass of its loop each. Here ``loop_read`` goes on reading the
      packets already received, up to `READ_BATCH`, before the loop writes (acks,
      publishes) and checks keepalive again: ~40 % less CPU per received message.
    - **PUBACK:** paho 2.2 decodes every PUBACK into a new ``ReasonCode`` and
      ``Properties``, each built from dictionaries of all MQTT 5 names: most of the cost
      of an acknowledgement, paid once per case event the core publishes. A 3.1.1 PUBACK
      holds only the packet id: it is decoded here, and one shared success code and one
      empty property set are handed on (``on_publish`` callbacks read, never change,
      them). Any PUBACK that is not exactly a packet id goes through paho.

    Both rely on paho's internals: pyproject pins paho-mqtt to 2.2.x, and
    tests/foundation/test_mqtt_connection.py checks them against paho's own behaviour.
    """

    #: packets read per wake-up of the network thread, at most (then writes get a turn)
    READ_BATCH = 100

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        if self._sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        budget = max(self.READ_BATCH, len(self._out_messages) + len(self._in_messages))
        for _ in range(budget):
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:  # nothing more received: back to select
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet = self._in_packet["packet"]
        if (
            cmd != "PUBACK"
            or self._protocol != MQTTProtocolVersion.MQTTv311
            or len(packet) != _MESSAGE_ID.size
        ):
            return super()._handle_pubackcomp(cmd)
        (mid,) = _MESSAGE_ID.unpack(packet)
        self._easy_log(paho.MQTT_LOG_DEBUG, "Received %s (Mid: %d)", cmd, mid)
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, _PUBACK_SUCCESS, _NO_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS


MessageHandler = Callable[[ReceivedMessage], None]
ConnectionListener = Callable[[bool], None]


@dataclass(frozen=True)
class Availability:
    """Retained availability messages: sent on connect, and by the broker as last will.

    ``offline_payload`` is the last will (fixed when the client is made: the broker holds
    it); ``online_now`` and ``offline_now``, when given, make the message sent on each
    connect and on a clean stop at that moment, so they carry the time they are sent.
    """

    topic: str
    online_payload: bytes
    offline_payload: bytes
    online_now: Callable[[], bytes] | None = None
    offline_now: Callable[[], bytes] | None = None

    def online(self) -> bytes:
        return self.online_now() if self.online_now is not None else self.online_payload

    def offline(self) -> bytes:
        return self.offline_now() if self.offline_now is not None else self.offline_payload


class MqttConnection:
    """A supervised paho client. ``start()``/``stop()`` are idempotent."""

    def __init__(
        self,
        config: MqttConfig,
        client_id: str,
        *,
        availability: Availability | None = None,
        manual_ack: bool = False,
        clean_session: bool = False,
    ) -> None:
        self._config = config
        self.client_id = client_id
        self._availability = availability
        self._manual_ack = manual_ack
        self._state = ConnectionState.NEW
        self._state_lock = threading.Lock()
        self._connected = threading.Event()
        self._generation = 0
        # filter -> (qos, handler, the filter as subscribed: ``$share/<group>/...`` if shared)
        self._subscriptions: dict[str, tuple[int, MessageHandler, str]] = {}
        # topic -> handler, so a message costs one dict lookup, not a filter match per
        # subscription; emptied when the subscriptions change (see `_handler_for`)
        self._handler_cache: dict[str, MessageHandler | None] = {}
        self._subscriptions_version = 0
        self._listeners: list[ConnectionListener] = []
        self._client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=paho.MQTTv311,
            manual_ack=manual_ack,
        )
        paho_log = logging.getLogger("paho")
        if not any(isinstance(f, _ReconnectNoiseFilter) for f in paho_log.filters):
            paho_log.addFilter(_ReconnectNoiseFilter())
        self._client.enable_logger(paho_log)
        self._client.reconnect_delay_set(
            max(1, round(config.reconnect_min_s)), max(1, round(config.reconnect_max_s))
        )
        self._client.connect_timeout = config.connect_timeout_s
        # No in-flight limit in paho: the outbox and the event relay each keep their own
        # window of messages awaiting PUBACK. With a limit, paho walks its whole table of
        # unacknowledged messages after every PUBACK, looking for queued ones to send: a
        # cost per acknowledgement that grows with the window (nearly a third of a PUBACK's time
        # at a window of 200).
        self._client.max_inflight_messages_set(0)
        self._client.max_queued_messages_set(0)
        if config.username is not None:
            password = config.password.get_secret_value() if config.password else None
            self._client.username_pw_set(config.username, password)
        if config.tls is not None:
            self._client.tls_set(
                ca_certs=str(config.tls.ca_file) if config.tls.ca_file else None,
                certfile=str(config.tls.cert_file) if config.tls.cert_file else None,
                keyfile=str(config.tls.key_file) if config.tls.key_file else None,
                cert_reqs=ssl.CERT_NONE if config.tls.insecure_skip_verify else ssl.CERT_REQUIRED,
            )
            if config.tls.insecure_skip_verify:
                self._client.tls_insecure_set(True)
        if availability is not None:
            self._client.will_set(
                availability.topic, availability.offline_payload, qos=1, retain=True
            )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_message = self._on_message
        self._publish_listeners: tuple[Callable[[], None], ...] = ()
        self._client.on_publish = self._on_publish

    # ------------------------------------------------------------------ lifecycle

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def generation(self) -> int:
        """Counts successful connects; a message's acks are valid only within one."""
        return self._generation

    def _set_state(self, state: ConnectionState, detail: str = "") -> None:
        with self._state_lock:
            if state == self._state:
                return
            previous, self._state = self._state, state
        level = logging.WARNING if state == ConnectionState.DISCONNECTED else logging.INFO
        log.log(
            level,
            "mqtt[%s] %s -> %s%s",
            self.client_id,
            previous,
            state,
            f" ({detail})" if detail else "",
        )

    def start(self) -> None:
        if self._state != ConnectionState.NEW:
            return
        self._set_state(ConnectionState.CONNECTING, f"{self._config.host}:{self._config.port}")
        self._client.connect_async(
            self._config.host, self._config.port, keepalive=self._config.keepalive_s
        )
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self, *, publish_offline: bool = True, timeout: float = 5.0) -> None:
        """Say ``offline`` (retained), disconnect cleanly, stop the network thread."""
        if self._state in (ConnectionState.STOPPED, ConnectionState.NEW):
            self._set_state(ConnectionState.STOPPED)
            return
        if publish_offline and self._availability is not None and self.connected:
            info = self._client.publish(
                self._availability.topic, self._availability.offline(), qos=1, retain=True
            )
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.warning(
                    "mqtt[%s] could not publish offline status before stopping", self.client_id
                )
        self._set_state(ConnectionState.STOPPED)
        if self.connected:
            self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    # ------------------------------------------------------------------ API

    def add_publish_listener(self, listener: Callable[[], None]) -> None:
        """``listener()`` after each PUBACK, on paho's thread: it must only wake someone."""
        self._publish_listeners += (listener,)

    def add_connection_listener(self, listener: ConnectionListener) -> None:
        """``listener(True)`` after each connect, ``listener(False)`` after each loss (paho thread)."""
        self._listeners.append(listener)

    def subscribe(
        self,
        topic_filter: str,
        handler: MessageHandler,
        qos: int = 1,
        *,
        share_group: str | None = None,
    ) -> None:
        """Subscribe now (if connected) and after every reconnect. The handler runs on paho's thread.

        ``share_group``: a shared subscription; each message on ``topic_filter`` goes to one
        of the group's members only (the messages still arrive under their own topics).
        """
        sent_as = shared_filter(topic_filter, share_group) if share_group else topic_filter
        self._subscriptions[topic_filter] = (qos, handler, sent_as)
        self._subscriptions_version += 1
        self._handler_cache = {}
        if self.connected:
            self._client.subscribe(sent_as, qos)

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> Delivery:
        """Hand one message to paho; the returned `Delivery` tells when the broker acked it.

        Raises `PublishRefused` if paho refuses it outright (payload too large, bad topic).
        """
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
        except ValueError as exc:
            raise PublishRefused(topic, str(exc)) from exc
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise PublishRefused(topic, paho.error_string(info.rc))
        return _PahoDelivery(info)

    def publish_and_wait(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        timeout: float = 10.0,
    ) -> bool:
        """Publish directly (no outbox) and wait for the PUBACK; for tests, tools and benchmarks."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    # ------------------------------------------------------------------ paho callbacks

    def _on_connect(
        self,
        client: paho.Client,
        _userdata: object,
        _flags: object,
        reason_code: object,
        _props: object,
    ) -> None:
        if getattr(reason_code, "is_failure", False):
            self._set_state(ConnectionState.DISCONNECTED, f"broker refused: {reason_code}")
            return
        self._generation += 1
        self._connected.set()
        self._set_state(ConnectionState.CONNECTED, f"session generation {self._generation}")
        if self._availability is not None:
            client.publish(
                self._availability.topic, self._availability.online(), qos=1, retain=True
            )
        for qos, _handler, sent_as in self._subscriptions.values():
            client.subscribe(sent_as, qos)
        for listener in self._listeners:
            self._call_listener(listener, True)

    def _on_connect_fail(self, _client: paho.Client, _userdata: object) -> None:
        self._set_state(
            ConnectionState.DISCONNECTED,
            f"cannot reach {self._config.host}:{self._config.port}; retrying every "
            f"{self._config.reconnect_min_s:g}-{self._config.reconnect_max_s:g}s",
        )

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: object,
        _flags: object,
        reason_code: object,
        _props: object,
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if self._state != ConnectionState.STOPPED:
            self._set_state(ConnectionState.DISCONNECTED, str(reason_code))
        if was_connected:
            for listener in self._listeners:
                self._call_listener(listener, False)

    def _call_listener(self, listener: ConnectionListener, up: bool) -> None:
        try:
            listener(up)
        except Exception:
            log.exception("mqtt[%s] connection listener failed", self.client_id)

    def _on_message(
        self, _client: paho.Client, _userdata: object, message: paho.MQTTMessage
    ) -> None:
        received = ReceivedMessage(
            topic=message.topic,
            payload=bytes(message.payload),
            qos=message.qos,
            retain=bool(message.retain),
            mid=message.mid,
            generation=self._generation,
            _connection=self,
        )
        handler = self._handler_for(message.topic)
        if handler is None:
            log.warning(
                "mqtt[%s] message on %s matches no subscription", self.client_id, message.topic
            )
            received.ack()
            return
        try:
            handler(received)
        except Exception:
            # not acked: the broker redelivers it after the next reconnect
            log.exception(
                "mqtt[%s] handler for %s failed; message left unacknowledged",
                self.client_id,
                message.topic,
            )

    def _handler_for(self, topic: str) -> MessageHandler | None:
        cache = self._handler_cache
        if topic in cache:
            return cache[topic]
        version = self._subscriptions_version
        found: MessageHandler | None = None
        for topic_filter, (_qos, handler, _sent_as) in list(self._subscriptions.items()):
            if paho.topic_matches_sub(topic_filter, topic):
                found = handler
                break
        if version == self._subscriptions_version:  # else a subscribe raced us: don't cache
            if len(cache) >= _HANDLER_CACHE_SIZE:
                cache.clear()
            cache[topic] = found
        return found

    def _on_publish(
        self, _client: paho.Client, _userdata: object, mid: int, reason_code: object, _props: object
    ) -> None:
        for listener in self._publish_listeners:
            listener()

    def _ack(self, message: ReceivedMessage) -> bool:
        if not self._manual_ack or message.qos == 0:
            return True
        if message.generation != self._generation or not self.connected:
            return False
        return self._client.ack(message.mid, message.qos) == MQTTErrorCode.MQTT_ERR_SUCCESS


_SHARE_GROUP = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def shared_filter(topic_filter: str, group: str) -> str:
    """``$share/<group>/<filter>``: the filter of a shared subscription (MQTT 5, and 3.1.1
    on Mosquitto 2). A group name holds no ``/``, ``+``, ``#``."""
    if not _SHARE_GROUP.match(group):
        raise ValueError(f"bad share group {group!r}: letters, digits, '_' and '-' only")
    return f"$share/{group}/{topic_filter}"


#: topics remembered by `MqttConnection._handler_for` (topics name sources: a few thousand)
_HANDLER_CACHE_SIZE = 4096


class _ReconnectNoiseFilter(logging.Filter):
    """paho logs each failed reconnect attempt as an ERROR; our own state log says it once."""

    _NOISE = ("Client is not connected", "failed to receive on socket", "Connection lost")

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not any(message.startswith(noise) for noise in self._NOISE)


class PublishRefused(Exception):
    """paho would not take a message at all (not a delivery failure: those are retried)."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"publish to {topic} refused: {reason}")
        self.topic = topic
        self.reason = reason
