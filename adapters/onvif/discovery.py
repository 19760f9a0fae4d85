"""WS-Discovery of ONVIF devices: WSDiscovery's message layer over a socket we bound.

The probe is built and the ProbeMatches parsed with the `wsdiscovery` package; the UDP
I/O is ours, so it is bounded (``timeout_s``), leaves no threads behind, and reads the
replies that come back to the probing socket (the package's threaded client does not
read replies to a directed probe). A multicast probe goes to 239.255.255.250:3702 out of
the configured local address; a directed probe asks one device by unicast.
"""

from __future__ import annotations

import ipaddress
import logging
import select
import socket
import time
from dataclasses import dataclass

from wsdiscovery import QName
from wsdiscovery.actions.probe import constructProbe
from wsdiscovery.message import createSOAPMessage, parseSOAPMessage
from wsdiscovery.namespaces import NS_ACTION_PROBE_MATCH

log = logging.getLogger(__name__)

MULTICAST_GROUP = ("239.255.255.250", 3702)
ONVIF_TYPE = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")


class DiscoveryError(Exception):
    pass


@dataclass(frozen=True)
class DiscoveredDevice:
    endpoint: str
    xaddrs: list[str]
    scopes: list[str]
    types: list[str]
    responder: str  # ip:port the answer came from


def probe_message() -> tuple[str, bytes]:
    """Pure: a Probe for ONVIF video transmitters and its MessageID."""
    envelope = constructProbe([ONVIF_TYPE], [])
    return envelope.getMessageId(), createSOAPMessage(envelope).encode("utf-8")


def parse_probe_matches(data: bytes, sender: str, message_id: str) -> list[DiscoveredDevice]:
    """Pure: the devices in a ProbeMatches answering ``message_id`` (anything else: [])."""
    try:
        envelope = parseSOAPMessage(data, sender.rpartition(":")[0])
    except Exception:  # the package raises bare exceptions on foreign datagrams
        return []
    if envelope is None or envelope.getAction() != NS_ACTION_PROBE_MATCH:
        return []
    if envelope.getRelatesTo() != message_id:
        return []
    return [
        DiscoveredDevice(
            endpoint=str(match.getEPR()),
            xaddrs=[str(x) for x in match.getXAddrs()],
            scopes=[str(getattr(s, "getValue", lambda s=s: s)()) for s in match.getScopes()],
            types=[str(t) for t in match.getTypes()],
            responder=sender,
        )
        for match in envelope.getProbeResolveMatches()
    ]


def discover_devices(
    *,
    timeout_s: float = 3.0,
    address: str | None = None,
    target_host: str | None = None,
    target_port: int | None = None,
) -> list[DiscoveredDevice]:
    """ONVIF devices that answered within ``timeout_s`` (deduplicated by endpoint)."""
    if address is not None:
        try:
            ipaddress.IPv4Address(address)
        except ValueError as exc:
            raise DiscoveryError(f"not an IPv4 address: {address!r}") from exc
    message_id, probe = probe_message()
    found: dict[str, DiscoveredDevice] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as sock:
        try:
            sock.bind((address or ("127.0.0.1" if target_host == "127.0.0.1" else ""), 0))
            if target_host is None:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
                if address is not None:
                    sock.setsockopt(
                        socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address)
                    )
                destination: tuple[str, int] = MULTICAST_GROUP
            else:
                destination = (target_host, target_port or MULTICAST_GROUP[1])
            sock.sendto(probe, destination)
        except OSError as exc:
            raise DiscoveryError(f"cannot send the probe: {exc.strerror or exc}") from exc
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                break
            data, sender = sock.recvfrom(65536)
            for device in parse_probe_matches(data, f"{sender[0]}:{sender[1]}", message_id):
                found.setdefault(device.endpoint, device)
            if target_host is not None and found:
                break  # a directed probe has one answer
    return sorted(found.values(), key=lambda d: d.endpoint)
