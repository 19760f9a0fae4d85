"""Ports: what the domain services need from the outside, as Protocols.

Concrete adapters are chosen in `gateway.bootstrap`; tests plug fakes in here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


class Delivery(Protocol):
    """One message handed to the broker client: whether the broker acknowledged it (PUBACK)."""

    def is_published(self) -> bool: ...


class MessagePublisher(Protocol):
    """Publishes bytes on a topic, at least once. `OutboxPublisher` is the durable one."""

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        confirm_id: str | None = None,
    ) -> int:
        """Accept the message for delivery (durably, for an outbox) or raise.

        ``confirm_id``: the message's contract id; keep it until a consumer's receipt names it.
        """
        ...


@runtime_checkable
class BatchPublisher(Protocol):
    """A `MessagePublisher` that also accepts several messages at once (one durable write)."""

    def publish_many(self, messages: Sequence[tuple[str, bytes]], *, qos: int = 1) -> list[int]:
        """Accept all of ``messages`` (topic, payload), not retained, or raise for all."""
        ...


class ReceiptSender(Protocol):
    """Tells producers which message ids a consumer has committed (or refused for good)."""

    def send_receipt(self, ids: list[str], rejected: list[str]) -> None: ...


class InboundMessage(Protocol):
    """A message received from the broker, confirmed with `ack()` once it is safely handled."""

    @property
    def topic(self) -> str: ...

    @property
    def payload(self) -> bytes: ...

    def ack(self) -> bool: ...
