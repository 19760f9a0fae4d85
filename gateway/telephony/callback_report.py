"""What a callback tells the core: call records (话务记录) and the survey's feedback.

Pure functions. Every notice is a call candidate with ``facts.call_purpose`` =
``callback`` (a record only: the core opens no case for it) naming the case in
``facts.status_case_number``, so the case's calls list it:

- a callback waiting for a reason the centre should know (outside calling hours, the
  number on the do-not-call list, the number's daily cap reached), once per reason;
- each call made (answered, no answer, busy, congestion, failed, outcome unknown);
- the end of a callback that never reached anyone (unreached, expired).

An answered call whose citizen pressed a survey key also gives a `CaseFeedback`, as
the IVR's own survey does: the core records the satisfaction on the case (and a
dissatisfied answer asks for it to be reopened).

Ids are stable per (case, what happened): publishing one twice stores it once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.clock import rfc3339
from gateway.contract import CandidateCase, CaseFeedback, Reporter, Source, stable_message_id
from gateway.telephony.callback_policy import (
    Callback,
    CallbackResult,
    DialOutcome,
    DialResult,
    WaitReason,
)

CALL_PURPOSE = "callback"

#: text the centre's people read (console call records)
TEXT = {
    "title": "12319 回访：案件 {case}",
    WaitReason.OUTSIDE_HOURS: "回访等待：当前不在回访时段，将于 {until} 后拨打",
    WaitReason.DO_NOT_CALL: "回访等待：该号码在免打扰名单中",
    WaitReason.DAILY_CAP: "回访等待：该号码今日回访次数已达上限，将于 {until} 后拨打",
    DialOutcome.ANSWERED: "第 {n} 次回访已接通",
    DialOutcome.NO_ANSWER: "第 {n} 次回访无人接听",
    DialOutcome.BUSY: "第 {n} 次回访对方忙",
    DialOutcome.CONGESTION: "第 {n} 次回访线路拥塞",
    DialOutcome.FAILED: "第 {n} 次回访未能呼出",
    DialOutcome.LOST: "第 {n} 次回访结果未知（与交换机的连接中断），不再重拨",
    CallbackResult.UNREACHED: "回访结束：{n} 次均未接通",
    CallbackResult.EXPIRED: "回访结束：结案后长期未能回访，已放弃",
    "satisfied": "，市民满意",
    "basically_satisfied": "，市民基本满意",
    "dissatisfied": "，市民不满意，申请重办",
    "no_survey": "，市民未评价",
}


def _record(
    callback: Callback,
    source: Source,
    *,
    tag: str,
    description: str,
    at: datetime,
    fallback_event_code: str,
    facts: dict[str, Any],
) -> CandidateCase:
    return CandidateCase.create(
        source=source,
        id=stable_message_id("callback", source.id, callback.case_id, tag),
        ts=at,
        event_code=callback.event_code or fallback_event_code,
        title=TEXT["title"].format(case=callback.case_number),
        description=description,
        reporter=Reporter(callback_number=callback.number),
        facts={
            "channel": "phone",
            "direction": "outbound",
            "call_purpose": CALL_PURPOSE,
            "status_case_number": callback.case_number,
            "case_id": callback.case_id,
            "callback": {
                "state": callback.state.value,
                "attempts": callback.attempts,
                "wait_reason": callback.wait_reason.value if callback.wait_reason else None,
                "next_at": rfc3339(callback.next_at),
                "result": callback.result.value if callback.result else None,
                "satisfaction": callback.satisfaction,
            },
            **facts,
        },
    )


def waiting_record(
    callback: Callback, at: datetime, *, local_until: str, fallback_event_code: str, source: Source
) -> CandidateCase:
    reason = callback.wait_reason
    assert reason is not None
    return _record(
        callback,
        source,
        tag=f"wait:{reason.value}",
        description=TEXT[reason].format(until=local_until),
        at=at,
        fallback_event_code=fallback_event_code,
        facts={"outcome": f"waiting:{reason.value}"},
    )


def attempt_record(
    callback: Callback,
    result: DialResult,
    at: datetime,
    *,
    attempt_id: str,
    started_at: datetime,
    fallback_event_code: str,
    source: Source,
) -> CandidateCase:
    text = TEXT[result.outcome].format(n=callback.attempts)
    if result.outcome is DialOutcome.ANSWERED:
        text += TEXT[callback.satisfaction or "no_survey"]
    if callback.result in (CallbackResult.UNREACHED,):
        text += "；" + TEXT[CallbackResult.UNREACHED].format(n=callback.attempts)
    return _record(
        callback,
        source,
        tag=f"attempt:{attempt_id}",
        description=text,
        at=at,
        fallback_event_code=fallback_event_code,
        facts={
            "uniqueid": result.uniqueid or f"{attempt_id}-1",
            "attempt_id": attempt_id,
            "outcome": result.outcome.value,
            "hangup_cause": result.hangup_cause,
            "survey_key": result.survey_key,
            "detail": result.detail[:300],
            "started_at": rfc3339(started_at),
            "ended_at": rfc3339(at),
        },
    )


def expired_record(
    callback: Callback, at: datetime, *, fallback_event_code: str, source: Source
) -> CandidateCase:
    return _record(
        callback,
        source,
        tag="expired",
        description=TEXT[CallbackResult.EXPIRED],
        at=at,
        fallback_event_code=fallback_event_code,
        facts={"outcome": "expired"},
    )


def survey_feedback(
    callback: Callback, result: DialResult, at: datetime, *, attempt_id: str, source: Source
) -> CaseFeedback | None:
    """The survey's answer of an answered callback; None without a valid key."""
    if callback.satisfaction is None:
        return None
    return CaseFeedback.create(
        source=source,
        id=stable_message_id("callback-survey", source.id, callback.case_id),
        ts=at,
        case_number=callback.case_number,
        satisfaction=callback.satisfaction,
        reopen_requested=callback.satisfaction == "dissatisfied",
        comment="",
        facts={
            "channel": "callback",
            "attempt_id": attempt_id,
            "uniqueid": result.uniqueid,
            "callee": callback.number,
        },
    )
