"""The 12319 hotline IVR: the centre's call script, step by step.

Read it against the call script (prompt texts are in `gateway.telephony.prompts`):

    welcome
    main menu      1 report/complaint   2 consultation -> agent   3 case status
                   4 suggestion         9 repeat                  0 agent
    1 report:      category menu (from config; CJ/T 214 class behind each key)
                     an emergency category: urgent; 1 agent now / 2 leave a message
                   district menu (from config)
                   record the location        (# ends, silence ends)
                   record the description     then 1 confirm / 2 record again
                   callback number            1 this phone / 2 type another (# ends)
                   a case number is assigned here, on the edge, and read back;
                     * repeats it
                   goodbye
    3 status:      type the case number (# ends); music on hold while it is looked up;
                   its state is read out; a closed case gets the survey:
                   1 满意 / 2 基本满意 / 3 不满意 (不满意 asks for the case to be reopened)
    4 suggestion:  record it, thanks, goodbye

Everywhere: 0 reaches an agent, 9 repeats the menu, and after three tries without a
valid key the call goes to an agent. A caller may hang up at any step: the flow stops
there and the `CallRecord` says how far it got and what it captured, so the call still
ends in a (partial) candidate case. The flow itself does no publishing and no file I/O.
Every call, whatever the caller chose, ends in one candidate; what it was for
(``call_purpose``) and what the core does with it are in `call_report`.

Component categories (设施损坏, 园林绿化) carry the 其他 event code (0199) and name the
CJ/T 214 components table and class in the candidate's facts; the menu does not ask
for the component itself, on purpose:

- a candidate's ``event_code`` is an *event* code, and the core's table is the events
  table; component codes (``cjt214-components.csv``) share the 4-digit shape but not
  the meaning (component 0118 路灯 is event 0118 私自饲养家禽家畜), and the contract
  has no component field;
- one component class holds dozens of subclasses (公共设施 alone 44, 17 of
  them kinds of manhole cover), a menu offers at most 8 keys, and CJ/T 214 gives no
  per-class "other" component code to fall back on (only 道路交通 has 0298 其它);
  a caller cannot tell 雨水井盖 from 污水井盖 by ear anyway;
- the component's code and its 16-digit id are set by the operator at 受理 from the
  recorded location, as the centre's workflow has it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from gateway.clock import Clock
from gateway.telephony.channel import (
    CallChannel,
    CallInfo,
    ChannelError,
    ChannelHangup,
    CommandFailed,
    Recording,
    RecordingEnd,
)
from gateway.telephony.prompts import STATUS_PROMPTS, playable
from gateway.telephony.settings import CategoryOption, DistrictOption, TelephonyConfig
from gateway.telephony.status_cache import CaseStatus

log = logging.getLogger(__name__)

REPEAT_KEY = "9"
AGENT_KEY = "0"
MAX_REPEATS = 5  # "9" does not use up a try, but cannot loop forever either
CASE_NUMBER_READINGS = 3


class Stage(StrEnum):
    """How far a call got; a partial candidate names the stage the caller left at."""

    WELCOME = "welcome"
    MAIN_MENU = "main_menu"
    CATEGORY = "category"
    URGENT_OFFER = "urgent_offer"
    DISTRICT = "district"
    LOCATION = "location"
    DESCRIPTION = "description"
    CALLBACK = "callback"
    CASE_NUMBER = "case_number"
    STATUS_NUMBER = "status_number"
    STATUS_ANSWER = "status_answer"
    SURVEY = "survey"
    SUGGESTION = "suggestion"
    GOODBYE = "goodbye"


class Service(StrEnum):
    """What the caller chose in the main menu."""

    REPORT = "report"
    CONSULTATION = "consultation"
    STATUS = "status"
    SUGGESTION = "suggestion"


class Outcome(StrEnum):
    COMPLETED = "completed"  # the caller went through to goodbye
    TRANSFERRED = "transferred"  # handed to an agent
    HANGUP = "hangup"  # the caller hung up before the end
    FAILED = "failed"  # the telephone system stopped answering


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"


SURVEY_KEYS = {
    "1": Satisfaction.SATISFIED,
    "2": Satisfaction.BASICALLY_SATISFIED,
    "3": Satisfaction.DISSATISFIED,
}


class CaseNumberSource(Protocol):
    def next(self) -> str: ...


class StatusLookup(Protocol):
    def get(self, case_number: str) -> CaseStatus | None: ...

    def wait_for(self, case_number: str, timeout_s: float) -> CaseStatus | None: ...


@dataclass
class CallRecord:
    """Everything a call captured, whatever point it ended at."""

    info: CallInfo
    started_at: datetime
    ended_at: datetime | None = None
    stage: Stage = Stage.WELCOME
    outcome: Outcome | None = None
    service: Service | None = None
    category: CategoryOption | None = None
    urgent: bool = False
    district: DistrictOption | None = None
    recordings: dict[str, Recording] = field(default_factory=dict)
    superseded: list[Recording] = field(default_factory=list)  # recorded again after these
    callback_number: str | None = None
    case_number: str | None = None
    report_complete: bool = False
    status_case_number: str | None = None
    status: CaseStatus | None = None
    satisfaction: Satisfaction | None = None
    transfer_reason: str | None = None
    keys: list[tuple[str, str]] = field(default_factory=list)  # (stage, key) in order
    failed_prompts: list[str] = field(default_factory=list)
    error: str | None = None

    def enter(self, stage: Stage) -> None:
        self.stage = stage


class _ToAgent(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Ivr:
    """Runs the call script on one `CallChannel`; `run` never raises for a caller's actions."""

    def __init__(
        self,
        config: TelephonyConfig,
        *,
        case_numbers: CaseNumberSource,
        status: StatusLookup,
        clock: Clock,
    ) -> None:
        self.config = config
        self._case_numbers = case_numbers
        self._status = status
        self._clock = clock
        self._categories = {c.key: c for c in config.categories}
        self._districts = {d.key: d for d in config.districts}

    # ------------------------------------------------------------------ the script

    def run(self, channel: CallChannel) -> CallRecord:
        call = CallRecord(info=channel.info, started_at=self._clock.now())
        try:
            channel.answer()
            self._say(channel, call, "welcome")
            call.enter(Stage.MAIN_MENU)
            choice = self._menu(channel, call, "main-menu", {"1", "2", "3", "4"})
            if choice == "1":
                call.service = Service.REPORT
                self._report(channel, call)
            elif choice == "2":
                call.service = Service.CONSULTATION
                raise _ToAgent("consultation")
            elif choice == "3":
                call.service = Service.STATUS
                self._status_query(channel, call)
            else:
                call.service = Service.SUGGESTION
                self._suggestion(channel, call)
            call.enter(Stage.GOODBYE)
            call.outcome = Outcome.COMPLETED
            self._goodbye(channel, call)
        except _ToAgent as transfer:
            self._to_agent(channel, call, transfer.reason)
        except ChannelHangup as exc:
            call.outcome = call.outcome or Outcome.HANGUP
            log.info("call %s: caller left at %s (%s)", call.info.uniqueid, call.stage, exc)
        except ChannelError as exc:
            call.outcome = call.outcome or Outcome.FAILED
            call.error = f"{type(exc).__name__}: {exc}"
            log.warning("call %s: channel failed at %s: %s", call.info.uniqueid, call.stage, exc)
        finally:
            call.ended_at = self._clock.now()
        return call

    def _report(self, ch: CallChannel, call: CallRecord) -> None:
        call.enter(Stage.CATEGORY)
        call.category = self._categories[
            self._menu(ch, call, "category-menu", set(self._categories))
        ]
        if call.category.urgent:
            call.urgent = True
            call.enter(Stage.URGENT_OFFER)
            if self._menu(ch, call, "urgent-offer", {"1", "2"}) == "1":
                raise _ToAgent("emergency: the caller asked for an agent")
        call.enter(Stage.DISTRICT)
        call.district = self._districts[self._menu(ch, call, "district-menu", set(self._districts))]
        call.enter(Stage.LOCATION)
        self._record(ch, call, "record-location", "location")
        call.enter(Stage.DESCRIPTION)
        self._record(ch, call, "record-description", "description", confirm=True)
        call.enter(Stage.CALLBACK)
        call.callback_number = self._callback_number(ch, call)
        call.enter(Stage.CASE_NUMBER)
        call.case_number = self._case_numbers.next()
        call.report_complete = True
        ch.set_variable("CITYGW_CASE_NUMBER", call.case_number)
        self._read_case_number(ch, call, call.case_number)

    def _status_query(self, ch: CallChannel, call: CallRecord) -> None:
        call.enter(Stage.STATUS_NUMBER)
        number = self._ask_number(ch, call, "status-enter", min_digits=6, max_digits=32)
        call.status_case_number = number
        call.enter(Stage.STATUS_ANSWER)
        status = self._status.get(number)
        if status is None and self.config.status_wait_s > 0:
            self._say(ch, call, "status-wait")
            self._music_on_hold(ch, call, on=True)
            status = self._status.wait_for(number, self.config.status_wait_s)
            self._music_on_hold(ch, call, on=False)
        call.status = status
        if status is None:
            self._say(ch, call, "status-not-found")
            return
        self._say(ch, call, "status-is")
        state = status.state if status.state in STATUS_PROMPTS else "unknown"
        self._say(ch, call, f"status-{state}")
        if status.state in self.config.closed_states:
            call.enter(Stage.SURVEY)
            call.satisfaction = SURVEY_KEYS[self._menu(ch, call, "survey", set(SURVEY_KEYS))]
            closing = (
                "survey-reopen"
                if call.satisfaction == Satisfaction.DISSATISFIED
                else "survey-thanks"
            )
            self._say(ch, call, closing)

    def _suggestion(self, ch: CallChannel, call: CallRecord) -> None:
        call.enter(Stage.SUGGESTION)
        self._record(ch, call, "record-suggestion", "suggestion")
        self._say(ch, call, "suggestion-thanks")

    # ------------------------------------------------------------------ steps

    def _menu(self, ch: CallChannel, call: CallRecord, prompt: str, options: set[str]) -> str:
        """One key from ``options``; 0 -> agent; 9 -> again; three misses -> agent."""
        misses = repeats = 0
        while misses < self.config.menu_tries:
            key = self._ask(ch, call, prompt, max_digits=1)
            call.keys.append((call.stage.value, key))
            if key in options:
                return key
            if key == AGENT_KEY:
                raise _ToAgent(f"the caller pressed 0 at {call.stage}")
            if key == REPEAT_KEY and repeats < MAX_REPEATS:
                repeats += 1
                continue
            misses += 1
            if misses < self.config.menu_tries:
                self._say(ch, call, "no-input" if key == "" else "invalid")
        raise _ToAgent(f"{self.config.menu_tries} tries without a valid key at {call.stage}")

    def _ask_number(
        self, ch: CallChannel, call: CallRecord, prompt: str, *, min_digits: int, max_digits: int
    ) -> str:
        for attempt in range(1, self.config.menu_tries + 1):
            digits = self._ask(ch, call, prompt, max_digits=max_digits, timeout_ms=10_000)
            call.keys.append((call.stage.value, digits))
            if digits == AGENT_KEY:
                raise _ToAgent(f"the caller pressed 0 at {call.stage}")
            if re.fullmatch(rf"\d{{{min_digits},{max_digits}}}", digits):
                return digits
            if attempt < self.config.menu_tries:
                self._say(ch, call, "no-input" if digits == "" else "invalid")
        raise _ToAgent(f"{self.config.menu_tries} tries without a valid number at {call.stage}")

    def _record(
        self, ch: CallChannel, call: CallRecord, prompt: str, label: str, *, confirm: bool = False
    ) -> None:
        for attempt in range(1, self.config.menu_tries + 1):
            self._say(ch, call, prompt)
            name = f"{_safe(call.info.uniqueid)}-{label}-{attempt}"
            try:
                recording = ch.record(
                    str(self.config.recordings_dir / name),
                    file_format="wav",
                    max_ms=self.config.max_record_s * 1000,
                    silence_s=self.config.record_silence_s,
                )
            except CommandFailed as exc:  # e.g. Asterisk cannot write the recordings dir
                self._still_there(ch)
                call.error = f"recording the {label} failed: {exc}"
                raise _ToAgent(f"the {label} could not be recorded") from exc
            if label in call.recordings:
                call.superseded.append(call.recordings[label])
            call.recordings[label] = recording
            if recording.ended_by == RecordingEnd.HANGUP:
                raise ChannelHangup(f"the caller hung up while recording the {label}")
            if not confirm or self._menu(ch, call, "confirm-recording", {"1", "2"}) == "1":
                return
        raise _ToAgent(f"the {label} was recorded {self.config.menu_tries} times")

    def _callback_number(self, ch: CallChannel, call: CallRecord) -> str:
        own = call.info.caller_number
        usable = bool(own) and re.fullmatch(r"[0-9+*#]{3,32}", own) is not None
        if usable and self._menu(ch, call, "callback-choice", {"1", "2"}) == "1":
            return own
        return self._ask_number(ch, call, "callback-enter", min_digits=5, max_digits=20)

    def _read_case_number(self, ch: CallChannel, call: CallRecord, number: str) -> None:
        for _ in range(CASE_NUMBER_READINGS):
            self._say(ch, call, "case-number-is")
            self._key_or_nothing(ch, lambda: ch.say_digits(number))
            key = self._say(ch, call, "case-number-repeat", interrupt_keys="*")
            if key != "*":
                key = self._key_or_nothing(ch, lambda: ch.wait_for_key(3000))
            call.keys.append((call.stage.value, key))
            if key != "*":
                return

    def _goodbye(self, ch: CallChannel, call: CallRecord) -> None:
        ch.set_variable("CITYGW_RESULT", "done")
        self._say(ch, call, "goodbye")
        ch.hangup()

    def _to_agent(self, ch: CallChannel, call: CallRecord, reason: str) -> None:
        """Hand the call to the agent queue (the dialplan goes on there when we close)."""
        call.transfer_reason = reason  # the stage stays where the caller got to
        log.info("call %s: to an agent (%s)", call.info.uniqueid, reason)
        try:
            ch.set_variable("CITYGW_RESULT", "agent")
            ch.set_variable("CITYGW_AGENT_REASON", reason)
            self._say(ch, call, "transfer-agent")
            if self.config.transfer_mode == "goto":
                ch.exec_app("Goto", self.config.agent_target)
            call.outcome = Outcome.TRANSFERRED
        except ChannelHangup:
            call.outcome = Outcome.HANGUP
        except ChannelError as exc:
            call.outcome = Outcome.FAILED
            call.error = f"transfer failed: {exc}"

    # ------------------------------------------------------------------ prompts and input

    def _say(self, ch: CallChannel, call: CallRecord, prompt: str, interrupt_keys: str = "") -> str:
        """Play a prompt. A missing prompt is logged and skipped, never the end of a call."""
        try:
            return ch.play(playable(self.config, prompt), interrupt_keys=interrupt_keys)
        except CommandFailed:
            self._still_there(ch)
            call.failed_prompts.append(prompt)
            log.error("call %s: prompt %s could not be played", call.info.uniqueid, prompt)
            return ""

    def _ask(
        self,
        ch: CallChannel,
        call: CallRecord,
        prompt: str,
        *,
        max_digits: int,
        timeout_ms: int | None = None,
    ) -> str:
        try:
            return ch.ask_digits(
                playable(self.config, prompt),
                timeout_ms=timeout_ms or self.config.input_timeout_ms,
                max_digits=max_digits,
            )
        except CommandFailed:
            # result=-1: a hangup (the HANGUP notice follows) or a failure: ask the channel
            self._still_there(ch)
            return ""

    def _key_or_nothing(self, ch: CallChannel, command: Callable[[], str]) -> str:
        """A command's key; its failure (result=-1) is a hangup or, if the caller is there, no key."""
        try:
            return command()
        except CommandFailed:
            self._still_there(ch)
            return ""

    def _still_there(self, ch: CallChannel) -> None:
        if not ch.is_alive():
            raise ChannelHangup("the caller is gone")

    def _music_on_hold(self, ch: CallChannel, call: CallRecord, *, on: bool) -> None:
        try:
            if on:
                ch.exec_app("StartMusicOnHold", self.config.music_on_hold_class)
            else:
                ch.exec_app("StopMusicOnHold")
        except CommandFailed as exc:
            log.warning("call %s: music on hold: %s", call.info.uniqueid, exc)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", text)[:64] or "call"
