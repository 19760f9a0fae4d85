"""The broker access list derived from the contract: who may publish and read what."""

from __future__ import annotations

import pytest

from adapters.mqtt.broker_security import acl_text
from gateway.contract import SourceKind, Topics
from gateway.mqtt_acl import (
    Grant,
    ami_grant,
    camera_tool_grant,
    check_grants,
    core_grant,
    daemon_user,
    observer_grant,
    telephony_grant,
    topic_matches,
    video_grant,
)

TOPICS = Topics("city/v1")
CORE = core_grant(TOPICS, "main")
AGI = telephony_grant(TOPICS, "hotline")
AMI = ami_grant(TOPICS, "hotline")
EDGE_1 = video_grant(TOPICS, "edge-1", ["gate-3", "square-n"])
EDGE_2 = video_grant(TOPICS, "edge-2", ["lawn-s"])


def test_users_are_named_like_the_daemons_source_ids() -> None:
    assert (CORE.username, AGI.username, EDGE_1.username) == (
        "core-main",
        "agi-hotline",
        "video-edge-1",
    )
    assert daemon_user("video", "x" * 70) == ("video-" + "x" * 70)[:64]


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a/b/d", False),
        ("a/+/c", "a/b/c/d", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("a/b", "a/b/c", False),
        ("a/b/c", "a/b", False),
        ("+/+", "a/b", True),
    ],
)
def test_topic_matching_follows_mqtt_filters(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


def test_a_video_gateway_publishes_only_for_its_own_cameras() -> None:
    for camera in ("gate-3", "square-n"):
        assert EDGE_1.may_publish(TOPICS.candidate(SourceKind.CAMERA, camera))
        assert EDGE_1.may_publish(TOPICS.camera_status(camera))
        assert EDGE_1.may_publish(TOPICS.camera_event(camera, "tns1:VideoSource/Motion", {}))
        assert EDGE_1.may_publish(TOPICS.verification_result(camera))
    assert EDGE_1.may_publish(TOPICS.daemon_status("video", "edge-1"))
    # another gateway's camera, another source kind, another daemon's status
    assert not EDGE_1.may_publish(TOPICS.candidate(SourceKind.CAMERA, "lawn-s"))
    assert not EDGE_1.may_publish(TOPICS.camera_status("lawn-s"))
    assert not EDGE_1.may_publish(TOPICS.candidate(SourceKind.CALL, "edge-1"))
    assert not EDGE_1.may_publish(TOPICS.daemon_status("video", "edge-2"))
    assert not EDGE_1.may_publish(TOPICS.feedback(SourceKind.CAMERA, "gate-3"))


def test_only_the_core_publishes_receipts_case_events_and_check_requests() -> None:
    core_only = [
        TOPICS.receipts("core"),
        TOPICS.case_events("c-1"),
        TOPICS.verification_request("gate-3"),
        TOPICS.dead_letter("core-main"),
    ]
    for topic in core_only:
        assert CORE.may_publish(topic), topic
        for edge in (AGI, EDGE_1, EDGE_2, camera_tool_grant(TOPICS, "dev", "x", ["gate-3"])):
            assert not edge.may_publish(topic), (edge.username, topic)
    assert not CORE.may_publish(TOPICS.candidate(SourceKind.CAMERA, "gate-3"))


def test_the_telephony_gateway_publishes_its_calls_and_feedback_only() -> None:
    assert AGI.may_publish(TOPICS.candidate(SourceKind.CALL, "hotline"))
    assert AGI.may_publish(TOPICS.feedback(SourceKind.CALL, "hotline"))
    assert not AGI.may_publish(TOPICS.candidate(SourceKind.CALL, "other-hotline"))
    assert not AGI.may_publish(TOPICS.candidate(SourceKind.CAMERA, "gate-3"))
    assert not AGI.may_publish(TOPICS.candidate(SourceKind.API, "hotline"))


def test_the_hotline_ami_side_speaks_for_its_hosts_call_source_and_reads_its_ivr() -> None:
    """`citygw ami` beside `citygw agi` (issue 20): call records and callbacks under the same
    call source, the screen pops and queue figures (no longer the IVR's), and it reads the
    IVR's candidates, not another hotline's."""
    assert AMI.username == "ami-hotline"
    for topic in (
        TOPICS.candidate(SourceKind.CALL, "hotline"),
        TOPICS.feedback(SourceKind.CALL, "hotline"),
        TOPICS.agent_call("hotline"),
        TOPICS.agent_queues("hotline"),
        TOPICS.daemon_status("ami", "hotline"),
    ):
        assert AMI.may_publish(topic), topic
    assert not AGI.may_publish(TOPICS.agent_call("hotline"))
    assert not AMI.may_publish(TOPICS.candidate(SourceKind.CALL, "other-hotline"))
    assert not AMI.may_publish(TOPICS.daemon_status("agi", "hotline"))
    assert AMI.may_read(TOPICS.candidate(SourceKind.CALL, "hotline"))
    assert AMI.may_read(TOPICS.case_events("c-1")) and AMI.may_read(TOPICS.receipts("core"))
    assert not AMI.may_read(TOPICS.candidate(SourceKind.CALL, "other-hotline"))
    assert not AMI.may_read(TOPICS.candidate(SourceKind.CAMERA, "lawn-s"))


def test_each_daemon_reads_what_it_subscribes_to() -> None:
    event = TOPICS.case_events("c-1")
    assert AGI.may_read(event) and EDGE_1.may_read(event)
    assert AGI.may_read(TOPICS.receipts("core")) and EDGE_1.may_read(TOPICS.receipts("core"))
    assert EDGE_1.may_read(TOPICS.verification_request("gate-3"))
    assert not EDGE_1.may_read(TOPICS.verification_request("lawn-s"))
    for topic in (
        TOPICS.candidate(SourceKind.CAMERA, "lawn-s"),
        TOPICS.feedback(SourceKind.CALL, "hotline"),
        TOPICS.camera_status("lawn-s"),
        TOPICS.daemon_status("agi", "hotline"),
        TOPICS.verification_result("lawn-s"),
        TOPICS.receipts("core"),
    ):
        assert CORE.may_read(topic), topic
    assert not EDGE_1.may_read(TOPICS.candidate(SourceKind.CAMERA, "lawn-s"))
    assert observer_grant(TOPICS, "ops").may_read(TOPICS.candidate(SourceKind.CALL, "hotline"))
    assert not observer_grant(TOPICS, "ops").publish


def test_grants_follow_the_contracts_topic_root() -> None:
    other = video_grant(Topics("elsewhere/v2"), "edge-1", ["gate-3"])
    assert other.may_publish("elsewhere/v2/candidates/camera/gate-3")
    assert not other.may_publish("city/v1/candidates/camera/gate-3")


def test_a_camera_claimed_by_two_gateways_or_a_user_granted_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="candidates/camera/lawn-s"):
        check_grants([EDGE_2, video_grant(TOPICS, "edge-3", ["lawn-s"])])
    with pytest.raises(ValueError, match="granted twice"):
        check_grants([EDGE_1, video_grant(TOPICS, "edge-1", ["other"])])
    assert check_grants([CORE, AGI, EDGE_1, EDGE_2]) == [CORE, AGI, EDGE_1, EDGE_2]
    # one hotline's IVR and AMI side share its call source; another host's AMI side may not
    assert check_grants([AGI, AMI]) == [AGI, AMI]
    with pytest.raises(ValueError, match="candidates/call/hotline"):
        forged = Grant("ami-other", (TOPICS.candidate(SourceKind.CALL, "hotline"),), ())
        check_grants([AGI, AMI, forged])


