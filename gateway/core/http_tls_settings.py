"""HTTPS served by the core itself (`core.http_tls`).

A phone's browser gives the inspectors' app its service worker (offline mode) and its
microphone (voice notes) only in a secure context: HTTPS, or a page on the phone's own
loopback. Behind a TLS reverse proxy the core stays plain HTTP; a small site without one
(and the demo) sets this section and the core serves HTTPS on ``http_port``.

Both files are read when the configuration is checked (`citygw config check` and every
daemon's start), so a wrong path or a key that does not match its certificate is refused
with the key's path and line instead of the core dying at start. Set the section only in
the core host's file: the other daemons read it too.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

#: one year; browsers keep the promise per host name (never for an IP address)
DEFAULT_HSTS_MAX_AGE_S = 365 * 24 * 3600


def _readable(path: Path) -> Path:
    """``path`` if it is a file this process can read; else a `PydanticCustomError` whose
    type (``file_missing``, ``file_unreadable``) the command line says in Chinese."""
    if not path.exists():
        raise PydanticCustomError("file_missing", "file {file} does not exist", {"file": str(path)})
    if path.is_dir():
        raise PydanticCustomError(
            "file_unreadable",
            "cannot read {file}: {reason}",
            {"file": str(path), "reason": "is a directory"},
        )
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise PydanticCustomError(
            "file_unreadable",
            "cannot read {file}: {reason}",
            {"file": str(path), "reason": exc.strerror or type(exc).__name__},
        ) from exc
    return path


class HttpTlsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cert_file: Path = Field(
        description="PEM certificate (chain) of the host names and addresses the console is "
        "reached by (its subjectAltName); relative paths from the working directory",
    )
    key_file: Path = Field(description="PEM private key of cert_file, not encrypted")
    hsts_max_age_s: int = Field(
        default=DEFAULT_HSTS_MAX_AGE_S,
        ge=0,
        le=2 * 365 * 24 * 3600,
        description="Strict-Transport-Security max-age: browsers that saw it go to this host "
        "name only over HTTPS for that long (any port); 0: no such header",
    )

    @field_validator("cert_file", "key_file")
    @classmethod
    def _file_readable(cls, value: Path) -> Path:
        return _readable(value)

    @model_validator(mode="after")
    def _key_fits_certificate(self) -> HttpTlsConfig:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:  # an empty password: an encrypted key is refused, never prompted for
            context.load_cert_chain(self.cert_file, self.key_file, password="")
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise PydanticCustomError(
                "tls_pair",
                "cert_file and key_file cannot serve TLS together: {reason}",
                {"reason": getattr(exc, "reason", None) or str(exc)},
            ) from exc
        return self
