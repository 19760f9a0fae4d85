"""RTSP source helpers: credentials go into FFmpeg's URL only, logs get the redacted one."""

from __future__ import annotations

import errno

import av

from adapters.rtsp.rtsp_source import (
    RtspSource,
    classify,
    i420_to_bgr,
    redact,
    with_credentials,
)
from gateway.video.ports import StreamErrorKind


def test_credentials_with_reserved_characters_are_quoted_into_the_url() -> None:
    url = with_credentials("rtsp://10.0.0.5:554/Streaming/102?x=1", "ad:min", "p@ss/w:rd")
    assert url == "rtsp://ad%3Amin:p%40ss%2Fw%3Ard@10.0.0.5:554/Streaming/102?x=1"
    assert with_credentials("rtsp://h/x", None, "ignored") == "rtsp://h/x"


def test_redacted_urls_carry_no_user_or_password() -> None:
    assert redact("rtsp://admin:secret@10.0.0.5:554/main") == "rtsp://***@10.0.0.5:554/main"
    assert redact("rtsp://10.0.0.5/main") == "rtsp://10.0.0.5/main"
    source = RtspSource("rtsp://10.0.0.5/main", "admin", "secret")
    assert "secret" not in source.url and "admin" not in source.url


def test_errors_are_classified_without_quoting_the_url() -> None:
    url = "rtsp://admin:secret@10.0.0.5/main"
    cases = {
        StreamErrorKind.UNAUTHORIZED: av.HTTPUnauthorizedError(0, "401", url),
        StreamErrorKind.NOT_FOUND: av.HTTPNotFoundError(0, "404", url),
        StreamErrorKind.ENDED: av.EOFError(0, "eof", url),
        StreamErrorKind.UNREACHABLE: ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
        StreamErrorKind.TIMEOUT: TimeoutError(errno.ETIMEDOUT, "timed out"),
    }
    for kind, error in cases.items():
        got, reason = classify(error)
        assert got == kind, (error, got)
        assert "secret" not in reason and "10.0.0.5" not in reason


def test_the_fast_colour_conversion_matches_swscale() -> None:
    from gateway.video.testcam.harness import MAIN_VIDEO, SUB_VIDEO

    for path in (MAIN_VIDEO, SUB_VIDEO):
        with av.open(str(path)) as container:
            frame = next(f for i, f in enumerate(container.decode(video=0)) if i == 25)
            reference = frame.to_ndarray(format="bgr24").astype(int)
            fast = i420_to_bgr(frame).astype(int)
        assert fast.shape == reference.shape
        assert abs(fast - reference).mean() < 2.0  # rounding and chroma siting only
