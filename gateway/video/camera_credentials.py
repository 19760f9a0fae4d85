"""Per-device credentials for ``citygw cameras discover --add --credentials FILE``.

A site's cameras seldom share one password. The credentials file says, for each device,
the user and where its password comes from. YAML, a list of entries, the first entry that
matches a device wins::

    - match: 10.0.0.5                 # the device's address: host, host:port or its
      username: admin                 #   device service URL
      password_env: CITYGW_CAM_GATE3  # the daemon reads the password from this variable
    - match: Gate 3 North             # or its ONVIF name (as `discover` lists the name
      username: admin                 #   scope, decoded), or the whole scope
      password: s3cret                # or the password itself (see below)
    - match: "*"                      # every other device
      username: viewer
      password_env: CITYGW_CAMERA_PASSWORD

or CSV with the header ``match,username,password_env,password`` (one of the last two
filled in per row). A password given as such is never written into the snippet: the
entry reads ``${CITYGW_CAMERA_PASSWORD_<ID>}`` and the password goes to an environment
file beside the snippet, readable by its owner only (`env_file_lines`).

Pure functions: reading the file, prompting and writing stay with the command.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELDS = ("match", "username", "password_env", "password")


@dataclass(frozen=True)
class Credential:
    """A device's user and its password: by environment variable, or as such."""

    username: str
    password_env: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never show a password in a traceback or a log
        hidden = None if self.password is None else "***"
        return f"Credential({self.username!r}, {self.password_env!r}, {hidden})"


class CredentialsError(ValueError):
    """A credentials file that cannot be used: ``kind`` names the fault (a key of the CLI
    text table), ``entry`` the 1-based entry or CSV row, ``detail`` a field or line."""

    def __init__(self, kind: str, entry: int = 0, detail: str = "") -> None:
        super().__init__(f"{kind} (entry {entry}) {detail}".strip())
        self.kind = kind
        self.entry = entry
        self.detail = detail


@dataclass(frozen=True)
class CredentialBook:
    """The entries of one credentials file, in order."""

    entries: tuple[tuple[str, Credential], ...]

    def for_device(
        self, url: str, scopes: dict[str, str], raw_scopes: list[str]
    ) -> Credential | None:
        """The first entry matching the device at ``url`` with these scopes, if any."""
        parts = urlsplit(url)
        keys = {url, parts.netloc, parts.hostname or "", *raw_scopes}
        if scopes.get("name"):
            keys.add(scopes["name"])
        folded = {k.casefold() for k in keys if k}
        for match, credential in self.entries:
            if match == "*" or match.casefold() in folded:
                return credential
        return None


def parse_credentials(text: str, *, csv_format: bool) -> CredentialBook:
    """Entries from a credentials file's text (YAML, or CSV with a header row)."""
    rows: list[Any]
    if csv_format:
        reader = csv.DictReader(io.StringIO(text))
        missing = [f for f in ("match", "username") if f not in (reader.fieldnames or [])]
        if missing:
            raise CredentialsError("credentials_csv_header", 0, ",".join(_FIELDS))
        rows = [{k: v for k, v in row.items() if v not in (None, "")} for row in reader]
    else:
        try:
            rows = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = str(mark.line + 1) if mark is not None else "?"
            raise CredentialsError("credentials_yaml", 0, line) from exc
        if not isinstance(rows, list):
            raise CredentialsError("credentials_not_list")
    return CredentialBook(tuple(_entry(n, row) for n, row in enumerate(rows, start=1)))


def _entry(n: int, row: Any) -> tuple[str, Credential]:
    if not isinstance(row, dict):
        raise CredentialsError("credentials_entry_not_mapping", n)
    unknown = sorted(str(k) for k in row if k not in _FIELDS)
    if unknown:
        raise CredentialsError("credentials_unknown_field", n, ", ".join(unknown))
    values = {k: str(v).strip() if k != "password" else str(v) for k, v in row.items()}
    for field in ("match", "username"):
        if not values.get(field):
            raise CredentialsError("credentials_missing_field", n, field)
    env, password = values.get("password_env"), values.get("password")
    if (env is None) == (password is None):
        raise CredentialsError("credentials_one_password", n)
    if env is not None and not _ENV_NAME.match(env):
        raise CredentialsError("credentials_bad_env", n, env)
    if password is not None and ("\n" in password or "\r" in password):
        raise CredentialsError("credentials_bad_password", n)
    return values["match"], Credential(values["username"], env, password)


def password_env_for(camera_id: str) -> str:
    """The environment variable of a camera whose password was given as such."""
    return "CITYGW_CAMERA_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", camera_id.upper())


def env_file_lines(existing: str, secrets: dict[str, str]) -> str:
    """An environment file (systemd ``EnvironmentFile=``, shell ``set -a; .``) with
    ``secrets`` set: their earlier lines replaced, every other line kept."""
    kept = [line for line in existing.splitlines() if line.partition("=")[0].strip() not in secrets]
    for name, value in secrets.items():
        quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
        quoted = quoted.replace("`", "\\`")
        kept.append(f'{name}="{quoted}"')
    return "\n".join(kept) + "\n"
