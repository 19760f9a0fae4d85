"""A protocol-faithful ONVIF device for tests and the demo: SOAP 1.2 over HTTP on loopback.

It answers what a video management system asks a real camera: device information,
services and capabilities, the clock, media profiles (a main and a sub stream), stream
and snapshot URIs, PTZ (presets, goto, relative and continuous moves, stop, status: a
head that takes time to move, ``onvif_ptz.py``), and PullPoint event subscriptions (create, pull with a
long-poll timeout, renew, unsubscribe; expired subscriptions are dropped). Requests
other than the clock need a valid WS-Security UsernameToken (PasswordDigest or text),
as a real device does; a wrong password gets a ``ter:NotAuthorized`` fault.

With ``media2`` it also offers Media2 (Profile T, ``onvif_media2.py``): GetProfiles,
GetStreamUri and GetSnapshotUri over every profile, H.265 ones only Media2 lists (``media2_only``) included;
Media2 operations named in ``media2_faults`` answer a SOAP fault (HTTP 500).

It behaves as the small C Profile S/T server of camera firmware we tried did:

- every event is a property: its current state per topic and source is re-sent with
  ``PropertyOperation=Initialized`` (stamped with the time of sending) to each new
  subscription and on ``SetSynchronizationPoint``, so an alarm still active arrives again;
- authentication failures are HTTP 400 with a ``ter:NotAuthorized`` fault;
- an operation it does not support (or one listed in ``unsupported``) gets HTTP 200 with
  an empty body, not a fault;
- its subscription table holds 8; the ninth ``CreatePullPointSubscription`` is refused;
- subscriptions live in its web server: when the server goes down (`OnvifServer.stop`),
  they are gone, while the camera's alarm states stay;
- with ``http_digest`` it demands HTTP Digest (``401`` with ``WWW-Authenticate: Digest``,
  `http_digest.py`) on every request, the snapshot included, and then does not look at
  WS-Security, as many real cameras do;
- its event service may go down alone (`OnvifDevice.set_events_available`: the event
  daemon of camera firmware restarting): its subscriptions are gone and event operations
  answer HTTP 503 with a fault, while device, media and PTZ calls still work.

`OnvifDevice.handle` turns a request body into a response (no sockets); `OnvifServer`
serves it over HTTP and serves the snapshot JPEG.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import itertools
import logging
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from gateway.video.testcam.http_digest import DigestGuard
from gateway.video.testcam.onvif_media2 import Media2Fault, Media2Operations
from gateway.video.testcam.onvif_ptz import PtzFault, PtzHead, PtzOperations

log = logging.getLogger(__name__)

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tr2": "http://www.onvif.org/ver20/media/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "tns1": "http://www.onvif.org/ver10/topics",
    "ter": "http://www.onvif.org/ver10/error",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}
_PASSWORD_DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)
MEDIA2 = NS["tr2"]
_NO_AUTH = frozenset({"GetSystemDateAndTime"})
#: what the event service answers (refused while it is down)
_EVENT_OPERATIONS = frozenset(
    {
        "CreatePullPointSubscription",
        "PullMessages",
        "Renew",
        "Unsubscribe",
        "SetSynchronizationPoint",
        "GetEventProperties",
        "Subscribe",
    }
)


@dataclass(frozen=True)
class StreamProfile:
    token: str
    name: str
    rtsp_url: str
    width: int
    height: int
    fps: int
    bitrate_kbps: int = 1024
    encoding: str = "H264"
    media2_only: bool = False  # listed by Media2 only (an H.265 stream Media1 cannot express)


@dataclass(frozen=True)
class OnvifEvent:
    """One notification: a topic such as ``tns1:RuleEngine/CellMotionDetector/Motion``."""

    topic: str
    source: dict[str, str]
    data: dict[str, str]
    utc: datetime = field(default_factory=lambda: datetime.now(UTC))
    operation: str = "Changed"  # PropertyOperation: Initialized, Changed, Deleted

    @property
    def property_key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return (self.topic, tuple(sorted(self.source.items())))


@dataclass
class _Subscription:
    id: str
    expires: float
    queue: list[OnvifEvent] = field(default_factory=list)


class SoapFault(Exception):
    def __init__(self, code: str, subcode: str, reason: str, http_status: int = 400) -> None:
        super().__init__(reason)
        self.code = code
        self.subcode = subcode
        self.reason = reason
        self.http_status = http_status


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str, default: float) -> float:
    """An xs:duration like ``PT60S``/``PT1M``/``PT1H30M`` in seconds (absolute times: from now)."""
    text = (text or "").strip()
    if not text:
        return default
    if not text.startswith("P"):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return default
        return max(0.0, (moment - datetime.now(UTC)).total_seconds())
    seconds = 0.0
    number = ""
    in_time = False
    for char in text[1:]:
        if char == "T":
            in_time = True
        elif char.isdigit() or char == ".":
            number += char
        else:
            value = float(number or 0)
            number = ""
            seconds += value * {
                ("D", False): 86400,
                ("H", True): 3600,
                ("M", True): 60,
                ("S", True): 1,
            }.get((char, in_time), 0)
    return seconds


def _envelope(body: str, headers: str = "") -> bytes:
    namespaces = " ".join(f"xmlns:{p}={quoteattr(u)}" for p, u in NS.items())
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope {namespaces}>'
        f"<s:Header>{headers}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def fault_response(fault: SoapFault) -> bytes:
    """A SOAP 1.2 fault; ``a/b`` subcodes nest as the ONVIF core spec lays them out."""
    subcodes = ""
    for value in reversed(fault.subcode.split("/")):
        subcodes = f"<s:Subcode><s:Value>{value}</s:Value>{subcodes}</s:Subcode>"
    return _envelope(
        f"<s:Fault><s:Code><s:Value>{fault.code}</s:Value>{subcodes}</s:Code>"
        f'<s:Reason><s:Text xml:lang="en">{escape(fault.reason)}</s:Text></s:Reason>'
        "</s:Fault>"
    )


class OnvifDevice:
    """The device's state and its SOAP operations."""

    def __init__(
        self,
        *,
        base_url: str,
        profiles: list[StreamProfile],
        snapshot_url: str,
        username: str | None = None,
        password: str | None = None,
        serial: str = "CITYGW-TEST-0001",
        max_subscriptions: int = 8,
        unsupported: frozenset[str] = frozenset(),
        ptz: PtzHead | None = None,
        media2: bool = False,
        media2_faults: frozenset[str] = frozenset(),
        http_digest: bool = False,
    ) -> None:
        """``ptz``: the head (default: presets 1 "gate" at home, 2 "crossing" away);
        ``media2``: the device lists and answers a Media2 (Profile T) service beside
        Media1, as an H.265 camera does; ``media2_faults``: Media2 operations (e.g.
        ``GetProfiles``) answered with a fault; ``unsupported`` names a Media2 operation
        ``tr2:GetProfiles`` (as `requests` records it); ``http_digest``: requests need HTTP
        Digest with the user name and password (`OnvifServer` checks it: `digest`)."""
        self.base_url = base_url.rstrip("/")
        self.profiles = profiles
        self.snapshot_url = snapshot_url
        self.username = username
        self.password = password
        self.serial = serial
        self.max_subscriptions = max_subscriptions
        self.unsupported = unsupported
        self.ptz = ptz or PtzHead()
        self._ptz_operations = PtzOperations(self.ptz, parse_duration)
        self.media2 = media2
        self.media2_faults = media2_faults
        #: HTTP Digest demanded (checked by the server before `handle`); None: WS-Security
        self.digest = DigestGuard(username, password or "") if http_digest and username else None
        self._media2_operations = Media2Operations(lambda: self.profiles, snapshot_url)
        self._subscriptions: dict[str, _Subscription] = {}
        #: the current state of every property (topic + source): re-sent as Initialized
        self._properties: dict[tuple[str, tuple[tuple[str, str], ...]], OnvifEvent] = {}
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self.events_available = True  # False: the event service is down (others answer)
        self.requests: list[str] = []  # operation names, in order (tests read it)

    # ---------------------------------------------------------------- events
    def emit(self, event: OnvifEvent) -> None:
        """Queue an event for every live subscription (what the camera's analytics do)."""
        with self._cond:
            self._expire()
            if event.operation == "Deleted":
                self._properties.pop(event.property_key, None)
            else:
                self._properties[event.property_key] = event
            for subscription in self._subscriptions.values():
                subscription.queue.append(event)
            self._cond.notify_all()

    def drop_subscriptions(self) -> None:
        """Forget every subscription (the web server that held them went down)."""
        with self._cond:
            self._subscriptions.clear()
            self._cond.notify_all()

    def set_events_available(self, available: bool) -> None:
        """The event service goes down (its subscriptions with it; event operations get a
        fault) or comes back; the web server and the other services answer throughout."""
        with self._cond:
            self.events_available = available
            if not available:
                self._subscriptions.clear()
            self._cond.notify_all()

    def _initialized(self) -> list[OnvifEvent]:
        """Every property's current state, as a device sends it to a new subscriber."""
        now = datetime.now(UTC)
        return [
            OnvifEvent(e.topic, dict(e.source), dict(e.data), now, "Initialized")
            for e in self._properties.values()
        ]

    @property
    def subscription_count(self) -> int:
        with self._cond:
            self._expire()
            return len(self._subscriptions)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._subscriptions.items() if s.expires <= now]:
            del self._subscriptions[key]

    # ---------------------------------------------------------------- dispatch
    def handle(self, path: str, body: bytes) -> tuple[int, bytes]:
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            return 400, fault_response(SoapFault("s:Sender", "ter:WellFormed", f"bad XML: {exc}"))
        request = root.find("s:Body/*", NS)
        if request is None:
            return 400, fault_response(SoapFault("s:Sender", "ter:InvalidArgs", "empty body"))
        operation = request.tag.rpartition("}")[2]
        media2_request = request.tag.startswith(f"{{{MEDIA2}}}")
        name = f"tr2:{operation}" if media2_request else operation
        self.requests.append(name)
        try:
            if operation not in _NO_AUTH and self.digest is None:
                self._authenticate(root)
            if operation in _EVENT_OPERATIONS and not self.events_available:
                raise SoapFault(
                    "s:Receiver", "ter:Action", "the event service is not available", 503
                )
            if name in self.unsupported or (media2_request and not self.media2):
                return 200, b""  # as the real one: no fault, an empty answer
            if media2_request:
                if operation in self.media2_faults:
                    raise SoapFault("s:Receiver", "ter:Action", "the Media2 service failed", 500)
                answer = self._media2_operations.handle(operation, request)
                return 200, (_envelope(answer) if answer is not None else b"")
            handler = getattr(self, f"_op_{operation}", None)
            if handler is not None:
                return 200, _envelope(handler(request, path))
            if path.endswith("/ptz_service"):
                token = request.findtext("tptz:ProfileToken", None, NS)
                if token is not None:
                    self._profile(token)
                answer = self._ptz_operations.handle(operation, request)
                if answer is not None:
                    return 200, _envelope(answer)
            return 200, b""
        except (PtzFault, Media2Fault) as fault:
            return 400, fault_response(SoapFault("s:Sender", fault.subcode, fault.reason))
        except SoapFault as fault:
            return fault.http_status, fault_response(fault)

    def _authenticate(self, root: ET.Element) -> None:
        if self.username is None:
            return
        token = root.find("s:Header/wsse:Security/wsse:UsernameToken", NS)
        if token is None:
            raise SoapFault("s:Sender", "ter:NotAuthorized", "authentication required")
        user = token.findtext("wsse:Username", "", NS)
        password_element = token.find("wsse:Password", NS)
        given = password_element.text or "" if password_element is not None else ""
        kind = password_element.get("Type", "") if password_element is not None else ""
        if kind == _PASSWORD_DIGEST:
            nonce = base64.b64decode(token.findtext("wsse:Nonce", "", NS) or "")
            created = token.findtext("wsu:Created", "", NS) or ""
            expected = base64.b64encode(
                hashlib.sha1(nonce + created.encode() + (self.password or "").encode()).digest()
            ).decode()
        else:
            expected = self.password or ""
        if user != self.username or given != expected:
            raise SoapFault("s:Sender", "ter:NotAuthorized", "the user name or password is wrong")

    # ---------------------------------------------------------------- device
    def _op_GetSystemDateAndTime(self, _request: ET.Element, _path: str) -> str:
        now = datetime.now(UTC)
        return (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
            "<tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone><tt:UTCDateTime>"
            f"<tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
            f"<tt:Second>{now.second}</tt:Second></tt:Time>"
            f"<tt:Date><tt:Year>{now.year}</tt:Year><tt:Month>{now.month}</tt:Month>"
            f"<tt:Day>{now.day}</tt:Day></tt:Date></tt:UTCDateTime>"
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    def _op_GetDeviceInformation(self, _request: ET.Element, _path: str) -> str:
        return (
            "<tds:GetDeviceInformationResponse>"
            "<tds:Manufacturer>citygw</tds:Manufacturer><tds:Model>TestCam-1</tds:Model>"
            "<tds:FirmwareVersion>1.0.0</tds:FirmwareVersion>"
            f"<tds:SerialNumber>{escape(self.serial)}</tds:SerialNumber>"
            "<tds:HardwareId>vtest</tds:HardwareId></tds:GetDeviceInformationResponse>"
        )

    def _services(self) -> list[tuple[str, str]]:
        return [
            (NS["tds"], f"{self.base_url}/onvif/device_service"),
            (NS["trt"], f"{self.base_url}/onvif/media_service"),
            (NS["tptz"], f"{self.base_url}/onvif/ptz_service"),
            (NS["tev"], f"{self.base_url}/onvif/events_service"),
            *([(MEDIA2, f"{self.base_url}/onvif/media2_service")] if self.media2 else []),
        ]

    def _op_GetServices(self, _request: ET.Element, _path: str) -> str:
        items = "".join(
            f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{url}</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version>"
            "</tds:Service>"
            for ns, url in self._services()
        )
        return f"<tds:GetServicesResponse>{items}</tds:GetServicesResponse>"

    def _op_GetCapabilities(self, _request: ET.Element, _path: str) -> str:
        return (
            "<tds:GetCapabilitiesResponse><tds:Capabilities>"
            f"<tt:Device><tt:XAddr>{self.base_url}/onvif/device_service</tt:XAddr></tt:Device>"
            f"<tt:Events><tt:XAddr>{self.base_url}/onvif/events_service</tt:XAddr>"
            "<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>"
            "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
            "<tt:WSPausableSubscriptionManagerInterfaceSupport>false"
            "</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>"
            f"<tt:Media><tt:XAddr>{self.base_url}/onvif/media_service</tt:XAddr>"
            "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>"
            "<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>"
            "</tt:StreamingCapabilities></tt:Media>"
            f"<tt:PTZ><tt:XAddr>{self.base_url}/onvif/ptz_service</tt:XAddr></tt:PTZ>"
            "</tds:Capabilities></tds:GetCapabilitiesResponse>"
        )

    # ---------------------------------------------------------------- media
    @property
    def media1_profiles(self) -> list[StreamProfile]:
        """The profiles Media1 lists (not those only Media2 can express)."""
        return [p for p in self.profiles if not p.media2_only]

    def _profile(self, token: str) -> StreamProfile:
        for profile in self.media1_profiles:
            if profile.token == token:
                return profile
        raise SoapFault("s:Sender", "ter:InvalidArgVal/ter:NoProfile", f"no profile {token!r}")

    def _profile_xml(self, profile: StreamProfile) -> str:
        return (
            f'<trt:Profiles token="{profile.token}" fixed="true">'
            f"<tt:Name>{escape(profile.name)}</tt:Name>"
            '<tt:VideoSourceConfiguration token="vsc0"><tt:Name>video source</tt:Name>'
            "<tt:UseCount>2</tt:UseCount><tt:SourceToken>vs0</tt:SourceToken>"
            '<tt:Bounds x="0" y="0" width="768" height="576"/></tt:VideoSourceConfiguration>'
            f'<tt:VideoEncoderConfiguration token="vec-{profile.token}">'
            f"<tt:Name>{escape(profile.name)}</tt:Name><tt:UseCount>1</tt:UseCount>"
            f"<tt:Encoding>{profile.encoding}</tt:Encoding>"
            f"<tt:Resolution><tt:Width>{profile.width}</tt:Width>"
            f"<tt:Height>{profile.height}</tt:Height></tt:Resolution>"
            "<tt:Quality>5</tt:Quality><tt:RateControl>"
            f"<tt:FrameRateLimit>{profile.fps}</tt:FrameRateLimit>"
            "<tt:EncodingInterval>1</tt:EncodingInterval>"
            f"<tt:BitrateLimit>{profile.bitrate_kbps}</tt:BitrateLimit></tt:RateControl>"
            f"<tt:H264><tt:GovLength>{profile.fps}</tt:GovLength>"
            "<tt:H264Profile>Baseline</tt:H264Profile></tt:H264>"
            "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0"
            "</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port><tt:TTL>1</tt:TTL>"
            "<tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
            "<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>"
            '<tt:PTZConfiguration token="ptz0"><tt:Name>ptz</tt:Name>'
            "<tt:UseCount>2</tt:UseCount><tt:NodeToken>ptznode0</tt:NodeToken>"
            "</tt:PTZConfiguration></trt:Profiles>"
        )

    def _op_GetProfiles(self, _request: ET.Element, _path: str) -> str:
        body = "".join(self._profile_xml(p) for p in self.media1_profiles)
        return f"<trt:GetProfilesResponse>{body}</trt:GetProfilesResponse>"

    @staticmethod
    def _media_uri(tag: str, uri: str) -> str:
        return (
            f"<trt:{tag}><trt:MediaUri><tt:Uri>{escape(uri)}</tt:Uri>"
            "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
            "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
            f"<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:{tag}>"
        )

    def _op_GetStreamUri(self, request: ET.Element, _path: str) -> str:
        profile = self._profile(request.findtext("trt:ProfileToken", "", NS))
        return self._media_uri("GetStreamUriResponse", profile.rtsp_url)

    def _op_GetSnapshotUri(self, request: ET.Element, _path: str) -> str:
        self._profile(request.findtext("trt:ProfileToken", "", NS))
        return self._media_uri("GetSnapshotUriResponse", self.snapshot_url)

    # ---------------------------------------------------------------- events
    def _termination(self, subscription: _Subscription) -> str:
        remaining = subscription.expires - time.monotonic()
        return _iso(datetime.now(UTC) + timedelta(seconds=max(0.0, remaining)))

    def _op_CreatePullPointSubscription(self, request: ET.Element, _path: str) -> str:
        seconds = parse_duration(request.findtext("tev:InitialTerminationTime", "", NS) or "", 60.0)
        with self._cond:
            self._expire()
            if len(self._subscriptions) >= self.max_subscriptions:
                raise SoapFault(
                    "s:Receiver",
                    "ter:Action/ter:TooManySubscriptions",
                    "too many subscriptions: unsubscribe first",
                )
            subscription = _Subscription(
                id=str(next(self._ids)),
                expires=time.monotonic() + max(1.0, seconds),
                queue=self._initialized(),
            )
            self._subscriptions[subscription.id] = subscription
            termination = self._termination(subscription)
        address = f"{self.base_url}/onvif/subscription/{subscription.id}"
        return (
            "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
            f"<wsa:Address>{address}</wsa:Address></tev:SubscriptionReference>"
            f"<wsnt:CurrentTime>{_iso(datetime.now(UTC))}</wsnt:CurrentTime>"
            f"<wsnt:TerminationTime>{termination}</wsnt:TerminationTime>"
            "</tev:CreatePullPointSubscriptionResponse>"
        )

    def _subscription(self, path: str) -> _Subscription:
        key = path.rstrip("/").rpartition("/")[2]
        self._expire()
        subscription = self._subscriptions.get(key)
        if subscription is None:
            raise SoapFault(
                "s:Sender", "ter:InvalidArgVal/ter:NoSubscription", f"no subscription {key}"
            )
        return subscription

    @staticmethod
    def _message_xml(event: OnvifEvent) -> str:
        def items(values: dict[str, str]) -> str:
            return "".join(
                f"<tt:SimpleItem Name={quoteattr(k)} Value={quoteattr(v)}/>"
                for k, v in values.items()
            )

        return (
            "<wsnt:NotificationMessage><wsnt:Topic "
            'Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">'
            f"{escape(event.topic)}</wsnt:Topic><wsnt:Message>"
            f'<tt:Message UtcTime="{_iso(event.utc)}" '
            f"PropertyOperation={quoteattr(event.operation)}>"
            f"<tt:Source>{items(event.source)}</tt:Source><tt:Data>{items(event.data)}</tt:Data>"
            "</tt:Message></wsnt:Message></wsnt:NotificationMessage>"
        )

    def _op_PullMessages(self, request: ET.Element, path: str) -> str:
        timeout = min(parse_duration(request.findtext("tev:Timeout", "", NS) or "", 1.0), 10.0)
        limit = int(request.findtext("tev:MessageLimit", "100", NS) or 100)
        with self._cond:
            subscription = self._subscription(path)
            self._cond.wait_for(
                lambda: bool(subscription.queue) or subscription.id not in self._subscriptions,
                timeout,
            )
            subscription = self._subscription(path)  # gone meanwhile: a fault, no messages
            events, subscription.queue[:] = (
                subscription.queue[:limit],
                subscription.queue[limit:],
            )
            termination = self._termination(subscription)
        messages = "".join(self._message_xml(e) for e in events)
        return (
            f"<tev:PullMessagesResponse><tev:CurrentTime>{_iso(datetime.now(UTC))}"
            f"</tev:CurrentTime><tev:TerminationTime>{termination}</tev:TerminationTime>"
            f"{messages}</tev:PullMessagesResponse>"
        )

    def _op_Renew(self, request: ET.Element, path: str) -> str:
        seconds = parse_duration(request.findtext("wsnt:TerminationTime", "", NS) or "", 60.0)
        with self._cond:
            subscription = self._subscription(path)
            subscription.expires = time.monotonic() + max(1.0, seconds)
            termination = self._termination(subscription)
        return (
            f"<wsnt:RenewResponse><wsnt:TerminationTime>{termination}</wsnt:TerminationTime>"
            f"<wsnt:CurrentTime>{_iso(datetime.now(UTC))}</wsnt:CurrentTime></wsnt:RenewResponse>"
        )

    def _op_Unsubscribe(self, _request: ET.Element, path: str) -> str:
        with self._cond:
            subscription = self._subscription(path)
            del self._subscriptions[subscription.id]
        return "<wsnt:UnsubscribeResponse/>"

    def _op_SetSynchronizationPoint(self, _request: ET.Element, path: str) -> str:
        with self._cond:
            self._subscription(path).queue.extend(self._initialized())
            self._cond.notify_all()
        return "<tev:SetSynchronizationPointResponse/>"


class OnvifServer:
    """Serves an `OnvifDevice` over HTTP on 127.0.0.1 (a thread), plus ``/snapshot.jpg``.

    It may be stopped and started again on the same port (the camera's web server going
    down and coming back): the device and its alarm states stay, its subscriptions go.
    """

    def __init__(self, device_factory: object, *, port: int, snapshot: bytes) -> None:
        self.port = port
        self.snapshot = snapshot
        self.device: OnvifDevice = device_factory(f"http://127.0.0.1:{port}")  # type: ignore[operator]
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                log.debug("onvif-device: " + format, *args)

            def _digest_refused(self, method: str) -> bool:
                """Answered 401 with a Digest challenge (True) when Digest is demanded and
                the request does not carry a valid answer to one."""
                guard = server.device.digest
                if guard is None or guard.allows(
                    self.headers.get("Authorization"), method, self.path
                ):
                    return False
                self._reply(
                    401,
                    b"<html><body>401 Unauthorized</body></html>",
                    "text/html",
                    {"WWW-Authenticate": guard.challenge()},
                )
                return True

            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/snapshot.jpg":
                    self.send_error(404)
                    return
                if not self._digest_refused("GET"):
                    self._reply(200, server.snapshot, "image/jpeg")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0") or 0)
                if length > 1024 * 1024:
                    self.send_error(413)
                    return
                request = self.rfile.read(length)
                if self._digest_refused("POST"):
                    return
                status, body = server.device.handle(self.path, request)
                self._reply(status, body, "application/soap+xml; charset=utf-8")

            def _reply(
                self,
                status: int,
                body: bytes,
                content_type: str,
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    log.debug("onvif-device: the client left before the answer (long poll)")

        self._handler = Handler
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="testcam.onvif"
        )
        self._thread.start()

    def stop(self) -> None:
        """The web server goes down, and the event subscriptions it held with it."""
        if self._thread is None or self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)
        self._thread = None
        self._httpd = None
        self.device.drop_subscriptions()
