"""The test camera's WS-Discovery side: answers a (directed) Probe with a ProbeMatch.

A real camera listens on UDP 3702 for multicast probes; tests must not multicast, so
this responder listens on a loopback port and answers unicast ("directed") probes, the
same SOAP-over-UDP exchange WS-Discovery 2005/04 defines.
"""

from __future__ import annotations

import logging
import socket
import threading
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


class DiscoveryResponder:
    def __init__(self, xaddr: str, *, scopes: list[str] | None = None) -> None:
        self.xaddr = xaddr
        self.endpoint = uuid.uuid4().urn
        self.scopes = scopes or [
            "onvif://www.onvif.org/type/video_encoder",
            "onvif://www.onvif.org/name/citygw-testcam",
            "onvif://www.onvif.org/hardware/TestCam-1",
        ]
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.probes = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="testcam.wsd", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self._sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            message_id = probe_message_id(data)
            if message_id is None:
                continue
            self.probes += 1
            self._sock.sendto(probe_match(message_id, self.endpoint, self.xaddr, self.scopes), addr)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._sock.close()
