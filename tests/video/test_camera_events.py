"""Camera-side events: topic matching, rules with cooldown, candidates; notification parsing."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from lxml import etree

from adapters.onvif.events import event_from_notification
from gateway.clock import FakeClock
from gateway.contract import CameraEventState, CandidateCase, Topics, parse_message
from gateway.video.camera_events import CameraEvent, CameraEventRules, topic_matches
from gateway.video.event_episodes import Change, Episode, EventEpisodes, alarm_state
from gateway.video.frame import Frame
from gateway.video.settings import CameraConfig
from gateway.video.testcam.onvif_device import NS, OnvifDevice, OnvifEvent, StreamProfile

PARKING = "tns1:RuleEngine/FieldDetector/ObjectsInside"


def test_topics_match_exactly_or_by_subtree_whatever_the_prefix() -> None:
    assert topic_matches(PARKING, "tnsaxis:RuleEngine/FieldDetector/ObjectsInside")
    assert topic_matches("tns1:RuleEngine/*", PARKING)
    assert not topic_matches("tns1:RuleEngine/CellMotionDetector/Motion", PARKING)
    assert not topic_matches("tns1:VideoSource/*", PARKING)


def _camera() -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": "gate-3",
            "name": "North gate",
            "grid_code": "32070390100101",
            "onvif": {
                "url": "http://127.0.0.1:8000/onvif/device_service",
                "event_rules": [
                    {"topic": PARKING, "data": {"IsInside": "true"}, "event_code": "0505",
                     "cooldown_s": 60},
                ],
            },
        }
    )  # fmt: skip


def _rules(
    clock: FakeClock,
    published: list[CandidateCase],
    states: list[CameraEventState] | None = None,
    episodes: EventEpisodes | None = None,
    frame: Frame | None = None,
) -> CameraEventRules:
    return CameraEventRules(
        [_camera()],
        clock=clock,
        publish=published.append,
        latest_frame=lambda _id: frame,
        episodes=episodes,
        publish_state=states.append if states is not None else None,
    )


def test_an_alarm_makes_one_candidate_per_episode_and_per_cooldown() -> None:
    clock = FakeClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    published: list[CandidateCase] = []
    frame = Frame("gate-3", 1, clock.now(), clock.monotonic(), np.full((48, 64, 3), 80, np.uint8))
    rules = _rules(clock, published, frame=frame)

    def event(inside: str, operation: str = "Changed") -> CameraEvent:
        return CameraEvent(
            "gate-3", PARKING, {"Rule": "r1"}, {"IsInside": inside}, clock.now(), operation
        )

    assert rules.handle(event("false")) is None  # data does not match
    first = rules.handle(event("true"))
    assert first is not None and first.event_code == "0505"
    assert first.location.grid_code == "32070390100101" and first.location.camera_id == "gate-3"
    assert first.evidence and first.evidence[0].media_type == "image/jpeg"
    clock.advance(20)
    assert rules.handle(event("true")) is None  # still the same alarm: no second candidate
    assert rules.handle(event("true", "Initialized")) is None  # re-sent on a new subscription
    ended = rules.handle(event("false"))
    assert ended is not None and ended.facts["update_of"] == first.id  # the end, an update
    clock.advance(10)
    assert rules.handle(event("true")) is None  # a new alarm, but within the cooldown
    assert rules.handle(event("false")) is None  # ... its end updates nothing
    clock.advance(40)
    second = rules.handle(event("true"))
    assert second is not None and second.id not in (first.id, ended.id)
    assert not second.evidence  # the only frame is 70 s old: no misleading snapshot
    assert [c.id for c in published] == [first.id, ended.id, second.id]
    # the same alarm delivered twice (a second gateway, no shared state) gets the same id
    again = _rules(clock, []).handle(
        CameraEvent("gate-3", PARKING, {"Rule": "r1"}, {"IsInside": "true"}, clock.now())
    )
    assert again is not None and again.id == second.id


def test_an_alarms_end_is_published_with_its_duration_and_updates_its_candidate() -> None:
    clock = FakeClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    published: list[CandidateCase] = []
    states: list[CameraEventState] = []
    rules = _rules(clock, published, states)
    started = clock.now()
    first = rules.handle(CameraEvent("gate-3", PARKING, {"Rule": "r1"}, {"IsInside": "true"},
                                     started, "Changed"))  # fmt: skip
    assert first is not None
    subject = first.facts["track_id"]
    assert subject.startswith("onvif:ObjectsInside@2026-03-02T08:00:00.000Z#")
    assert len(subject) <= 90  # the core keeps camera:subject in 200 characters
    clock.advance(125.5)
    update = rules.handle(CameraEvent("gate-3", PARKING, {"Rule": "r1"}, {"IsInside": "false"},
                                      clock.now(), "Changed"))  # fmt: skip
    assert update is not None and update.id != first.id
    assert update.facts["update_of"] == first.id
    assert update.facts["track_id"] == first.facts["track_id"]  # the core's link to the case
    assert update.facts["ended_at"] == "2026-03-02T08:02:05.500Z"
    assert update.facts["duration_s"] == 125.5 and update.facts["active"] is False
    assert update.event_code == first.event_code and update.location == first.location
    # the retained state: started, then ended with its duration
    assert [(s.active, s.duration_s) for s in states] == [(True, None), (False, 125.5)]
    assert states[0].started_at == started and states[0].candidate_id == first.id
    assert states[1].started_at == started and states[1].ended_at == clock.now()
    assert states[1].source_items == {"Rule": "r1"} and states[1].data == {"IsInside": "false"}
    topics = Topics("citygw/v1")
    assert topics.camera_event("gate-3", states[1].topic, states[1].source_items) == (
        "citygw/v1/cameras/gate-3/events/RuleEngine/FieldDetector/ObjectsInside/Rule=r1"
    )
    # the message goes through the contract
    parsed = parse_message(states[1].to_json(), expect=CameraEventState)
    assert parsed == states[1]


def test_events_that_match_no_rule_are_published_as_state_too() -> None:
    clock = FakeClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    published: list[CandidateCase] = []
    states: list[CameraEventState] = []
    rules = _rules(clock, published, states)
    motion = "tns1:RuleEngine/CellMotionDetector/Motion"
    source = {"VideoSourceConfigurationToken": "vsc0"}
    rules.handle(CameraEvent("gate-3", motion, source, {"IsMotion": "false"}, clock.now(),
                             "Initialized"))  # fmt: skip
    rules.handle(CameraEvent("gate-3", motion, source, {"IsMotion": "true"}, clock.now()))
    clock.advance(4)
    rules.handle(CameraEvent("gate-3", motion, source, {"IsMotion": "false"}, clock.now()))
    rules.handle(CameraEvent("gate-3", "tns1:Monitoring/Counter", {}, {"Count": "7"}, clock.now()))
    assert published == []
    assert [(s.topic, s.active, s.duration_s) for s in states] == [
        (motion, False, None),  # first seen idle
        (motion, True, None),
        (motion, False, 4.0),
        ("tns1:Monitoring/Counter", None, 0.0),  # no true/false item: a moment
    ]


def test_an_active_alarm_re_sent_after_a_restart_is_not_a_new_candidate(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    path = tmp_path / "state" / "camera-events.json"
    published: list[CandidateCase] = []

    def event(inside: str, operation: str) -> CameraEvent:
        # a device stamps the re-sent state with the time of the new subscription
        return CameraEvent(
            "gate-3", PARKING, {"Rule": "r1"}, {"IsInside": inside}, clock.now(), operation
        )

    first = _rules(clock, published, episodes=EventEpisodes(path)).handle(event("true", "Changed"))
    assert first is not None
    for _restart in range(2):  # two restarts (cooldown long over), each a new subscription
        clock.advance(3600)
        after = _rules(clock, published, episodes=EventEpisodes(path))
        assert after.handle(event("true", "Initialized")) is None
    clock.advance(60)
    update = after.handle(event("false", "Changed"))  # the end, known after the restarts
    assert update is not None and update.facts["update_of"] == first.id
    assert update.facts["duration_s"] == 2 * 3600 + 60  # from the first sighting
    assert [c.id for c in published] == [first.id, update.id]
    restarted = _rules(clock, published, episodes=EventEpisodes(path))
    assert restarted.handle(event("false", "Initialized")) is None  # the end is known too
    assert len(published) == 2


def test_a_broken_state_file_is_set_aside_and_the_states_start_empty(tmp_path: Path) -> None:
    path = tmp_path / "camera-events.json"
    path.write_text('{"episodes": [{"camera_id": "gate-3"}]}')
    episodes = EventEpisodes(path)
    assert episodes.episodes() == []
    assert (tmp_path / "camera-events.json.unreadable").exists() and not path.exists()
    moment = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    change = episodes.observe(CameraEvent("c", PARKING, {}, {"IsInside": "true"}, moment), moment)
    assert change.change is Change.STARTED and path.exists()  # written again on a change
    assert EventEpisodes(path).episodes() == [change.episode]


def test_a_deleted_property_ends_its_alarm_and_an_alarm_state_is_any_true_item() -> None:
    assert alarm_state({"IsInside": "TRUE", "Other": "x"}) is True
    assert alarm_state({"A": "false", "B": "true"}) is True
    assert alarm_state({"A": "false"}) is False
    assert alarm_state({"Count": "1"}) is None
    episodes = EventEpisodes()
    moment = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    episodes.observe(CameraEvent("c", PARKING, {}, {"IsInside": "true"}, moment), moment)
    later = moment.replace(minute=5)
    gone = episodes.observe(CameraEvent("c", PARKING, {}, {}, later, "Deleted"), later)
    assert gone.change is Change.ENDED and gone.episode.duration_s == 300.0


def test_a_typed_notification_and_a_raw_xml_one_read_the_same() -> None:
    typed = SimpleNamespace(
        Topic=SimpleNamespace(_value_1=PARKING),
        Message=SimpleNamespace(
            _value_1=SimpleNamespace(
                Source=SimpleNamespace(SimpleItem=[SimpleNamespace(Name="Rule", Value="r1")]),
                Data=SimpleNamespace(SimpleItem=[SimpleNamespace(Name="IsInside", Value="true")]),
                UtcTime=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
                PropertyOperation="Changed",
            )
        ),
    )
    raw = etree.fromstring(
        f'<tt:Message xmlns:tt="{NS["tt"]}" UtcTime="2026-03-02T08:00:00Z" '
        'PropertyOperation="Changed"><tt:Source><tt:SimpleItem Name="Rule" Value="r1"/>'
        '</tt:Source><tt:Data><tt:SimpleItem Name="IsInside" Value="true"/></tt:Data>'
        "</tt:Message>"
    )
    untyped = SimpleNamespace(
        Topic=SimpleNamespace(_value_1=PARKING), Message=SimpleNamespace(_value_1=raw)
    )
    assert event_from_notification("c", typed) == event_from_notification("c", untyped)
    assert event_from_notification("c", SimpleNamespace(Topic=None, Message=None)) is None


def _request(operation: str, token_xml: str = "") -> bytes:
    header = f"<s:Header>{token_xml}</s:Header>" if token_xml else ""
    return (
        f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:tds="{NS["tds"]}">{header}'
        f"<s:Body><tds:{operation}/></s:Body></s:Envelope>"
    ).encode()


def _digest_token(user: str, password: str) -> str:
    nonce, created = b"0123456789abcdef", "2026-03-02T08:00:00Z"
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest())
    return (
        f'<wsse:Security xmlns:wsse="{NS["wsse"]}" xmlns:wsu="{NS["wsu"]}"><wsse:UsernameToken>'
        f"<wsse:Username>{user}</wsse:Username>"
        '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/'
        f'oasis-200401-wss-username-token-profile-1.0#PasswordDigest">{digest.decode()}'
        f"</wsse:Password><wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def test_the_test_device_checks_ws_security_digests_like_a_camera() -> None:
    device = OnvifDevice(
        base_url="http://127.0.0.1:1",
        profiles=[StreamProfile("main", "main", "rtsp://127.0.0.1:2/main", 768, 576, 10)],
        snapshot_url="http://127.0.0.1:1/snapshot.jpg",
        username="admin",
        password="pw",
    )
    status, body = device.handle("/onvif/device_service", _request("GetDeviceInformation"))
    assert status == 400 and b"NotAuthorized" in body
    status, body = device.handle(
        "/", _request("GetDeviceInformation", _digest_token("admin", "wrong"))
    )
    assert status == 400
    status, body = device.handle(
        "/", _request("GetDeviceInformation", _digest_token("admin", "pw"))
    )
    assert status == 200
    model = ET.fromstring(body).findtext(".//tds:Model", namespaces=NS)
    assert model == "TestCam-1"
    status, _ = device.handle("/", _request("GetSystemDateAndTime"))  # allowed without a token
    assert status == 200
    # what it does not support: HTTP 200 with an empty body (as the real one), no fault
    status, body = device.handle("/", _request("Reboot", _digest_token("admin", "pw")))
    assert (status, body) == (200, b"")
    status, body = device.handle("/", _request("Reboot", _digest_token("admin", "wrong")))
    assert status == 400 and b"NotAuthorized" in body  # the credentials are checked first


def _events_request(operation: str, inner: str = "") -> bytes:
    return (
        f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:tev="{NS["tev"]}"><s:Body>'
        f"<tev:{operation}>{inner}</tev:{operation}></s:Body></s:Envelope>"
    ).encode()


def _subscribe(device: OnvifDevice) -> tuple[int, str]:
    status, body = device.handle(
        "/onvif/events_service",
        _events_request(
            "CreatePullPointSubscription",
            "<tev:InitialTerminationTime>PT60S</tev:InitialTerminationTime>",
        ),
    )
    address = ET.fromstring(body).findtext(".//wsa:Address", "", NS) if status == 200 else ""
    return status, address.removeprefix("http://127.0.0.1:1")


def _pull(device: OnvifDevice, path: str) -> tuple[int, list[tuple[str, str, dict[str, str]]]]:
    """(status, [(topic, PropertyOperation, data)]) of one PullMessages."""
    status, body = device.handle(
        path,
        _events_request(
            "PullMessages",
            "<tev:Timeout>PT0S</tev:Timeout><tev:MessageLimit>10</tev:MessageLimit>",
        ),
    )
    messages = []
    for notification in ET.fromstring(body).iter(f"{{{NS['wsnt']}}}NotificationMessage"):
        message = notification.find(".//tt:Message", NS)
        assert message is not None
        data = {
            str(item.get("Name")): str(item.get("Value"))
            for item in message.iterfind("tt:Data/tt:SimpleItem", NS)
        }
        topic = notification.findtext("wsnt:Topic", "", NS)
        messages.append((topic, str(message.get("PropertyOperation")), data))
    return status, messages


def test_the_test_device_re_sends_alarm_states_to_each_new_subscription() -> None:
    device = OnvifDevice(
        base_url="http://127.0.0.1:1",
        profiles=[StreamProfile("main", "main", "rtsp://127.0.0.1:2/main", 768, 576, 10)],
        snapshot_url="http://127.0.0.1:1/snapshot.jpg",
    )
    device.emit(OnvifEvent(PARKING, {"Rule": "r1"}, {"IsInside": "true"}))
    device.emit(OnvifEvent(PARKING, {"Rule": "r2"}, {"IsInside": "true"}))
    device.emit(OnvifEvent(PARKING, {"Rule": "r2"}, {"IsInside": "false"}))
    status, first = _subscribe(device)
    assert status == 200
    _status, messages = _pull(device, first)
    assert messages == [  # the current state of each property, not its history
        (PARKING, "Initialized", {"IsInside": "true"}),
        (PARKING, "Initialized", {"IsInside": "false"}),
    ]
    device.emit(OnvifEvent(PARKING, {"Rule": "r1"}, {"IsInside": "false"}))
    assert _pull(device, first)[1] == [(PARKING, "Changed", {"IsInside": "false"})]
    assert _pull(device, first)[1] == []
    status, _body = device.handle(first, _events_request("SetSynchronizationPoint"))
    assert status == 200 and len(_pull(device, first)[1]) == 2  # asked for again
    # the subscription table holds 8
    others = [_subscribe(device) for _ in range(7)]
    assert [s for s, _ in others] == [200] * 7 and device.subscription_count == 8
    status, _address = _subscribe(device)
    assert status == 400
    # the web server went down: the subscriptions are gone with it, the states stay
    device.drop_subscriptions()
    status, _messages = _pull(device, first)
    assert status == 400 and device.subscription_count == 0
    status, again = _subscribe(device)
    assert status == 200
    assert _pull(device, again)[1] == [
        (PARKING, "Initialized", {"IsInside": "false"}),
        (PARKING, "Initialized", {"IsInside": "false"}),
    ]


def test_an_alarms_end_is_recorded_on_the_case_its_start_opened(tmp_path: Path) -> None:
    from gateway.core.ports import CaseFilter
    from gateway.core.workflow import Action
    from tests.core.helpers import MONDAY_10, make_service

    clock = FakeClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    published: list[CandidateCase] = []
    rules = _rules(clock, published)
    rules.handle(CameraEvent("gate-3", PARKING, {"Rule": "r1"}, {"IsInside": "true"}, clock.now()))
    clock.advance(14 * 60)
    rules.handle(CameraEvent("gate-3", PARKING, {"Rule": "r1"}, {"IsInside": "false"}, clock.now()))
    first, end = published
    service = make_service(
        f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path / "evidence", FakeClock(MONDAY_10)
    )
    try:
        assert service.store_candidates([first]) == [True]
        assert service.store_candidates([end]) == [True]
        cases = service.store.list_cases(CaseFilter())[0]
        (case,) = cases  # the end is no second case
        assert case.facts["ended_at"] == "2026-03-02T08:14:00.000Z"
        assert case.facts["duration_s"] == 840.0 and case.facts["active"] is False
        steps = [s.step.action for s in service.store.steps(case.id)]
        assert steps == [Action.CREATE, Action.REDETECTED]
    finally:
        service.store.close()  # type: ignore[attr-defined]


def test_camera_event_topics_are_one_segment_per_topic_part_and_one_for_the_source() -> None:
    topics = Topics("citygw/v1")
    assert topics.camera_event("gate-3", "tnsaxis:VideoSource/Tamper", {}) == (
        "citygw/v1/cameras/gate-3/events/VideoSource/Tamper/-"
    )
    odd = topics.camera_event("gate-3", "tns1:Rule+Engine/#", {"Rule": "a/b", "Token": "x"})
    assert odd == "citygw/v1/cameras/gate-3/events/Rule_Engine/_/Rule=a_b,Token=x"
    long_a = topics.camera_event("gate-3", PARKING, {"Rule": "r" * 300 + "a"})
    long_b = topics.camera_event("gate-3", PARKING, {"Rule": "r" * 300 + "b"})
    assert long_a != long_b and all(len(p) <= 120 for p in long_a.split("/"))


def test_an_episodes_subject_is_bounded_and_tells_sources_and_starts_apart() -> None:
    moment = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    long_source = {
        "VideoAnalyticsConfigurationToken": "VideoAnalyticsToken" * 4,
        "VideoSourceConfigurationToken": "VideoSourceToken" * 4,
    }
    subjects = {
        Episode("c", PARKING, {**long_source, "Rule": rule}, True, {}, at).subject
        for rule in ("r1", "r2")
        for at in (moment, moment.replace(minute=1))
    }
    assert len(subjects) == 4 and all(len(s) <= 90 for s in subjects)


def test_many_cameras_states_reload_as_saved_after_each_change(tmp_path: Path) -> None:
    from datetime import timedelta

    path = tmp_path / "camera-events.json"
    episodes = EventEpisodes(path)
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    for i in range(30):
        at = start + timedelta(seconds=i)
        began = episodes.observe(
            CameraEvent(f"cam-{i}", "tns1:X/Y", {"Rule": "r"}, {"State": "true"}, at), at
        )
        if i % 2:
            episodes.attach(began.episode, f"cand-{i:08d}", "0505", "t", {"n": i})
        if i % 3 == 0:
            episodes.observe(
                CameraEvent(f"cam-{i}", "tns1:X/Y", {"Rule": "r"}, {"State": "false"}, at), at
            )
    saved = {e.key: e for e in episodes.episodes()}
    reloaded = {e.key: e for e in EventEpisodes(path).episodes()}
    assert reloaded == saved and len(saved) == 30
    assert reloaded[("cam-3", "X/Y", "Rule=r")].candidate_id == "cand-00000003"
    assert reloaded[("cam-3", "X/Y", "Rule=r")].active is False