def test_names_that_would_break_the_acl_file_are_refused() -> None:
    with pytest.raises(ValueError):
        Grant(username="core main", publish=(), read=())
    with pytest.raises(ValueError):
        Grant(username="x\ntopic readwrite #", publish=(), read=())
    with pytest.raises(ValueError):
        video_grant(TOPICS, "edge-1", ["cam/#"])
    with pytest.raises(ValueError):
        video_grant(TOPICS, "edge-1", ["cam a"])


def test_the_acl_file_has_one_block_per_user_and_no_rule_for_anonymous_clients() -> None:
    text = acl_text([CORE, EDGE_2, observer_grant(TOPICS, "ops")])
    blocks = text.split("\n\n")
    assert blocks[0].startswith("#")  # rules before a `user` line would apply to anonymous
    assert [b.splitlines()[0] for b in blocks[1:]] == [
        "user core-main",
        "user video-edge-2",
        "user ops",
    ]
    assert "topic write city/v1/receipts/core" in blocks[1]
    assert "topic read city/v1/candidates/#" in blocks[1]
    assert "topic write city/v1/candidates/camera/lawn-s" in blocks[2]
    assert "topic read city/v1/commands/video/lawn-s/verify" in blocks[2]
    assert blocks[3].strip().splitlines()[1:] == ["topic read city/v1/#"]


def test_a_daemon_configured_with_another_broker_user_says_so_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from gateway import bootstrap
    from gateway.config import Config

    for username, warned in (("video-edge-1", False), ("gateway", True)):
        caplog.clear()
        config = Config.model_validate({"instance": "edge-1", "mqtt": {"username": username}})
        bootstrap.mqtt_connection(config, "video")
        assert ("is not this daemon's broker user video-edge-1" in caplog.text) is warned
