"""Live-view grants: the core signs, the video gateway verifies."""

from datetime import UTC, datetime, timedelta

import pytest

from gateway.live_tokens import ANY_CAMERA, LiveTokenError, issue, verify

SECRET = "s" * 40
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _token(camera: str = "gate-3", ttl: timedelta = timedelta(minutes=5)) -> str:
    return issue(SECRET, subject="op-li", camera_id=camera, now=NOW, ttl=ttl)


def test_a_grant_round_trips_for_its_camera() -> None:
    grant = verify(SECRET, _token(), camera_id="gate-3", now=NOW + timedelta(minutes=4))
    assert (grant.subject, grant.camera_id) == ("op-li", "gate-3")
    assert grant.expires_at == int((NOW + timedelta(minutes=5)).timestamp())


def test_a_grant_for_any_camera_covers_every_camera() -> None:
    token = _token(camera=ANY_CAMERA)
    assert verify(SECRET, token, camera_id="river-1", now=NOW).subject == "op-li"


@pytest.mark.parametrize(
    ("token_of", "code"),
    [
        (lambda t: t, "wrong_camera"),
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "bad_signature"),
        (lambda t: "v2" + t[2:], "malformed"),
        (lambda t: t.replace(".", "", 1), "malformed"),
        (lambda t: "x" * 5000, "malformed"),
    ],
)
def test_a_forged_or_misused_token_is_refused_with_a_code(token_of, code: str) -> None:
    with pytest.raises(LiveTokenError) as caught:
        verify(SECRET, token_of(_token()), camera_id="other-cam", now=NOW)
    assert caught.value.code == code


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = issue("t" * 40, subject="op-li", camera_id="gate-3", now=NOW, ttl=timedelta(minutes=1))
    with pytest.raises(LiveTokenError, match="bad_signature"):
        verify(SECRET, token, camera_id="gate-3", now=NOW)


def test_an_expired_token_is_refused() -> None:
    token = _token(ttl=timedelta(seconds=30))
    with pytest.raises(LiveTokenError, match="expired"):
        verify(SECRET, token, camera_id="gate-3", now=NOW + timedelta(seconds=30))


def test_a_short_secret_or_a_long_lifetime_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        issue("short", subject="a", camera_id="b", now=NOW, ttl=timedelta(minutes=1))
    with pytest.raises(ValueError, match="lifetime"):
        _token(ttl=timedelta(days=2))


def test_a_grant_read_for_any_camera_says_which_it_covers() -> None:
    grant = verify(SECRET, _token(camera="gate-3"), camera_id=None, now=NOW)
    assert grant.allows("gate-3") and not grant.allows("gate-4")
