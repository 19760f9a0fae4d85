"""What a finished call becomes on MQTT: a candidate case and, after a survey, feedback.

Every call ends in one candidate, whatever it was for: the centre keeps a record of
each call (话务记录). ``facts.call_purpose`` says what the call was:

    report         1 in the main menu: a problem report (a case, partial if cut short)
    suggestion     4: a recorded suggestion (a case)
    consultation   2: handed to an agent for a question
    status_query   3: the caller asked for a case's state (and maybe answered the survey)
    transfer       0, or three misses, in the main menu: straight to an agent
    none           the call ended before the caller chose anything

The core opens a case only for the first two; the others are kept as call records and
never reach the operators' review queue (`gateway.core.call_records`). A call that
names no CJ/T 214 category carries the configured 其他 code (``fallback_event_code``).

Pure functions of the `CallRecord` (the recordings' bytes are read by the caller and
passed in as `Evidence`). The candidate's id is derived from the instance and the
call's Asterisk uniqueid, so publishing it twice stores it once.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from gateway.clock import rfc3339
from gateway.contract import (
    CandidateCase,
    CaseFeedback,
    Evidence,
    Location,
    Reporter,
    Source,
    stable_message_id,
)
from gateway.telephony.ivr import CallRecord, Outcome, Satisfaction, Service
from gateway.telephony.settings import TelephonyConfig


class CallPurpose(StrEnum):
    """What a call was for (``facts.call_purpose`` of its candidate)."""

    REPORT = "report"
    SUGGESTION = "suggestion"
    CONSULTATION = "consultation"
    STATUS_QUERY = "status_query"
    TRANSFER = "transfer"
    NONE = "none"


_PURPOSE_OF_SERVICE = {
    Service.REPORT: CallPurpose.REPORT,
    Service.SUGGESTION: CallPurpose.SUGGESTION,
    Service.CONSULTATION: CallPurpose.CONSULTATION,
    Service.STATUS: CallPurpose.STATUS_QUERY,
}


def call_purpose(call: CallRecord) -> CallPurpose:
    """The service chosen; before a choice, ``transfer`` if an agent took the call, else ``none``."""
    if call.service is not None:
        return _PURPOSE_OF_SERVICE[call.service]
    return CallPurpose.TRANSFER if call.transfer_reason else CallPurpose.NONE


def call_facts(call: CallRecord) -> dict[str, Any]:
    """The call facts a candidate carries: who, when, how far, what was pressed."""
    facts: dict[str, Any] = {
        "channel": "phone",
        "uniqueid": call.info.uniqueid,
        "asterisk_channel": call.info.channel,
        "caller": call.info.caller_number,
        "caller_name": call.info.caller_name,
        "script": call.info.script,
        "query": call.info.query,
        "started_at": rfc3339(call.started_at),
        "ended_at": rfc3339(call.ended_at) if call.ended_at else None,
        "stage": call.stage.value,
        "outcome": call.outcome.value if call.outcome else None,
        "service": call.service.value if call.service else None,
        "call_purpose": call_purpose(call).value,
        "keys": [f"{stage}:{key}" for stage, key in call.keys],
    }
    if call.transfer_reason:
        facts["transfer_reason"] = call.transfer_reason
    if call.failed_prompts:
        facts["failed_prompts"] = call.failed_prompts
    if call.error:
        facts["error"] = call.error
    if call.recordings:
        facts["recordings"] = {
            label: {"ended_by": rec.ended_by.value, "samples": rec.samples}
            for label, rec in call.recordings.items()
        }
    return facts


def candidate_from_call(
    call: CallRecord,
    config: TelephonyConfig,
    *,
    source: Source,
    evidence: list[Evidence],
    extra_facts: dict[str, Any] | None = None,
) -> CandidateCase:
    """The candidate of a call: a proposed case, or the record of a call that proposes none."""
    purpose = call_purpose(call)
    category = call.category
    facts = call_facts(call)
    if category is not None:
        facts["category"] = {
            "key": category.key,
            "name": category.name,
            "cjt214_table": category.table,
            "cjt214_class": category.class_code,
        }
    else:
        facts["event_code_assumed"] = True
    if call.district is not None:
        facts["district_key"] = call.district.key
    if purpose is CallPurpose.STATUS_QUERY:
        facts["status_case_number"] = call.status_case_number
        facts["state_heard"] = call.status.state if call.status else None
        facts["satisfaction"] = call.satisfaction.value if call.satisfaction else None
    if purpose is CallPurpose.SUGGESTION:
        facts["kind"] = "suggestion"
    if extra_facts:
        facts.update(extra_facts)
    return CandidateCase.create(
        source=source,
        id=stable_message_id("call", source.id, call.info.uniqueid),
        ts=call.ended_at,
        event_code=category.event_code if category else config.fallback_event_code,
        title=_title(call, purpose),
        description=_description(call, purpose),
        location=Location(
            district=call.district.name if call.district else None,
            grid_code=call.district.grid_code if call.district else None,
        ),
        evidence=evidence,
        reporter=Reporter(
            name=call.info.caller_name[:100] or None,
            callback_number=call.callback_number or _usable_number(call.info.caller_number),
        ),
        urgent=call.urgent,
        partial=_partial(call, purpose),
        case_number=call.case_number,
        facts=facts,
    )


def _partial(call: CallRecord, purpose: CallPurpose) -> bool:
    """Cut short: a report without its case number, a suggestion without its recording,
    any other call that the caller (or the line) ended before the flow's end."""
    if purpose is CallPurpose.REPORT:
        return not call.report_complete
    if purpose is CallPurpose.SUGGESTION:
        return "suggestion" not in call.recordings
    return call.outcome not in (Outcome.COMPLETED, Outcome.TRANSFERRED)


