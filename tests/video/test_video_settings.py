"""The video section of the configuration: bad camera entries are refused with their line."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, parse_config


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={})
    return [str(issue) for issue in caught.value.issues]


def test_credentials_inside_a_url_are_refused_and_not_echoed() -> None:
    errors = _errors(
        "video:\n  cameras:\n    - id: a\n      rtsp_url: rtsp://admin:hunter2@10.0.0.5/x\n"
    )
    assert len(errors) == 1 and "line 4" in errors[0]
    assert "username/password" in errors[0] and "hunter2" not in errors[0]


def test_a_camera_needs_a_stream_source_and_a_unique_id() -> None:
    assert "give rtsp_url or onvif" in "\n".join(_errors("video:\n  cameras:\n    - id: a\n"))
    twice = _errors(
        "video:\n  cameras:\n    - id: b\n      rtsp_url: rtsp://h/x\n"
        "    - id: b\n      rtsp_url: rtsp://h/y\n"
    )
    assert "camera id 'b' is used twice" in "\n".join(twice)


def test_wrong_schemes_and_bounds_are_named() -> None:
    errors = _errors(
        "video:\n  ingest:\n    reconnect_min_s: 600\n    reconnect_max_s: 60\n"
        "  cameras:\n    - id: a\n      rtsp_url: http://h/x\n"
        "    - id: c\n      onvif: {url: 'ftp://h/onvif'}\n"
    )
    joined = "\n".join(errors)
    assert "must not exceed" in joined
    assert "rtsp:// URL" in joined and "http(s):// URL" in joined


def test_a_password_comes_from_the_environment() -> None:
    config = parse_config(
        "video:\n  cameras:\n    - id: a\n      rtsp_url: rtsp://h/x\n"
        "      username: admin\n      password: ${CAM_A_PASSWORD}\n",
        env={"CAM_A_PASSWORD": "from-env"},
    )
    camera = config.video.cameras[0]
    assert camera.password is not None and camera.password.get_secret_value() == "from-env"
    assert "from-env" not in repr(camera)


_LIVE = "video:\n  live_view:\n    token_secret: ${CITYGW_LIVE_VIEW_SECRET:-}\n"


def test_the_live_view_secret_comes_from_the_environment_and_is_long() -> None:
    assert parse_config(_LIVE, env={}).video.live_view.token_secret is None  # unset: dev mode
    secret = "s" * 40
    config = parse_config(_LIVE, env={"CITYGW_LIVE_VIEW_SECRET": secret})
    token_secret = config.video.live_view.token_secret
    assert token_secret is not None and token_secret.get_secret_value() == secret
    assert secret not in repr(config.video.live_view)
    with pytest.raises(ConfigError) as caught:
        parse_config(_LIVE, env={"CITYGW_LIVE_VIEW_SECRET": "too-short-1"})
    assert "at least 32" in str(caught.value) and "too-short-1" not in str(caught.value)


def test_a_main_stream_url_goes_beside_the_analysed_one() -> None:
    alone = _errors("video:\n  cameras:\n    - id: a\n      onvif: {url: 'http://h/o'}\n"
                    "      main_rtsp_url: rtsp://h/main\n")  # fmt: skip
    assert "needs rtsp_url" in "\n".join(alone)
    same = _errors("video:\n  cameras:\n    - id: a\n      rtsp_url: rtsp://h/x\n"
                   "      main_rtsp_url: rtsp://h/x\n")  # fmt: skip
    assert "leave it out" in "\n".join(same)
