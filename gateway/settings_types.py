"""Field types shared by the settings modules of several daemons."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, SecretStr

from gateway.live_tokens import MIN_SECRET_BYTES


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
"""An IANA time zone name (e.g. ``Asia/Shanghai``) this machine's zone database knows."""


def _empty_is_unset(value: object) -> object:
    # ${CITYGW_LIVE_VIEW_SECRET:-} expands to "" when the variable is not set
    return None if value == "" else value


def _long_enough(value: SecretStr | None) -> SecretStr | None:
    if value is not None and len(value.get_secret_value().encode("utf-8")) < MIN_SECRET_BYTES:
        raise ValueError(f"the live-view secret must be at least {MIN_SECRET_BYTES} characters")
    return value


LiveViewSecret = Annotated[
    SecretStr | None, BeforeValidator(_empty_is_unset), AfterValidator(_long_enough)
]
"""The secret the core signs live-view grants with and the video gateways check them with
(`gateway.live_tokens`): at least 32 bytes; empty means not configured."""
