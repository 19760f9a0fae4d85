"""What a finished call becomes on MQTT: a candidate case and, after a survey, feedback.

Pure functions of the `CallRecord` (the recordings' bytes are read by the caller and
passed in as `Evidence`). The candidate's id is derived from the instance and the
call's Asterisk uniqueid, so publishing it twice stores it once.
"""

from __future__ import annotations

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

#: services whose calls end in a candidate case (a consultation or a status query does not
#: propose a case; a call that left before choosing might have, so it does)
CANDIDATE_SERVICES = (None, Service.REPORT, Service.SUGGESTION)


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
) -> CandidateCase | None:
    """The candidate case of a call, or None for a call that proposes no case."""
    if call.service not in CANDIDATE_SERVICES:
        return None
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
    if extra_facts:
        facts.update(extra_facts)
    partial = not call.report_complete and call.service != Service.SUGGESTION
    if call.service == Service.SUGGESTION:
        partial = "suggestion" not in call.recordings
        facts["kind"] = "suggestion"
    title = _title(call)
    description = _description(call)
    return CandidateCase.create(
        source=source,
        id=stable_message_id("call", source.id, call.info.uniqueid),
        ts=call.ended_at,
        event_code=category.event_code if category else config.fallback_event_code,
        title=title,
        description=description,
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
        partial=partial,
        case_number=call.case_number,
        facts=facts,
    )


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


def _title(call: CallRecord) -> str:
    if call.service == Service.SUGGESTION:
        return "12319 来电：意见建议"
    what = call.category.name if call.category else "未选择类别"
    cut = "" if call.report_complete else "（来电未完成）"
    return f"12319 来电：{what}{cut}"


def _description(call: CallRecord) -> str:
    parts = []
    if call.category is not None:
        parts.append(f"类别：{call.category.name}")
    if call.district is not None:
        parts.append(f"区域：{call.district.name}")
    if call.recordings:
        names = {"location": "地点", "description": "问题描述", "suggestion": "意见建议"}
        parts.append("录音：" + "、".join(names.get(k, k) for k in call.recordings))
    if not call.report_complete and call.service != Service.SUGGESTION:
        parts.append(f"来电在“{call.stage.value}”步骤结束（{_outcome_text(call.outcome)}）")
    return "；".join(parts)


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
