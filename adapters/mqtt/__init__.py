"""MQTT adapter: the paho connection and the durable outbox (the only code that imports paho)."""

from adapters.mqtt.connection import (
    Availability,
    ConnectionState,
    Delivery,
    MqttConnection,
    PublishRefused,
    ReceivedMessage,
)
from adapters.mqtt.outbox import Outbox, OutboxFull, OutboxLocked, OutboxMessage
from adapters.mqtt.outbox_publisher import OutboxPublisher

__all__ = [
    "Availability",
    "ConnectionState",
    "Delivery",
    "MqttConnection",
    "Outbox",
    "OutboxFull",
    "OutboxLocked",
    "OutboxMessage",
    "OutboxPublisher",
    "PublishRefused",
    "ReceivedMessage",
]
