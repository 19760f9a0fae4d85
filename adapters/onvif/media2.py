"""ONVIF Media2 (``ver20/media``, Profile T) without a WSDL: GetProfiles, GetStreamUri and
GetSnapshotUri.

onvif-zeep-async 4.3 bundles no Media2 WSDL, so the two operations the gateway needs are
spoken here: hand-built SOAP 1.2 envelopes posted with aiohttp (a timeout on every call)
to the Media2 XAddr the device gave in GetServices, signed with a WS-Security
UsernameToken (PasswordDigest: a fresh nonce, the creation time moved by the device's
clock offset) and answering an HTTP Digest challenge when the device sends one
(`adapters.onvif.http_auth`), answers read with `xml.etree` (at most `MAX_ANSWER_BYTES`, no DTD).

Element names are those of the ONVIF Media2 WSDL (``ver20/media/wsdl/media.wsdl``) and
the common schema (``ver10/schema/onvif.xsd``):

- ``tr2:GetProfiles`` (``tr2:Token``?, ``tr2:Type``* from tr2:ConfigurationEnumeration:
  ``VideoEncoder`` asks for each profile's encoder) answers ``tr2:Profiles`` elements
  (``@token``, ``tr2:Name``, ``tr2:Configurations/tr2:VideoEncoder``: a
  tt:VideoEncoder2Configuration with ``tt:Encoding`` (a MIME subtype: ``H264``,
  ``H265``, ``JPEG``, ``MPV4-ES``), ``tt:Resolution/tt:Width|tt:Height`` and
  ``tt:RateControl/tt:FrameRateLimit|tt:BitrateLimit``);
- ``tr2:GetStreamUri`` (``tr2:Protocol`` from tr2:TransportProtocol: ``RTSP`` is RTP
  over RTSP over TCP, ``tr2:ProfileToken``) answers one ``tr2:Uri``;
- ``tr2:GetSnapshotUri`` (``tr2:ProfileToken``) answers one ``tr2:Uri``: an HTTP(S)
  address of a JPEG of that profile's picture.

Parsing is by local name, so a device that puts an element in a neighbouring namespace
still reads. Everything that goes wrong is an `OnvifError` with the kinds `device.py`
uses (``unauthorized``, ``unsupported``, ``fault``, ``timeout``, ``unreachable``,
``error``); the reason names the device by host:port only, never the credentials.
"""

from __future__ import annotations

import base64
import hashlib
import os
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from types import TracebackType
from xml.sax.saxutils import escape

import aiohttp

from adapters.onvif.http_auth import digest_session
from adapters.onvif.model import MEDIA2, OnvifError, Profile

NAMESPACE = "http://www.onvif.org/ver20/media/wsdl"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
_TT = "http://www.onvif.org/ver10/schema"
_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_TOKEN_PROFILE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
)
PASSWORD_DIGEST = f"{_TOKEN_PROFILE}#PasswordDigest"
_BASE64 = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
#: the largest answer read (a profile list of a multi-channel encoder is tens of kB)
MAX_ANSWER_BYTES = 1024 * 1024
#: a stream URI longer than this is refused (the spec asks devices for 128 octets)
MAX_URI_CHARS = 2048
_AUTH_CODES = ("NotAuthorized", "FailedAuthentication", "InvalidSecurity")


# ---------------------------------------------------------------------- requests (pure)
def password_digest(nonce: bytes, created: str, password: str) -> str:
    """WS-Security PasswordDigest: Base64(SHA-1(nonce + created + password))."""
    digest = hashlib.sha1(nonce + created.encode() + password.encode()).digest()
    return base64.b64encode(digest).decode()


