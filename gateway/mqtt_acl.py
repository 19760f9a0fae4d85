"""Who may publish and read what on the broker: the access list, derived from the contract.

Each daemon connects as its own broker user, named like its `Source` id
(``<daemon>-<instance>``: ``core-main``, ``video-edge-3``, ``agi-hotline``), and may
publish only its own topics:

- a video gateway: the candidates, status, events and check results of *its* cameras,
  and its own availability;
- the telephony gateway (`citygw agi`): its call candidates and callers' feedback, and its
  availability;
- the hotline's AMI side (`citygw ami`, the same host's second telephony daemon): the same
  call source's candidates and feedback (call records, callbacks), the agents' screen
  pops and queue figures, and its availability; it reads that call source's candidates
  (what the IVR did);
- the core alone: case events, receipts, camera-check requests, PTZ commands, its dead
  letters.

So a stolen edge box cannot forge another gateway's candidates or the core's receipts
and case events: the broker drops such a publish (see docs/deploy.md, "MQTT security").
Reading is scoped too, more loosely: the edge reads case events (the IVR status lookup,
operators' rejections) and receipts; a video gateway reads the check requests and PTZ
commands of its own cameras only.

Pure: grants are plain data; `adapters.mqtt.broker_security` writes them as Mosquitto's
``acl_file``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.contract import SourceKind, Topics

if TYPE_CHECKING:
    from gateway.config import Config

#: daemon names as the daemons use them (status topics, client ids, source ids)
CORE = "core"
TELEPHONY = "agi"
AMI = "ami"
VIDEO = "video"

#: the consumer name on the core's receipts topic (``receipts/core``)
RECEIPTS_CONSUMER = "core"

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")


@dataclass(frozen=True)
class Grant:
    """One broker user's rights: topic filters it may publish to and read from."""

    username: str
    publish: tuple[str, ...]
    read: tuple[str, ...]

    def __post_init__(self) -> None:
        if not _USERNAME.match(self.username):
            raise ValueError(f"invalid broker user name {self.username!r}")

    def may_publish(self, topic: str) -> bool:
        return any(topic_matches(pattern, topic) for pattern in self.publish)

    def may_read(self, topic: str) -> bool:
        return any(topic_matches(pattern, topic) for pattern in self.read)


