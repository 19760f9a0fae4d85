"""Short-lived grants to watch a camera live, issued by the core, checked by the video gateway.

The console is served by the core, where operators log in; the WebRTC signalling is served
by ``citygw video`` on another host. The two share one secret (config, from the
environment); the core signs a grant naming the operator, the camera (or ``*``) and an
expiry, and the video gateway accepts an offer only with a valid grant for that camera.
No I/O and no clock of its own: callers pass ``now``.

A token reads ``v1.<payload>.<signature>``: the payload is URL-safe base64 of compact JSON
``{"sub": ..., "cam": ..., "exp": <unix seconds>}``; the signature is URL-safe base64 of
HMAC-SHA256 over ``v1.<payload>`` with the shared secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

VERSION = "v1"
ANY_CAMERA = "*"
MIN_SECRET_BYTES = 32
MAX_TOKEN_CHARS = 2048
MAX_TTL = timedelta(hours=12)


class LiveTokenError(ValueError):
    """A grant that must be refused; ``code`` is stable, the message says why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LiveViewGrant:
    subject: str
    camera_id: str
    expires_at: int

    def allows(self, camera_id: str) -> bool:
        return self.camera_id in (ANY_CAMERA, camera_id)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: str) -> bytes:
    key = secret.encode("utf-8")
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"live-view secret must be at least {MIN_SECRET_BYTES} bytes")
    return key


def _sign(key: bytes, signed_part: str) -> str:
    return _b64(hmac.new(key, signed_part.encode("ascii"), hashlib.sha256).digest())


def issue(secret: str, *, subject: str, camera_id: str, now: datetime, ttl: timedelta) -> str:
    """A token letting ``subject`` watch ``camera_id`` (or ``ANY_CAMERA``) until now + ttl."""
    if not subject or not camera_id:
        raise ValueError("a live-view grant needs a subject and a camera")
    if not timedelta(0) < ttl <= MAX_TTL:
        raise ValueError(f"live-view grant lifetime must be in (0, {MAX_TTL}]")
    payload = {"sub": subject, "cam": camera_id, "exp": int((now + ttl).timestamp())}
    body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    signed_part = f"{VERSION}.{body}"
    return f"{signed_part}.{_sign(_key(secret), signed_part)}"


def verify(secret: str, token: str, *, camera_id: str | None, now: datetime) -> LiveViewGrant:
    """The grant in ``token`` if it is genuine, unexpired and covers ``camera_id``
    (``None``: any camera; the caller then looks at `LiveViewGrant.allows` itself)."""
    if len(token) > MAX_TOKEN_CHARS:
        raise LiveTokenError("malformed", "token too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise LiveTokenError("malformed", "expected three dot-separated parts")
    version, body, signature = parts
    if version != VERSION:
        raise LiveTokenError("malformed", f"unknown token version {version[:16]!r}")
    expected = _sign(_key(secret), f"{version}.{body}")
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace")):
        raise LiveTokenError("bad_signature", "token not signed with this gateway's secret")
    try:
        payload = json.loads(_unb64(body))
        grant = LiveViewGrant(
            subject=str(payload["sub"]),
            camera_id=str(payload["cam"]),
            expires_at=int(payload["exp"]),
        )
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise LiveTokenError("malformed", f"unreadable payload ({exc})") from exc
    if grant.expires_at <= now.timestamp():
        raise LiveTokenError("expired", "token expired; ask the console for a new one")
    if camera_id is not None and not grant.allows(camera_id):
        raise LiveTokenError("wrong_camera", f"token is for camera {grant.camera_id!r}")
    return grant