def security_header(
    username: str, password: str, *, now: datetime, nonce: bytes, clock_offset: timedelta | None
) -> str:
    """A wsse:Security header with a UsernameToken; ``Created`` is ``now`` moved by the
    device's clock offset (its clock minus ours), so a device with a wrong clock still
    accepts the digest."""
    moment = now.astimezone(UTC) + (clock_offset or timedelta(0))
    created = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f'<wsse:Security xmlns:wsse="{_WSSE}" xmlns:wsu="{_WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{escape(username)}</wsse:Username>"
        f'<wsse:Password Type="{PASSWORD_DIGEST}">'
        f"{password_digest(nonce, created, password)}</wsse:Password>"
        f'<wsse:Nonce EncodingType="{_BASE64}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def envelope(body: str, header: str = "") -> bytes:
    """A SOAP 1.2 envelope around ``body`` (Media2 and common-schema prefixes declared)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<s:Envelope xmlns:s="{SOAP12}" xmlns:tr2="{NAMESPACE}" xmlns:tt="{_TT}">'
        f"<s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def get_profiles_body() -> str:
    """GetProfiles for every profile, with its video encoder configuration."""
    return "<tr2:GetProfiles><tr2:Type>VideoEncoder</tr2:Type></tr2:GetProfiles>"


def get_stream_uri_body(token: str, protocol: str = "RTSP") -> str:
    """GetStreamUri of one profile (``RTSP``: RTP over RTSP over TCP, the gateway's way)."""
    return (
        f"<tr2:GetStreamUri><tr2:Protocol>{escape(protocol)}</tr2:Protocol>"
        f"<tr2:ProfileToken>{escape(token)}</tr2:ProfileToken></tr2:GetStreamUri>"
    )


def get_snapshot_uri_body(token: str) -> str:
    """GetSnapshotUri of one profile (a JPEG over HTTP)."""
    return (
        f"<tr2:GetSnapshotUri><tr2:ProfileToken>{escape(token)}</tr2:ProfileToken>"
        "</tr2:GetSnapshotUri>"
    )


# ---------------------------------------------------------------------- answers (pure)
def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    if element is None:
        return None
    return next((c for c in element if _local(c.tag) == name), None)


def _path(element: ET.Element | None, *names: str) -> ET.Element | None:
    for name in names:
        element = _child(element, name)
    return element


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _number(element: ET.Element | None, low: float, high: float) -> float | None:
    """A number within [low, high], else ``None`` (a device's figures are not trusted)."""
    try:
        value = float(_text(element))
    except ValueError:
        return None
    return value if low <= value <= high else None


def _integer(element: ET.Element | None, low: int, high: int) -> int | None:
    value = _number(element, low, high)
    return int(value) if value is not None else None


def _fault(fault: ET.Element, where: str) -> OnvifError:
    """A SOAP 1.2 fault (``Code/Value``, nested ``Subcode/Value``, ``Reason/Text``) or a
    SOAP 1.1 one (``faultcode``, ``faultstring``) as an `OnvifError`."""
    codes = [
        _text(e).rpartition(":")[2]
        for e in fault.iter()
        if _local(e.tag) in ("Value", "faultcode") and _text(e)
    ]
    reason = next(
        (_text(e) for e in fault.iter() if _local(e.tag) in ("Text", "faultstring") and _text(e)),
        "",
    )
    if any(code in _AUTH_CODES for code in codes) or "not authorized" in reason.lower():
        return OnvifError("unauthorized", f"{where}: the device refused the credentials")
    if "ActionNotSupported" in codes:
        return OnvifError("unsupported", f"{where}: not supported by the device (fault)")
    detail = "/".join(c for c in codes if c not in ("Sender", "Receiver"))
    text = reason[:200] or "no reason given"
    return OnvifError("fault", f"{where}: {text}" + (f" ({detail})" if detail else ""))


def read_answer(status: int, body: bytes, where: str) -> ET.Element:
    """The first element of an answer's SOAP Body; faults, empty answers, HTTP errors and
    what is not SOAP become `OnvifError`."""
    text = body.strip()
    if status == 401:
        raise OnvifError("unauthorized", f"{where}: the device refused the credentials")
    if not text:
        if status == 200:
            # what a device we tried answers to an operation it does not have: no fault
            raise OnvifError("unsupported", f"{where}: not supported by the device (empty answer)")
        raise OnvifError("error", f"{where}: HTTP {status} without an answer")
    if b"<!DOCTYPE" in text or b"<!ENTITY" in text:
        raise OnvifError("error", f"{where}: an answer with a DTD is not read")
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        raise OnvifError("error", f"{where}: HTTP {status}, not XML") from None
    soap_body = _child(root, "Body") if _local(root.tag) == "Envelope" else None
    if soap_body is None:
        raise OnvifError("error", f"{where}: HTTP {status}, not a SOAP envelope")
    first = next(iter(soap_body), None)
    if first is not None and _local(first.tag) == "Fault":
        raise _fault(first, where)
    if status != 200:
        raise OnvifError("error", f"{where}: HTTP {status}")
    if first is None:
        raise OnvifError("unsupported", f"{where}: not supported by the device (empty Body)")
    return first


def _expect(answer: ET.Element, name: str, where: str) -> ET.Element:
    if _local(answer.tag) != name:
        raise OnvifError("error", f"{where}: answered {_local(answer.tag)!r}, not {name}")
    return answer


def _encoding(element: ET.Element | None) -> str | None:
    """``H264``/``H265``/``JPEG``/...: the MIME subtype, as Media1's names read (a device
    writing ``H.265`` is read as ``H265``)."""
    text = _text(element).upper().replace(".", "")
    return text[:32] or None


def profiles_from_answer(answer: ET.Element, where: str = "GetProfiles") -> list[Profile]:
    """The profiles of a ``GetProfilesResponse``, with their encoders where listed."""
    profiles = []
    for item in _expect(answer, "GetProfilesResponse", where):
        token = (item.get("token") or "").strip()
        if _local(item.tag) != "Profiles" or not token:
            continue
        encoder = _path(item, "Configurations", "VideoEncoder")
        resolution = _child(encoder, "Resolution")
        rate = _child(encoder, "RateControl")
        profiles.append(
            Profile(
                token=token[:64],
                name=_text(_child(item, "Name"))[:64],
                encoding=_encoding(_child(encoder, "Encoding")),
                width=_integer(_child(resolution, "Width"), 1, 65535),
                height=_integer(_child(resolution, "Height"), 1, 65535),
                fps=_number(_child(rate, "FrameRateLimit"), 0.01, 1000),
                bitrate_kbps=_integer(_child(rate, "BitrateLimit"), 1, 10_000_000),
                media=MEDIA2,
            )
        )
    return profiles


def stream_uri_from_answer(
    answer: ET.Element, where: str = "GetStreamUri", response: str = "GetStreamUriResponse"
) -> str:
    """The ``tr2:Uri`` of a ``GetStreamUriResponse`` (or another ``response`` carrying one:
    ``GetSnapshotUriResponse``)."""
    uri = _text(_child(_expect(answer, response, where), "Uri"))
    if not uri:
        raise OnvifError("fault", f"{where}: the answer has no Uri")
    if len(uri) > MAX_URI_CHARS or any(c.isspace() for c in uri):
        raise OnvifError("error", f"{where}: the Uri is not usable")
    return uri


# ---------------------------------------------------------------------- the client
class Media2Client:
    """Media2 of one device (use ``async with``, or `close`): `profiles`, `stream_uri`,
    `snapshot_uri`.

    ``address`` (host:port) names the device in errors; ``clock_offset`` is the device's
    clock minus ours (onvif-zeep-async's ``ONVIFCamera.dt_diff`` after ``update_xaddrs``).
    """

    def __init__(
        self,
        xaddr: str,
        username: str | None,
        password: str | None,
        *,
        address: str,
        timeout_s: float = 10.0,
        clock_offset: timedelta | None = None,
    ) -> None:
        self.xaddr = xaddr
        self.address = address
        self._username = username or ""
        self._password = password or ""
        self._timeout_s = timeout_s
        self.clock_offset = clock_offset
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Media2Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def profiles(self) -> list[Profile]:
        where = f"{self.address} Media2 GetProfiles"
        answer = await self._call("GetProfiles", get_profiles_body(), where)
        return profiles_from_answer(answer, where)

    async def stream_uri(self, token: str) -> str:
        where = f"{self.address} Media2 GetStreamUri"
        answer = await self._call("GetStreamUri", get_stream_uri_body(token), where)
        return stream_uri_from_answer(answer, where)

    async def snapshot_uri(self, token: str) -> str:
        """The HTTP(S) address of a JPEG snapshot of this profile."""
        where = f"{self.address} Media2 GetSnapshotUri"
        answer = await self._call("GetSnapshotUri", get_snapshot_uri_body(token), where)
        uri = stream_uri_from_answer(answer, where, "GetSnapshotUriResponse")
        if not uri.lower().startswith(("http://", "https://")):
            raise OnvifError("error", f"{where}: the Uri is not an HTTP address")
        return uri

    async def _call(self, operation: str, body: str, where: str) -> ET.Element:
        header = ""
        if self._username:
            header = security_header(
                self._username,
                self._password,
                now=datetime.now(UTC),
                nonce=os.urandom(16),
                clock_offset=self.clock_offset,
            )
        action = f"{NAMESPACE}/{operation}"
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
        if self._session is None:
            # a device answering 401 with a Digest challenge gets the request again with it
            self._session = digest_session(self._username, self._password, self._timeout_s)
        try:
            async with self._session.post(
                self.xaddr, data=envelope(body, header), headers=headers, allow_redirects=False
            ) as response:
                content = await _read_capped(response, where)
                status = response.status
        except OnvifError:
            raise
        except TimeoutError:
            raise OnvifError("timeout", f"{where}: no answer in time") from None
        except (aiohttp.ClientConnectorError, ConnectionError, OSError):
            raise OnvifError("unreachable", f"{where}: cannot connect") from None
        except aiohttp.ClientError as exc:
            raise OnvifError("error", f"{where}: {type(exc).__name__}") from None
        return read_answer(status, content, where)


async def _read_capped(response: aiohttp.ClientResponse, where: str) -> bytes:
    """The answer's bytes, refusing more than `MAX_ANSWER_BYTES` whatever it announces."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise OnvifError("error", f"{where}: answer larger than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