def daemon_user(daemon: str, instance: str) -> str:
    """The broker user of one daemon instance: its `Source` id (``bootstrap.daemon_source``)."""
    return f"{daemon}-{instance}"[:64]


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT filter matching (``+`` one level, ``#`` the rest), as the broker applies an ACL."""
    pattern_parts = pattern.split("/")
    topic_parts = topic.split("/")
    for index, part in enumerate(pattern_parts):
        if part == "#":
            return index == len(pattern_parts) - 1
        if index >= len(topic_parts):
            return False
        if part != "+" and part != topic_parts[index]:
            return False
    return len(pattern_parts) == len(topic_parts)


def _one(filter_with_plus: str, segment: str) -> str:
    """The contract's ``.../+/...`` filter narrowed to one camera (its first ``+``)."""
    if not _SEGMENT.match(segment):
        raise ValueError(f"invalid topic segment {segment!r}")
    head, plus, tail = filter_with_plus.partition("/+/")
    if not plus:
        raise ValueError(f"{filter_with_plus!r} has no single-level wildcard")
    return f"{head}/{segment}/{tail}"


def core_grant(topics: Topics, instance: str) -> Grant:
    user = daemon_user(CORE, instance)
    return Grant(
        username=user,
        publish=(
            topics.all_case_events,
            topics.receipts(RECEIPTS_CONSUMER),
            topics.all_verification_requests,
            topics.all_ptz_commands,
            topics.daemon_status(CORE, instance),
            topics.dead_letter(user),
        ),
        read=(
            topics.all_candidates,
            topics.all_feedback,
            topics.all_camera_status,
            topics.all_camera_events,
            topics.all_daemon_status,
            topics.all_verification_results,
            topics.all_receipts,
            topics.all_agent_calls,
            topics.all_agent_queues,
        ),
    )


def telephony_grant(topics: Topics, instance: str) -> Grant:
    """The AGI gateway: its calls are the source ``call/<instance>``."""
    return Grant(
        username=daemon_user(TELEPHONY, instance),
        publish=(
            topics.candidate(SourceKind.CALL, instance),
            topics.feedback(SourceKind.CALL, instance),
            topics.daemon_status(TELEPHONY, instance),
        ),
        read=(topics.all_case_events, topics.all_receipts),
    )


def ami_grant(topics: Topics, instance: str) -> Grant:
    """The hotline's AMI side: it speaks for the same call source ``call/<instance>`` as
    the IVR of its host (call records, callbacks), and reads what that IVR publishes."""
    return Grant(
        username=daemon_user(AMI, instance),
        publish=(
            topics.candidate(SourceKind.CALL, instance),
            topics.feedback(SourceKind.CALL, instance),
            topics.agent_call(instance),
            topics.agent_queues(instance),
            topics.daemon_status(AMI, instance),
        ),
        read=(
            topics.all_case_events,
            topics.all_receipts,
            topics.candidate(SourceKind.CALL, instance),
        ),
    )


def video_grant(topics: Topics, instance: str, camera_ids: Sequence[str]) -> Grant:
    """A video gateway and the cameras it runs (its config's ``video.cameras``)."""
    publish: list[str] = []
    requests: list[str] = []
    for camera in camera_ids:
        publish += [
            topics.candidate(SourceKind.CAMERA, camera),
            topics.camera_status(camera),
            _one(topics.all_camera_events, camera),
            topics.verification_result(camera),
        ]
        requests.append(_one(topics.all_verification_requests, camera))
        requests.append(_one(topics.all_ptz_commands, camera))
    return Grant(
        username=daemon_user(VIDEO, instance),
        publish=(*publish, topics.daemon_status(VIDEO, instance)),
        read=(topics.all_case_events, topics.all_receipts, *requests),
    )


def camera_tool_grant(
    topics: Topics, daemon: str, instance: str, camera_ids: Sequence[str]
) -> Grant:
    """A tool that sends camera candidates as an edge gateway does (the demo's samples,
    ``citygw dev send-candidates``): those cameras' candidates and its own availability."""
    return Grant(
        username=daemon_user(daemon, instance),
        publish=(
            *(topics.candidate(SourceKind.CAMERA, camera) for camera in camera_ids),
            topics.daemon_status(daemon, instance),
        ),
        read=(topics.all_receipts,),
    )


def observer_grant(topics: Topics, username: str) -> Grant:
    """Operations and tests: reads every citygw topic, publishes nothing."""
    return Grant(username=username, publish=(), read=(f"{topics.root}/#",))


def grant_for(config: Config, daemon: str) -> Grant:
    """The grant of ``daemon`` (`CORE`, `TELEPHONY`, `AMI`, `VIDEO`) as one host's config
    runs it."""
    topics = Topics(config.mqtt.topic_root)
    if daemon == CORE:
        return core_grant(topics, config.instance)
    if daemon == TELEPHONY:
        return telephony_grant(topics, config.instance)
    if daemon == AMI:
        return ami_grant(topics, config.instance)
    if daemon == VIDEO:
        return video_grant(topics, config.instance, [c.id for c in config.video.cameras])
    raise ValueError(f"unknown daemon {daemon!r}")


def _one_hotline(user: str, other: str) -> bool:
    """The IVR and the AMI side of one telephony instance (``agi-x`` and ``ami-x``)."""
    pair = {user.partition("-")[::2], other.partition("-")[::2]}
    daemons = {daemon for daemon, _instance in pair}
    return daemons == {TELEPHONY, AMI} and len({instance for _daemon, instance in pair}) == 1


def check_grants(grants: Iterable[Grant]) -> list[Grant]:
    """The grants as a list; raises if two share a user name or a source's candidates
    (two gateways claiming one camera is a configuration error, not a sharing), except a
    host's two telephony daemons of one instance (`telephony_grant`, `ami_grant`)."""
    listed = list(grants)
    users: set[str] = set()
    owners: dict[str, str] = {}
    for grant in listed:
        if grant.username in users:
            raise ValueError(f"broker user {grant.username!r} granted twice")
        users.add(grant.username)
        for pattern in grant.publish:
            if "/candidates/" not in pattern:
                continue
            other = owners.setdefault(pattern, grant.username)
            if other != grant.username and not _one_hotline(other, grant.username):
                raise ValueError(f"{pattern} granted to both {other!r} and {grant.username!r}")
    return listed
