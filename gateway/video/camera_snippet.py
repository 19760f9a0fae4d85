"""``citygw cameras discover --add FILE``: found ONVIF devices as ``video.cameras`` entries.

A site with 200 cameras is not typed by hand: each device that answered becomes an entry
with an id (from its ONVIF name scope, else its address), its name and location scopes,
its device service URL, and its credentials (`gateway.video.camera_credentials`: from a
credentials file, the command line or a prompt): the user name as such, the password only
as a ``${VARIABLE}`` the daemon reads from its environment (never written to the file; a
password given as such gets a variable of its own camera, returned for the command to
keep elsewhere). Devices already in the file (same URL) are left as they are, so the
command can be run again after new cameras are installed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from gateway.video.camera_credentials import Credential, password_env_for

# (device service URL, its decoded scopes, its raw scopes, the new camera id) -> credential
CredentialSource = Callable[[str, dict[str, str], list[str], str], Credential | None]
_SCOPE = re.compile(r"^onvif://www\.onvif\.org/(name|location|hardware)/(.+)$")
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_\-]+")


def scopes_of(scopes: Iterable[str]) -> dict[str, str]:
    """The name, location and hardware an ONVIF device says of itself (URL-decoded)."""
    found: dict[str, str] = {}
    for scope in scopes:
        match = _SCOPE.match(scope)
        if match and match.group(1) not in found:
            found[match.group(1)] = unquote(match.group(2)).replace("_", " ")
    return found


def camera_id_for(name: str | None, xaddr: str, taken: set[str]) -> str:
    """An id that matches the configuration's pattern and is not yet ``taken``."""
    base = _NOT_IN_ID.sub("-", name or "").strip("-_").lower()[:48]
    if not base or not base[0].isalnum():
        host = urlsplit(xaddr).hostname or "camera"
        base = "cam-" + _NOT_IN_ID.sub("-", host).strip("-")
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


def merge_cameras(
    existing: dict[str, Any] | None,
    devices: Iterable[tuple[list[str], list[str]]],
    credential_for: CredentialSource = lambda _u, _s, _r, _i: None,
) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """``existing`` snippet (or None) plus one entry per new device (its xaddrs, scopes),
    each with the credential ``credential_for`` gives it; returns the snippet, the ids
    added and the passwords given as such (environment variable -> password)."""
    document = dict(existing or {})
    video = dict(document.get("video") or {})
    cameras = list(video.get("cameras") or [])
    known_urls = {(c.get("onvif") or {}).get("url") for c in cameras if isinstance(c, dict)}
    taken = {c.get("id") for c in cameras if isinstance(c, dict) and c.get("id")}
    added: list[str] = []
    secrets: dict[str, str] = {}
    for xaddrs, scopes in devices:
        url = next((x for x in xaddrs if x.startswith(("http://", "https://"))), None)
        if url is None or url in known_urls:
            continue
        said = scopes_of(scopes)
        camera_id = camera_id_for(said.get("name"), url, taken)  # type: ignore[arg-type]
        entry: dict[str, Any] = {"id": camera_id}
        if said.get("name"):
            entry["name"] = said["name"]
        if said.get("location"):
            entry["address"] = said["location"]
        entry["onvif"] = {"url": url}
        credential = credential_for(url, said, list(scopes), camera_id)
        if credential is not None:
            entry["username"] = credential.username
            env = credential.password_env
            if credential.password is not None:
                env = password_env_for(camera_id)
                secrets[env] = credential.password
            if env:
                entry["password"] = "${" + env + "}"
        cameras.append(entry)
        known_urls.add(url)
        added.append(camera_id)
    video["cameras"] = cameras
    document["video"] = video
    return document, added, secrets


def dump(document: dict[str, Any]) -> str:
    header = (
        "# video.cameras found by `citygw cameras discover --add`; merge into the\n"
        "# configuration (or pass it to `citygw config check`), set grid_code per camera.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
