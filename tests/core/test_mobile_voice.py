"""A report's voice note (issue 19): a real Opus or AAC note made by ffmpeg goes with the
report in the same request, is kept (remuxed alone into a fresh WebM or MP4 that knows its
length) as evidence of role ``voice_note`` on the case and served as audio; a file that is
no audio note, one too large and one too long are refused with their codes and leave no
case and nothing in the evidence store; a resend with the same request id makes no second
case and no second note. A 核查 answered on the phone carries a note the same way: kept once
on the case, named by the answer step, even when the phone sends the answer again; a bad
note refuses the whole answer and keeps neither it nor the answer's photo."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.core import voice_notes
from gateway.core.intake import case_id_for
from gateway.core.mobile_routes import MAX_VOICE_BYTES, MAX_VOICE_SECONDS
from gateway.core.ports import CaseFilter
from gateway.core.voice_notes import check_voice
from gateway.core.workflow import CaseState
from gateway.gis.features import GridFeature
from gateway.gis.index import GridIndex
from tests.core.api_harness import Api, make_api
from tests.core.test_mobile_routes import centre, jpeg, reported_case
from tests.gis.conftest import demo, demo_grids  # noqa: F401

_FFMPEG = [shutil.which("ffmpeg") or "ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi"]
_VP8_OPUS = ["-c:v", "libvpx", "-c:a", "libopus"]
_FFPROBE = [shutil.which("ffprobe") or "ffprobe", "-v", "error", "-show_entries"]


def made(folder: Path, name: str, seconds: float, *options: str) -> bytes:
    """A sine of ``seconds`` encoded by ffmpeg with ``options`` into ``name``."""
    target = folder / name
    subprocess.run(
        [*_FFMPEG, "-i", f"sine=frequency=440:duration={seconds}", *options, str(target)],
        check=True,
        timeout=60,
    )
    return target.read_bytes()


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("notes")
    opus = ("-c:a", "libopus", "-b:a", "24k")
    video = folder / "clip.webm"
    subprocess.run(
        [
            *_FFMPEG,
            "-i",
            "testsrc=duration=1:size=64x48",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=1",
            *_VP8_OPUS,
            str(video),
        ],
        check=True,
        timeout=60,
    )
    return {
        "webm": made(folder, "note.webm", 2.5, *opus),
        "ogg": made(folder, "note.ogg", 2.5, *opus),
        "m4a": made(folder, "note.m4a", 2.5, "-c:a", "aac", "-b:a", "32k"),
        "long": made(folder, "long.webm", MAX_VOICE_SECONDS + 10, "-c:a", "libopus", "-b:a", "6k"),
        "pcm": made(folder, "pcm.mka", 1, "-c:a", "pcm_s16le"),
        "video": video.read_bytes(),
    }


@pytest.fixture
def api(tmp_path: Path, demo_grids: list[GridFeature]) -> Iterator[Api]:  # noqa: F811
    harness = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    harness.service.grids = GridIndex(demo_grids)
    yield harness
    harness.close()


def send(
    api: Api,
    request_id: str,
    voice: tuple[str, bytes, str] | None,
    photos: list[bytes] | None = None,
    **form: Any,
) -> Any:
    data = {"request_id": request_id, "event_code": "0507", "description": "路边堆物", **form}
    files: list[tuple[str, tuple[str, bytes, str]]] = [
        ("photos", (f"p{i}.jpg", body, "image/jpeg")) for i, body in enumerate(photos or [])
    ]
    if voice is not None:
        files.append(("voice", voice))
    return api.client.post(
        "/api/v1/mobile/reports", data=data, files=files or None, headers=api.headers("inspector")
    )


def stored_files(api: Api) -> list[Path]:
    root: Path = api.service.evidence.root  # type: ignore[attr-defined]
    return [p for p in root.rglob("*") if p.is_file()]


def probe(data: bytes, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "probe.bin"
    path.write_bytes(data)
    out = subprocess.run(
        [*_FFPROBE, "format=format_name,duration:stream", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        timeout=30,
    )
    parsed: dict[str, Any] = json.loads(out.stdout)
    return parsed


def test_a_report_with_an_opus_voice_note_keeps_it_on_the_case_and_serves_it_as_audio(
    api: Api,
    notes: dict[str, bytes],
    demo_grids: list[GridFeature],  # noqa: F811
    tmp_path: Path,
) -> None:
    lat, lon = centre(demo_grids[5])
    voice = ("voice-note.webm", notes["webm"], "audio/webm;codecs=opus")
    response = send(api, "phone-v001-a", voice, [jpeg()], lat=lat, lon=lon)
    assert response.status_code == 201, response.text
    case_id = response.json()["id"]
    [note] = [e for e in api.service.store.evidence_of(case_id) if e.role == "voice_note"]
    assert note.media_type == "audio/webm" and note.stored and note.name == "voice-note.webm"
    case = api.service.store.get_case(case_id)
    assert case is not None and 2.3 <= case.facts["voice_note_s"] <= 2.7
    kept = api.service.evidence.read(note.sha256)
    probed = probe(kept, tmp_path)  # a fresh WebM that carries its length
    assert probed["format"]["format_name"] == "matroska,webm"
    assert 2.3 <= float(probed["format"]["duration"]) <= 2.7
    assert [s["codec_name"] for s in probed["streams"]] == ["opus"]
    # the case page's detail lists it, and its bytes come back as audio
    detail = api.client.get(f"/api/v1/cases/{case_id}", headers=api.headers("operator")).json()
    [listed] = [e for e in detail["evidence"] if e["role"] == "voice_note"]
    served = api.client.get(listed["url"], headers=api.headers("operator"))
    assert served.status_code == 200 and served.headers["content-type"] == "audio/webm"
    assert served.content == kept


@pytest.mark.parametrize(
    ("kind", "media_type", "codec"),
    [("ogg", "audio/webm", "opus"), ("m4a", "audio/mp4", "aac")],
)
def test_ogg_and_mp4_notes_of_other_browsers_are_accepted(
    api: Api, notes: dict[str, bytes], kind: str, media_type: str, codec: str, tmp_path: Path
) -> None:
    response = send(api, f"phone-v002-{kind}", (f"n.{kind}", notes[kind], "audio/ogg"))
    assert response.status_code == 201, response.text
    [note] = api.service.store.evidence_of(response.json()["id"])
    assert note.role == "voice_note" and note.media_type == media_type
    probed = probe(api.service.evidence.read(note.sha256), tmp_path)
    assert [s["codec_name"] for s in probed["streams"]] == [codec]


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("text", "bad_voice"),  # no container signature at all
        ("jpeg", "bad_voice"),  # a picture sent as the note
        ("fake-ebml", "bad_voice"),  # a WebM's first bytes, then nothing readable
        ("video", "bad_voice"),  # a WebM with a picture track
        ("pcm", "bad_voice"),  # Matroska audio in a codec no phone records
        ("empty", "empty_file"),
        ("too-large", "voice_too_large"),
        ("long", "voice_too_long"),
    ],
)
def test_a_refused_note_leaves_no_case_and_nothing_in_the_evidence_store(
    api: Api, notes: dict[str, bytes], kind: str, code: str
) -> None:
    bodies = {
        "text": b"<html>not a voice note</html>",
        "jpeg": jpeg(),
        "fake-ebml": b"\x1a\x45\xdf\xa3" + b"\x00" * 500,
        "empty": b"",
        "too-large": notes["webm"] + b"\x00" * (MAX_VOICE_BYTES + 1 - len(notes["webm"])),
        **notes,
    }
    response = send(api, "phone-v003-a", ("voice-note.webm", bodies[kind], "audio/webm"), [jpeg()])
    assert response.status_code == 422, response.text
    assert response.json()["error"] == code
    assert api.service.store.get_case(case_id_for("phone-v003-a")) is None
    assert stored_files(api) == []  # neither the note nor the report's photo


def test_a_note_just_under_the_size_limit_is_not_refused_for_its_size(
    api: Api, notes: dict[str, bytes]
) -> None:
    padded = notes["webm"] + b"\x00" * (MAX_VOICE_BYTES - len(notes["webm"]))
    response = send(api, "phone-v004-a", ("n.webm", padded, "audio/webm"))
    assert response.json().get("error") != "voice_too_large"


def test_a_resend_with_the_same_request_id_makes_one_case_with_one_voice_note(
    api: Api,
    notes: dict[str, bytes],
    demo_grids: list[GridFeature],  # noqa: F811
) -> None:
    lat, lon = centre(demo_grids[9])
    voice = ("voice-note.webm", notes["webm"], "audio/webm")
    first = send(api, "phone-v005-a", voice, [jpeg()], lat=lat, lon=lon)
    again = send(api, "phone-v005-a", voice, [jpeg()], lat=lat, lon=lon)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    _, total = api.service.store.list_cases(CaseFilter())
    assert total == 1
    roles = sorted(e.role for e in api.service.store.evidence_of(first.json()["id"]))
    assert roles == ["photo", "voice_note"]


def test_the_same_note_is_kept_as_the_same_bytes(notes: dict[str, bytes]) -> None:
    first, second = check_voice(notes["webm"]), check_voice(notes["webm"])
    assert first.data == second.data and first.data != notes["webm"]
    assert first.codec == "opus" and 2.3 <= first.seconds <= 2.7


def test_without_ffmpeg_on_the_core_a_note_waits_on_the_phone_instead_of_failing(
    api: Api, notes: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(voice_notes.shutil, "which", lambda _name: None)
    response = send(api, "phone-v006-a", ("n.webm", notes["webm"], "audio/webm"))
    # 5xx: the app keeps the report in its outbox and sends it again later
    assert response.status_code == 503 and response.json()["error"] == "voice_check_unavailable"
    assert api.service.store.get_case(case_id_for("phone-v006-a")) is None


# ------------------------------------------------------------------ a task answer's note


def answer(
    api: Api,
    case_id: str,
    request_id: str,
    voice: tuple[str, bytes, str] | None,
    verdict: str = "pass",
    opinion: str = "",
) -> Any:
    files: list[tuple[str, tuple[str, bytes, str]]] = [
        ("photos", ("done.jpg", jpeg(), "image/jpeg"))
    ]
    if voice is not None:
        files.append(("voice", voice))
    return api.client.post(
        f"/api/v1/mobile/tasks/{case_id}/answer",
        data={"request_id": request_id, "verdict": verdict, "opinion": opinion},
        files=files,
        headers=api.headers("inspector"),
    )


def test_a_check_answered_with_a_voice_note_keeps_it_once_on_the_case_even_when_resent(
    api: Api, notes: dict[str, bytes]
) -> None:
    case_id = reported_case(api)
    voice = ("voice-note.webm", notes["webm"], "audio/webm;codecs=opus")
    first = answer(api, case_id, "answer-voice-0001", voice)
    assert first.status_code == 200, first.text
    step = first.json()["step"]
    assert step["action"] == "verify_pass" and 2.3 <= step["facts"]["voice_note_s"] <= 2.7
    [note] = [e for e in api.service.store.evidence_of(case_id) if e.role == "voice_note"]
    assert note.media_type == "audio/webm" and note.stored and note.name == "voice-note.webm"
    assert note.sha256 in step["attachments"] and len(step["attachments"]) == 2  # photo, note
    files = sorted(stored_files(api))
    # the phone sends it again (its answer was lost): the same step, nothing stored again
    again = answer(api, case_id, "answer-voice-0001", voice)
    assert again.status_code == 200 and again.json()["step"]["seq"] == step["seq"]
    assert sorted(stored_files(api)) == files
    assert [s.step.action for s in api.service.store.steps(case_id)].count("verify_pass") == 1
    notes_now = [e for e in api.service.store.evidence_of(case_id) if e.role == "voice_note"]
    assert [e.sha256 for e in notes_now] == [note.sha256]
    # the case page lists it and serves the bytes as audio; the log says which step it came with
    headers = api.headers("operator")
    detail = api.client.get(f"/api/v1/cases/{case_id}", headers=headers).json()
    [listed] = [e for e in detail["evidence"] if e["role"] == "voice_note"]
    served = api.client.get(listed["url"], headers=headers)
    assert served.status_code == 200 and served.headers["content-type"] == "audio/webm"
    assert served.content == api.service.evidence.read(note.sha256)
    logged = api.client.get(f"/api/v1/cases/{case_id}/steps", headers=headers).json()
    assert [s["action"] for s in logged if listed["sha256"] in s["attachments"]] == ["verify_pass"]


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("text", "bad_voice"),
        ("video", "bad_voice"),
        ("too-large", "voice_too_large"),
        ("long", "voice_too_long"),
    ],
)
def test_an_answer_with_a_refused_note_is_refused_whole_and_stores_nothing(
    api: Api, notes: dict[str, bytes], kind: str, code: str
) -> None:
    case_id = reported_case(api)
    steps, files = len(api.service.store.steps(case_id)), sorted(stored_files(api))
    linked = api.service.store.evidence_of(case_id)
    bodies = {
        "text": b"<html>not a voice note</html>",
        "too-large": notes["webm"] + b"\x00" * (MAX_VOICE_BYTES + 1 - len(notes["webm"])),
        **notes,
    }
    response = answer(api, case_id, "answer-voice-0002", ("n.webm", bodies[kind], "audio/webm"))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == code
    assert len(api.service.store.steps(case_id)) == steps  # no answer step
    assert api.service.store.evidence_of(case_id) == linked  # neither photo nor note
    assert sorted(stored_files(api)) == files
    case = api.service.store.get_case(case_id)
    assert case is not None and case.state is CaseState.REPORTED
    # the same request id with a good note afterwards is answered, as the first answer
    fixed = answer(api, case_id, "answer-voice-0002", ("n.webm", notes["webm"], "audio/webm"))
    assert fixed.status_code == 200, fixed.text


def test_an_answer_the_workflow_refuses_leaves_neither_its_photo_nor_its_note(
    api: Api, notes: dict[str, bytes]
) -> None:
    case_id = reported_case(api)
    linked, files = api.service.store.evidence_of(case_id), sorted(stored_files(api))
    voice = ("n.webm", notes["webm"], "audio/webm")
    response = answer(api, case_id, "answer-voice-0003", voice, verdict="fail")  # no opinion
    assert response.status_code == 422 and response.json()["error"] == "opinion_required"
    assert api.service.store.evidence_of(case_id) == linked
    assert sorted(stored_files(api)) == files
