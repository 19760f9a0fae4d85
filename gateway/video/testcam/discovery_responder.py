"""The test camera's WS-Discovery side: answers a Probe with a ProbeMatch.

It always listens on a loopback port of its own for unicast ("directed") probes. With
``multicast_interface`` it also does what a real camera does: joins 239.255.255.250 and
listens on UDP 3702 on that interface (the loopback address works on Linux), answering
multicast probes by unicast to the prober, as WS-Discovery 2005/04 defines.
`multicast_problem` says whether this host lets a process do that (and if not, why).
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

log = logging.getLogger(__name__)

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
PROBE = f"{NS_WSD}/Probe"
PROBE_MATCHES = f"{NS_WSD}/ProbeMatches"


def probe_match(relates_to: str, endpoint: str, xaddr: str, scopes: list[str]) -> bytes:
    """Pure: the ProbeMatches envelope answering the probe ``relates_to``."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{NS_SOAP}" '
        f'xmlns:a="{NS_WSA}" xmlns:d="{NS_WSD}" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>'
        f"<a:Action>{PROBE_MATCHES}</a:Action><a:MessageID>{uuid.uuid4().urn}</a:MessageID>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>"
        f"<a:To>{NS_WSA}/role/anonymous</a:To>"
        '<d:AppSequence InstanceId="1" MessageNumber="1"/></s:Header><s:Body>'
        "<d:ProbeMatches><d:ProbeMatch><a:EndpointReference>"
        f"<a:Address>{escape(endpoint)}</a:Address></a:EndpointReference>"
        "<d:Types>dn:NetworkVideoTransmitter</d:Types>"
        f"<d:Scopes>{escape(' '.join(scopes))}</d:Scopes>"
        f"<d:XAddrs>{escape(xaddr)}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion>"
        "</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"
    ).encode()


def probe_message_id(data: bytes) -> str | None:
    """Pure: the MessageID of a Probe, or None for anything else."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    action = root.findtext(f"{{{NS_SOAP}}}Header/{{{NS_WSA}}}Action", "").strip()
    if action != PROBE:
        return None
    return root.findtext(f"{{{NS_SOAP}}}Header/{{{NS_WSA}}}MessageID", "").strip() or None


MULTICAST_GROUP = ("239.255.255.250", 3702)


def multicast_socket(interface: str) -> socket.socket:
    """A UDP socket on port 3702 that joined the WS-Discovery group on ``interface``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):  # other listeners on 3702 (a real ONVIF tool)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("", MULTICAST_GROUP[1]))
        membership = socket.inet_aton(MULTICAST_GROUP[0]) + socket.inet_aton(interface)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    except OSError:
        sock.close()
        raise
    return sock


def multicast_problem(interface: str, timeout_s: float = 2.0) -> str | None:
    """Why multicast on ``interface`` does not work here (``None``: it does).

    Joins the group on port 3702, sends one datagram to the group out of ``interface``
    with multicast loop on, and waits for it to come back.
    """
    try:
        listener = multicast_socket(interface)
    except OSError as exc:
        return f"cannot join {MULTICAST_GROUP[0]} on {interface} port 3702: {exc}"
    marker = f"citygw-multicast-check-{uuid.uuid4()}".encode()
    with listener, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        try:
            sender.bind((interface, 0))
            sender.setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface)
            )
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            sender.sendto(marker, MULTICAST_GROUP)
        except OSError as exc:
            return f"cannot send to {MULTICAST_GROUP[0]} out of {interface}: {exc}"
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([listener], [], [], left)
            if not ready:
                break
            if listener.recvfrom(65536)[0] == marker:
                return None
    return (
        f"a datagram sent to {MULTICAST_GROUP[0]}:3702 out of {interface} with multicast "
        f"loop on did not come back within {timeout_s:g}s"
    )


class DiscoveryResponder:
    def __init__(
        self,
        xaddr: str,
        *,
        scopes: list[str] | None = None,
        multicast_interface: str | None = None,
    ) -> None:
        self.xaddr = xaddr
        self.endpoint = uuid.uuid4().urn
        self.scopes = scopes or [
            "onvif://www.onvif.org/type/video_encoder",
            "onvif://www.onvif.org/name/citygw-testcam",
            "onvif://www.onvif.org/hardware/TestCam-1",
        ]
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._multicast = (
            multicast_socket(multicast_interface) if multicast_interface is not None else None
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.probes = 0
        self.multicast_probes = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="testcam.wsd", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        sockets = [s for s in (self._sock, self._multicast) if s is not None]
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select(sockets, [], [], 0.2)
                for sock in ready:
                    data, addr = sock.recvfrom(65536)
                    message_id = probe_message_id(data)
                    if message_id is None:
                        continue
                    self.probes += 1
                    if sock is self._multicast:
                        self.multicast_probes += 1
                    reply = probe_match(message_id, self.endpoint, self.xaddr, self.scopes)
                    sock.sendto(reply, addr)  # unicast, to the prober
            except OSError:
                if self._stop.is_set():
                    return
                log.exception("ws-discovery responder: socket error")
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._sock.close()
        if self._multicast is not None:
            self._multicast.close()
