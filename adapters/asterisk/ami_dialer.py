"""Callbacks placed through AMI: the `CallbackDialer` port over `AmiClient`.

One async Originate per attempt, into the survey context. The attempt id is the
ActionID and names both Local halves (``ChannelId`` ``<id>-1``, ``OtherChannelId``
``<id>-2``), so the call's events are known as ours before the call exists: Asterisk's
event order is not causal (a ``VarSet`` or ``Hangup`` may come before the
``OriginateResponse``), so they are collected from the moment the action is sent. An
answered call is followed to its ``Hangup`` (at most ``max_call_s``) for the key the
survey context Read() into ``survey_variable``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from adapters.asterisk.ami_client import AmiClient, AmiDisconnected, AmiError, AmiTimeout
from adapters.asterisk.ami_protocol import (
    AmiFrame,
    OriginateOutcome,
    known_uniqueid,
    originate_outcome,
)
from gateway.telephony.callback_policy import DialOutcome, DialRequest, DialResult
from gateway.telephony.callback_settings import CallbackConfig

_OUTCOMES = {
    OriginateOutcome.ANSWERED: DialOutcome.ANSWERED,
    OriginateOutcome.NO_ANSWER: DialOutcome.NO_ANSWER,
    OriginateOutcome.BUSY: DialOutcome.BUSY,
    OriginateOutcome.CONGESTION: DialOutcome.CONGESTION,
    OriginateOutcome.FAILED: DialOutcome.FAILED,
}


@dataclass
class _Watch:
    key: str | None = None
    cause: str | None = None
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)


class AmiCallbackDialer:
    def __init__(self, client: AmiClient, config: CallbackConfig) -> None:
        self._client = client
        self._config = config
        self._watches: dict[str, _Watch] = {}
        client.add_listener(self._on_event)

    @property
    def ready(self) -> bool:
        return self._client.ready

    @property
    def pause_reason(self) -> str | None:
        if self._client.ready:
            return None
        detail = f": {self._client.last_error}" if self._client.last_error else ""
        return f"AMI {self._client.host}:{self._client.port} {self._client.state}{detail}"

    def _on_event(self, frame: AmiFrame) -> None:
        watch = self._watches.get(frame.uniqueid or "")
        if watch is None:
            return
        if frame.event == "VarSet" and frame.get("Variable") == self._config.survey_variable:
            watch.key = frame.get("Value") or None
        elif frame.event == "Hangup":
            watch.cause = frame.get("Cause")
            watch.hung_up.set()

    async def _follow(self, watch: _Watch, limit_s: float) -> None:
        """Until the call's Hangup, ``limit_s``, or the connection's end (events are lost
        then: the survey key is what was seen so far)."""
        deadline = asyncio.get_running_loop().time() + limit_s
        while self._client.ready:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.hung_up.wait(), min(left, 0.5))
                return

    async def dial(self, request: DialRequest) -> DialResult:
        config = self._config
        leg = f"{request.attempt_id}-1"
        fields = {
            "Channel": config.channel.format(number=request.number),
            "Context": config.context,
            "Exten": config.exten,
            "Priority": str(config.priority),
            "CallerID": config.caller_id,
            "Timeout": str(config.ring_timeout_s * 1000),
            "Variable": [
                f"CITYGW_CASE={request.case_number}",
                f"CITYGW_CALLBACK={request.attempt_id}",
            ],
            "ChannelId": leg,
            "OtherChannelId": f"{request.attempt_id}-2",
        }
        watch = self._watches[leg] = _Watch()
        try:
            try:
                frame = await self._client.originate(
                    fields,
                    timeout_s=config.ring_timeout_s + self._client.action_timeout_s + 10,
                    action_id=request.attempt_id,
                )
            except AmiDisconnected as exc:
                outcome = DialOutcome.LOST if exc.queued else DialOutcome.NOT_SENT
                return DialResult(outcome, uniqueid=leg, detail=exc.message)
            except AmiTimeout as exc:  # it may have been queued: never call twice
                return DialResult(DialOutcome.LOST, uniqueid=leg, detail=str(exc))
            except AmiError as exc:  # Response: Error, e.g. "Asterisk is shutting down"
                return DialResult(DialOutcome.NOT_SENT, detail=exc.message)
            outcome = _OUTCOMES[originate_outcome(frame)]
            uniqueid = known_uniqueid(frame.uniqueid) or leg
            if outcome is DialOutcome.ANSWERED:
                await self._follow(watch, config.max_call_s)
            return DialResult(
                outcome,
                survey_key=watch.key,
                uniqueid=uniqueid,
                hangup_cause=watch.cause,
                detail=f"Reason {frame.get('Reason')}",
            )
        finally:
            self._watches.pop(leg, None)
