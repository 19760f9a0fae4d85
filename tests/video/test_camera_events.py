"""Camera-side events: topic matching, rules with cooldown, candidates; notification parsing."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
from lxml import etree

from adapters.onvif.events import event_from_notification
from gateway.clock import FakeClock
from gateway.contract import CandidateCase
from gateway.video.camera_events import CameraEvent, CameraEventRules, topic_matches
from gateway.video.frame import Frame
from gateway.video.settings import CameraConfig
from gateway.video.testcam.onvif_device import NS, OnvifDevice, StreamProfile

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
            "grid_code": "11010200100101",
            "onvif": {
                "url": "http://127.0.0.1:8000/onvif/device_service",
                "event_rules": [
                    {"topic": PARKING, "data": {"IsInside": "true"}, "event_code": "0505",
                     "cooldown_s": 60},
                ],
            },
        }
    )  # fmt: skip


def test_a_matching_event_makes_one_candidate_per_cooldown() -> None:
    clock = FakeClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    published: list[CandidateCase] = []
    frame = Frame("gate-3", 1, clock.now(), clock.monotonic(), np.full((48, 64, 3), 80, np.uint8))
    rules = CameraEventRules(
        [_camera()], clock=clock, publish=published.append, latest_frame=lambda _id: frame
    )

    def event(inside: str) -> CameraEvent:
        return CameraEvent("gate-3", PARKING, {"Rule": "r1"}, {"IsInside": inside}, clock.now())

    assert rules.handle(event("false")) is None  # data does not match
    first = rules.handle(event("true"))
    assert first is not None and first.event_code == "0505"
    assert first.location.grid_code == "11010200100101" and first.location.camera_id == "gate-3"
    assert first.evidence and first.evidence[0].media_type == "image/jpeg"
    clock.advance(30)
    assert rules.handle(event("true")) is None  # cooldown
    clock.advance(31)
    second = rules.handle(event("true"))
    assert second is not None and second.id != first.id
    assert not second.evidence  # the only frame is a minute old: no misleading snapshot
    assert len(published) == 2
    # the same event delivered twice gets the same id (the core stores it once)
    again = CameraEventRules([_camera()], clock=clock, publish=published.append,
                             latest_frame=lambda _id: None).handle(
        CameraEvent("gate-3", PARKING, {}, {"IsInside": "true"}, clock.now())
    )  # fmt: skip
    assert again is not None and again.id == second.id


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
    status, body = device.handle("/", _request("Reboot", _digest_token("admin", "pw")))
    assert status == 400 and b"ActionNotSupported" in body