def feedback_from_call(call: CallRecord, *, source: Source) -> CaseFeedback | None:
    """The satisfaction survey's answer; 不满意 asks for the case to be reopened."""
    if call.satisfaction is None or not call.status_case_number:
        return None
    return CaseFeedback.create(
        source=source,
        id=stable_message_id("survey", source.id, call.info.uniqueid),
        ts=call.ended_at,
        case_number=call.status_case_number,
        satisfaction=call.satisfaction.value,
        reopen_requested=call.satisfaction == Satisfaction.DISSATISFIED,
        comment="",
        facts={
            "channel": "phone",
            "uniqueid": call.info.uniqueid,
            "caller": call.info.caller_number,
            "state_heard": call.status.state if call.status else None,
        },
    )


def _title(call: CallRecord, purpose: CallPurpose) -> str:
    cut = "（来电未完成）" if _partial(call, purpose) else ""
    if purpose is CallPurpose.REPORT:
        what = call.category.name if call.category else "未选择类别"
        return f"12319 来电：{what}{cut}"
    if purpose is CallPurpose.STATUS_QUERY:
        number = f" {call.status_case_number}" if call.status_case_number else ""
        return f"12319 查询来电{number}{cut}"
    return {
        CallPurpose.SUGGESTION: "12319 来电：意见建议",
        CallPurpose.CONSULTATION: "12319 咨询来电",
        CallPurpose.TRANSFER: "12319 来电：转人工",
        CallPurpose.NONE: "12319 来电：未选择服务",
    }[purpose] + cut


def _description(call: CallRecord, purpose: CallPurpose) -> str:
    parts = []
    if call.category is not None:
        parts.append(f"类别：{call.category.name}")
    if call.district is not None:
        parts.append(f"区域：{call.district.name}")
    if call.status_case_number:
        parts.append(f"查询案件：{call.status_case_number}")
        if call.status is not None:
            parts.append(f"告知状态：{call.status.state}")
        if call.satisfaction is not None:
            parts.append(f"满意度：{_SATISFACTION_TEXT[call.satisfaction]}")
    if call.recordings:
        names = {"location": "地点", "description": "问题描述", "suggestion": "意见建议"}
        parts.append("录音：" + "、".join(names.get(k, k) for k in call.recordings))
    if call.transfer_reason and purpose is not CallPurpose.REPORT:
        parts.append("已转人工")
    if _partial(call, purpose):
        parts.append(f"来电在“{call.stage.value}”步骤结束（{_outcome_text(call.outcome)}）")
    return "；".join(parts)


_SATISFACTION_TEXT = {
    Satisfaction.SATISFIED: "满意",
    Satisfaction.BASICALLY_SATISFIED: "基本满意",
    Satisfaction.DISSATISFIED: "不满意",
}


def _outcome_text(outcome: Outcome | None) -> str:
    return (
        {
            Outcome.HANGUP: "来电人挂机",
            Outcome.TRANSFERRED: "已转人工",
            Outcome.FAILED: "线路故障",
            Outcome.COMPLETED: "完成",
        }.get(outcome, "未知")
        if outcome
        else "未知"
    )


def _usable_number(number: str) -> str | None:
    return number if number and len(number) <= 32 and number.isdigit() else None
