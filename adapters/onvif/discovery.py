"""WS-Discovery of ONVIF devices: WSDiscovery's message layer over a socket we bound.

The probe is built and the ProbeMatches parsed with the `wsdiscovery` package; the UDP
I/O is ours, so it is bounded (``timeout_s``), leaves no threads behind, and reads the
replies that come back to the probing socket (the package's threaded client does not
read replies to a directed probe). A multicast probe goes to 239.255.255.250:3702 out of
the configured local address, or, with none configured, out of every IPv4 interface that
is up and can multicast, loopback included (one socket each, all read together); a
directed probe asks one device by unicast.
"""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import select
import socket
import struct
import time
from dataclasses import dataclass

from wsdiscovery import QName
from wsdiscovery.actions.probe import constructProbe
from wsdiscovery.message import createSOAPMessage, parseSOAPMessage
from wsdiscovery.namespaces import NS_ACTION_PROBE_MATCH

log = logging.getLogger(__name__)

MULTICAST_GROUP = ("239.255.255.250", 3702)
ONVIF_TYPE = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")


_SIOCGIFFLAGS, _SIOCGIFADDR = 0x8913, 0x8915  # Linux ioctls: an interface's flags, address
_IFF_UP, _IFF_LOOPBACK, _IFF_MULTICAST = 0x1, 0x8, 0x1000


class DiscoveryError(Exception):
    pass


def multicast_interfaces() -> list[tuple[str, str]]:
    """(name, IPv4 address) of each interface that is up and can send multicast, loopback
    included (its first IPv4 address; Linux)."""
    found: list[tuple[str, str]] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _index, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                flags = struct.unpack(
                    "H", fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request)[16:18]
                )[0]
                address = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, request)[20:24])
            except OSError:
                continue  # no IPv4 address on it
            if flags & _IFF_UP and flags & (_IFF_MULTICAST | _IFF_LOOPBACK):
                found.append((name, address))
    return found


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
    addresses: list[str] | None = None,
    target_host: str | None = None,
    target_port: int | None = None,
) -> list[DiscoveredDevice]:
    """ONVIF devices that answered within ``timeout_s`` (deduplicated by endpoint).

    A multicast probe goes out of ``address``, or of each of ``addresses``, or (neither
    given) of every interface `multicast_interfaces` finds.
    """
    if target_host is None and address is None:
        local = addresses if addresses is not None else [a for _, a in multicast_interfaces()]
        if not local:
            raise DiscoveryError("no IPv4 interface that is up can send multicast")
        return _discover_from_all(local, timeout_s)
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


def _discover_from_all(addresses: list[str], timeout_s: float) -> list[DiscoveredDevice]:
    """One multicast probe out of each local address, all answers read together."""
    message_id, probe = probe_message()
    sockets: list[socket.socket] = []
    problems: list[str] = []
    try:
        for address in addresses:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
            try:
                sock.bind((address, 0))
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
                sock.setsockopt(
                    socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address)
                )
                sock.sendto(probe, MULTICAST_GROUP)
            except OSError as exc:
                problems.append(f"{address}: {exc.strerror or exc}")
                sock.close()
                continue
            sockets.append(sock)
        if not sockets:
            raise DiscoveryError(
                f"cannot send the probe from any interface ({'; '.join(problems)})"
            )
        for problem in problems:
            log.warning("WS-Discovery: no probe out of %s", problem)
        found: dict[str, DiscoveredDevice] = {}
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(sockets, [], [], left)
            if not ready:
                break
            for sock in ready:
                data, sender = sock.recvfrom(65536)
                for device in parse_probe_matches(data, f"{sender[0]}:{sender[1]}", message_id):
                    found.setdefault(device.endpoint, device)
        return sorted(found.values(), key=lambda d: d.endpoint)
    finally:
        for sock in sockets:
            sock.close()
