"""What the ONVIF adapters share: the error they raise and the media profile they read.

A module of its own so that `device` (the onvif-zeep-async session) and `media2` (the
hand-built Media2 SOAP) both use them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: the media service a profile was listed by (and its stream URI is asked of)
MEDIA1 = "media1"
MEDIA2 = "media2"


class OnvifError(Exception):
    """An ONVIF call failed: ``kind`` (``unauthorized``, ``timeout``, ``unreachable``,
    ``fault``, ``unsupported``, ``error``, ...) and a reason naming the device by
    host:port only (never credentials)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class Profile:
    token: str
    name: str
    encoding: str | None
    width: int | None
    height: int | None
    fps: float | None
    bitrate_kbps: int | None
    stream_uri: str | None = None
    snapshot_uri: str | None = None
    presets: list[tuple[str, str]] = field(default_factory=list)
    media: str = MEDIA1  # the service that listed it: MEDIA1 (ver10) or MEDIA2 (ver20)
