"""Voice notes sent by the phone app with a report (issue 19): checked and kept as evidence.

`check_voice` turns the bytes of one upload into the file the evidence store keeps, or
refuses them with an `ApiError` whose code the apps say in Chinese (``empty_file``,
``voice_too_large``, ``bad_voice``, ``voice_too_long``; 503 ``voice_check_unavailable``
when ffmpeg is missing on the core's host). What it does, cheapest first:

1. Size: at most `MAX_VOICE_BYTES` (the route reads one byte more and says so).
2. Signature: WebM/Matroska (the EBML magic), Ogg (``OggS``) or MP4/M4A (``ftyp`` at byte
   4): anything else is refused before a process starts, and the container named by the
   signature is the only demuxer ffmpeg may use on the file (no format guessing, files
   only: no playlist or network reference is followed).
3. ``ffprobe`` lists the streams: at least one audio stream in an accepted codec (Opus,
   Vorbis, AAC: what MediaRecorder makes in Chromium, Firefox and Safari) and no video.
4. ``ffmpeg`` copies the first audio stream (no re-encoding, no generation loss) into a
   fresh WebM (Opus, Vorbis) or MP4 (AAC) without metadata, tags or chapters, byte-exact
   (the same upload gives the same file and hash), with a duration in its header and a
   seek index: a MediaRecorder WebM has neither, and a browser shows its length as ∞.
5. ``ffprobe`` reads the new file's duration: more than 0 and at most
   `MAX_VOICE_SECONDS` (+ `DURATION_SLACK_S` for the phone's timer and frame rounding).

ffmpeg and ffprobe run as subprocesses (a parser that fails on a hostile file ends that
process, not the core), on files in a private temporary directory, each with
`TOOL_TIMEOUT_S`, at most `CHECKERS` at once across requests (`checking`). The report
route is a plain function that FastAPI runs in its thread pool: no event loop waits.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.core.api_base import ApiError

log = logging.getLogger(__name__)

#: bytes of one voice note as sent (the app records Opus at 32 kbit/s: about 240 KB a minute)
MAX_VOICE_BYTES = 2 * 1024 * 1024
#: the longest voice note, in seconds (the phone app stops recording here)
MAX_VOICE_SECONDS = 60
#: what a note may run over the cap: the phone's timer and the codec's last frame
DURATION_SLACK_S = 1.5
#: seconds one ffprobe or ffmpeg run may take (a 2 MB note takes tens of milliseconds)
TOOL_TIMEOUT_S = 15.0
#: notes checked at the same time, across all requests
CHECKERS = 2

_CHECKING = threading.BoundedSemaphore(CHECKERS)
#: ffmpeg's demuxer for each signature
_MATROSKA, _OGG, _MP4 = "matroska", "ogg", "mov"
#: codec -> (ffmpeg muxer, media type, file extension) of the stored note
_OUTPUTS = {
    "opus": ("webm", "audio/webm", "webm"),
    "vorbis": ("webm", "audio/webm", "webm"),
    "aac": ("mp4", "audio/mp4", "m4a"),
}
_COMMON = ["-hide_banner", "-v", "error", "-protocol_whitelist", "file"]


@dataclass(frozen=True)
class VoiceCheck:
    data: bytes  # what is stored: the audio stream alone in a fresh container
    media_type: str  # audio/webm or audio/mp4
    extension: str  # webm or m4a
    codec: str  # opus, vorbis or aac
    seconds: float


@contextmanager
def checking() -> Iterator[None]:
    """Holds one of the `CHECKERS` slots while a note is probed and remuxed."""
    with _CHECKING:
        yield


def container(data: bytes) -> str | None:
    """ffmpeg's demuxer for the container the bytes start with; None for anything else."""
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return _MATROSKA
    if data.startswith(b"OggS"):
        return _OGG
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return _MP4
    return None


def check_voice(data: bytes, *, max_seconds: float = MAX_VOICE_SECONDS) -> VoiceCheck:
    """The note as stored, with its duration; ApiError when it is no usable voice note."""
    if not data:
        raise ApiError(422, "empty_file", "the voice note is empty")
    if len(data) > MAX_VOICE_BYTES:
        raise ApiError(422, "voice_too_large", f"a voice note is at most {MAX_VOICE_BYTES} B")
    demuxer = container(data)
    if demuxer is None:
        raise _bad("the file is not WebM, Ogg or MP4 audio")
    with checking(), tempfile.TemporaryDirectory(prefix="citygw-voice-") as folder:
        source = Path(folder) / "upload"
        source.write_bytes(data)
        codec = _audio_codec(
            _probe(["-f", demuxer, "-show_entries", "stream=codec_type,codec_name"], source)
        )
        muxer, media_type, extension = _OUTPUTS[codec]
        target = Path(folder) / f"note.{extension}"
        remux = ["-f", demuxer, "-i", str(source), "-map", "0:a:0", "-c", "copy"]
        remux += ["-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact"]
        if muxer == "mp4":
            remux += ["-movflags", "+faststart"]
        _run("ffmpeg", [*remux, "-f", muxer, "-y", str(target)])
        seconds = _duration(_probe(["-show_entries", "format=duration"], target))
        stored = target.read_bytes()
    if seconds <= 0:
        raise _bad("the voice note has no sound")
    if seconds > max_seconds + DURATION_SLACK_S:
        raise ApiError(
            422, "voice_too_long", f"the voice note lasts {seconds:.1f} s, at most {max_seconds} s"
        )
    return VoiceCheck(stored, media_type, extension, codec, round(seconds, 2))


def _bad(detail: str) -> ApiError:
    return ApiError(422, "bad_voice", detail)


def _probe(options: list[str], path: Path) -> dict[str, Any]:
    out = _run("ffprobe", [*options, "-of", "json", str(path)])
    try:
        parsed = json.loads(out or b"{}")
    except ValueError as exc:
        raise _bad("the voice note could not be read") from exc
    return parsed if isinstance(parsed, dict) else {}


def _audio_codec(probed: dict[str, Any]) -> str:
    streams = [s for s in probed.get("streams") or [] if isinstance(s, dict)]
    kinds = [s.get("codec_type") for s in streams]
    if "video" in kinds:
        raise _bad("the file holds video, not a voice note")
    audio = [s.get("codec_name") for s in streams if s.get("codec_type") == "audio"]
    if not audio:
        raise _bad("the file holds no audio")
    if audio[0] not in _OUTPUTS:
        raise _bad(f"audio codec {audio[0]!r} is not accepted (Opus, Vorbis or AAC)")
    return str(audio[0])


def _duration(probed: dict[str, Any]) -> float:
    try:
        return float((probed.get("format") or {})["duration"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad("the voice note has no duration") from exc


def _run(tool: str, arguments: list[str]) -> bytes:
    """stdout of one ffprobe or ffmpeg run; ``bad_voice`` when it fails or runs too long."""
    program = shutil.which(tool)
    if program is None:
        log.error("%s is not installed (apt package ffmpeg): voice notes are refused", tool)
        raise ApiError(503, "voice_check_unavailable", f"{tool} is not installed on the core")
    try:
        done = subprocess.run(  # a fixed program; the arguments are no shell text
            [program, *(["-nostdin"] if tool == "ffmpeg" else []), *_COMMON, *arguments],
            capture_output=True,
            timeout=TOOL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise _bad(f"{tool} took over {TOOL_TIMEOUT_S} s on the voice note") from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        log.info("voice note refused: %s exit %s: %s", tool, done.returncode, reason[0][:200])
        raise _bad("the voice note could not be read")
    return done.stdout
