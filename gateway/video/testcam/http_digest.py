"""HTTP Digest authentication (RFC 7616, MD5, ``qop=auth``) as the test device demands it.

Many real cameras answer an ONVIF request without HTTP credentials with ``401`` and
``WWW-Authenticate: Digest ...`` instead of (or besides) checking a WS-Security
UsernameToken. `DigestGuard` gives the challenge and checks an ``Authorization`` header:
the nonce must be one it issued, the response must match the user's password for this
method and URI. Pure apart from the set of issued nonces (no sockets).
"""

from __future__ import annotations

import hashlib
import secrets
import threading

REALM = "citygw-testcam"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse_authorization(header: str) -> dict[str, str] | None:
    """Pure: the fields of ``Authorization: Digest k="v", k=v, ...`` (None: not Digest)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    fields: dict[str, str] = {}
    key, value, in_quotes, reading_key = "", "", False, True
    for char in rest + ",":
        if reading_key:
            if char == "=":
                reading_key = False
            elif char != "," and not char.isspace():
                key += char
        elif char == '"':
            in_quotes = not in_quotes
        elif char == "," and not in_quotes:
            fields[key.lower()] = value
            key, value, reading_key = "", "", True
        else:
            value += char
    return {k: v.strip() for k, v in fields.items() if k}


def expected_response(
    fields: dict[str, str], *, method: str, username: str, password: str, realm: str
) -> str:
    """Pure: the response a client knowing the password sends (qop=auth, or none)."""
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{fields.get('uri', '')}")
    if fields.get("qop"):
        return _md5(
            f"{ha1}:{fields.get('nonce', '')}:{fields.get('nc', '')}:"
            f"{fields.get('cnonce', '')}:{fields['qop']}:{ha2}"
        )
    return _md5(f"{ha1}:{fields.get('nonce', '')}:{ha2}")


class DigestGuard:
    """The device's Digest check: `challenge` for a 401, `allows` for a request."""

    def __init__(self, username: str, password: str, realm: str = REALM) -> None:
        self.username = username
        self.password = password
        self.realm = realm
        self._nonces: set[str] = set()
        self._lock = threading.Lock()
        self.challenges = 0  # 401s given (tests read it)

    def challenge(self) -> str:
        """A ``WWW-Authenticate`` value with a fresh nonce."""
        nonce = secrets.token_hex(16)
        with self._lock:
            self._nonces.add(nonce)
            self.challenges += 1
        return f'Digest realm="{self.realm}", qop="auth", nonce="{nonce}", algorithm=MD5'

    def allows(self, authorization: str | None, method: str, path: str) -> bool:
        fields = parse_authorization(authorization or "")
        if fields is None:
            return False
        with self._lock:
            known = fields.get("nonce", "") in self._nonces
        if not known or fields.get("username") != self.username:
            return False
        if fields.get("realm") != self.realm or fields.get("uri") != path:
            return False
        if fields.get("algorithm", "MD5").upper() != "MD5":
            return False
        expected = expected_response(
            fields, method=method, username=self.username, password=self.password, realm=self.realm
        )
        return secrets.compare_digest(fields.get("response", ""), expected)
