"""The test device's Media2 (``ver20/media``, Profile T) operations: GetProfiles,
GetStreamUri, GetSnapshotUri.

They answer as the ONVIF Media2 WSDL lays them out: ``GetProfiles`` lists ``tr2:Profiles``
(``@token``, ``tr2:Name``) with the configurations the request's ``tr2:Type`` asks for
(``VideoSource``, ``VideoEncoder`` or ``All``; none without a type), the encoder as a
tt:VideoEncoder2Configuration (``tt:Encoding`` H264/H265/JPEG, ``tt:Resolution``,
``tt:RateControl``); ``GetStreamUri`` takes ``tr2:Protocol`` and ``tr2:ProfileToken`` and
answers one ``tr2:Uri``; ``GetSnapshotUri`` takes ``tr2:ProfileToken`` and answers the
``tr2:Uri`` of a JPEG snapshot (HTTP GET). Media2 lists every profile, also those a Media1 cannot express
(an H.265 stream: ``media2_only``); Media1 lists only the others.

`Media2Operations.handle(operation, request)` answers the body of one of these, or
``None`` for an operation it does not have; bad arguments raise `Media2Fault`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from typing import Protocol
from xml.sax.saxutils import escape

NS = {
    "tr2": "http://www.onvif.org/ver20/media/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
}
#: tr2:TransportProtocol values; the test device streams RTSP unicast only
TRANSPORT_PROTOCOLS = frozenset(
    {"RtspUnicast", "RtspMulticast", "RtspsUnicast", "RtspsMulticast", "RTSP", "RtspOverHttp"}
)
_SERVED_PROTOCOLS = frozenset({"RtspUnicast", "RTSP", "RtspOverHttp"})


class StreamLike(Protocol):
    """What a profile of the device has (`onvif_device.StreamProfile`)."""

    @property
    def token(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def rtsp_url(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def fps(self) -> int: ...
    @property
    def bitrate_kbps(self) -> int: ...
    @property
    def encoding(self) -> str: ...


class Media2Fault(Exception):
    """A request the device refuses (an ``s:Sender`` fault with ``subcode``)."""

    def __init__(self, subcode: str, reason: str) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason


class Media2Operations:
    """Media2 over the device's profiles (``profiles`` gives them at each request)."""

    def __init__(
        self, profiles: Callable[[], Sequence[StreamLike]], snapshot_url: str = ""
    ) -> None:
        self._profiles = profiles
        self._snapshot_url = snapshot_url

    def handle(self, operation: str, request: ET.Element) -> str | None:
        handler = getattr(self, f"_op_{operation}", None)
        return None if handler is None else str(handler(request))

    def _profile(self, token: str) -> StreamLike:
        for profile in self._profiles():
            if profile.token == token:
                return profile
        raise Media2Fault("ter:InvalidArgVal/ter:NoProfile", f"no profile {token!r}")

    def _op_GetProfiles(self, request: ET.Element) -> str:
        token = request.findtext("tr2:Token", None, NS)
        profiles = [self._profile(token)] if token is not None else list(self._profiles())
        types = {(t.text or "").strip() for t in request.findall("tr2:Type", NS)}
        body = "".join(_profile_xml(p, types) for p in profiles)
        return f"<tr2:GetProfilesResponse>{body}</tr2:GetProfilesResponse>"

    def _op_GetStreamUri(self, request: ET.Element) -> str:
        protocol = (request.findtext("tr2:Protocol", "", NS) or "").strip()
        if protocol not in TRANSPORT_PROTOCOLS:
            raise Media2Fault("ter:InvalidArgVal", f"unknown protocol {protocol!r}")
        if protocol not in _SERVED_PROTOCOLS:
            raise Media2Fault(
                "ter:InvalidArgVal/ter:InvalidStreamSetup", f"{protocol} is not offered"
            )
        profile = self._profile(request.findtext("tr2:ProfileToken", "", NS) or "")
        return (
            f"<tr2:GetStreamUriResponse><tr2:Uri>{escape(profile.rtsp_url)}</tr2:Uri>"
            "</tr2:GetStreamUriResponse>"
        )

    def _op_GetSnapshotUri(self, request: ET.Element) -> str:
        self._profile(request.findtext("tr2:ProfileToken", "", NS) or "")
        return (
            f"<tr2:GetSnapshotUriResponse><tr2:Uri>{escape(self._snapshot_url)}</tr2:Uri>"
            "</tr2:GetSnapshotUriResponse>"
        )


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def _profile_xml(profile: StreamLike, types: set[str]) -> str:
    every = "All" in types
    parts = []
    if every or "VideoSource" in types:
        parts.append(
            '<tr2:VideoSource token="vsc0"><tt:Name>video source</tt:Name>'
            "<tt:UseCount>2</tt:UseCount><tt:SourceToken>vs0</tt:SourceToken>"
            '<tt:Bounds x="0" y="0" width="768" height="576"/></tr2:VideoSource>'
        )
    if every or "VideoEncoder" in types:
        codec_profile = "Main" if profile.encoding in ("H264", "H265") else ""
        parts.append(
            f'<tr2:VideoEncoder token="vec2-{_attr(profile.token)}" GovLength="{profile.fps}"'
            + (f' Profile="{codec_profile}"' if codec_profile else "")
            + f"><tt:Name>{escape(profile.name)}</tt:Name><tt:UseCount>1</tt:UseCount>"
            f"<tt:Encoding>{escape(profile.encoding)}</tt:Encoding>"
            f"<tt:Resolution><tt:Width>{profile.width}</tt:Width>"
            f"<tt:Height>{profile.height}</tt:Height></tt:Resolution>"
            '<tt:RateControl ConstantBitRate="false">'
            f"<tt:FrameRateLimit>{profile.fps}</tt:FrameRateLimit>"
            f"<tt:BitrateLimit>{profile.bitrate_kbps}</tt:BitrateLimit></tt:RateControl>"
            "<tt:Quality>5</tt:Quality></tr2:VideoEncoder>"
        )
    configurations = f"<tr2:Configurations>{''.join(parts)}</tr2:Configurations>" if parts else ""
    return (
        f'<tr2:Profiles token="{_attr(profile.token)}" fixed="true">'
        f"<tr2:Name>{escape(profile.name)}</tr2:Name>{configurations}</tr2:Profiles>"
    )
