"""Is a camera's stream server there? A TCP connect to the RTSP URL's host and port.

Cheap enough to ask every second while a camera is down (no RTSP, no decoder, no
credentials sent), so the reader can reconnect as soon as a server that was gone answers
again instead of sleeping out its backoff.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


def tcp_reachable(url: str, timeout_s: float = 0.5) -> bool:
    """Whether the URL's host accepts a TCP connection on its port within ``timeout_s``."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return False
    if parts.hostname is None or port is None:
        return False  # a file or a URL without a server: nothing to probe
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        return False
