"""The centre's one case-number scheme, whatever the channel.

A case number is ``<issuer><yymmdd><serial>``, all digits: 2 digits naming who gave it
(``00`` the core itself, by default; each telephony gateway its own, e.g. ``01``), the
local date it was given, and that issuer's serial of the day from 1, at least 5 digits
(``0026120400001`` is the core's first case of 4 Dec 2026; ``0126120400007`` the 7th call
of that day on the hotline gateway ``01``). Date first and serial per day is how a 数字城管
centre reads its register; all digits, so a caller can type it back on the phone.

- The core numbers a case when it creates it from a candidate; a candidate that lands on an
  existing case (a camera's re-detection of the same object) takes no number, so one day's
  serials have no gaps from re-detections. A hotline call keeps the number the IVR read to
  the caller (given on the edge while the core may be away).
- Numbers given before this scheme (the core's ``C00000001``) stay as they were: numbers are
  never rewritten, and the new ones cannot collide with them.
"""

from __future__ import annotations

import re
from datetime import datetime

SERIAL_DIGITS = 5
#: issuer digits the core uses unless configured (telephony gateways take others)
CORE_ISSUER = "00"

_NUMBER = re.compile(r"^(\d{2})(\d{2})(\d{2})(\d{2})(\d{5,})$")


def format_case_number(issuer: str, day: datetime, serial: int) -> str:
    """``format_case_number("01", 2026-11-28, 42)`` -> ``"0126112800042"``."""
    if not (len(issuer) == 2 and issuer.isdigit()):
        raise ValueError(f"case number prefix must be 2 digits, got {issuer!r}")
    if serial < 1:
        raise ValueError("serials start at 1")
    return f"{issuer}{day:%y%m%d}{serial:0{SERIAL_DIGITS}d}"


def serial_counter(issuer: str, day: datetime) -> str:
    """The name of the durable counter of ``issuer``'s serials on ``day`` (local date)."""
    return f"case_number:{issuer}:{day:%Y-%m-%d}"


def is_centre_number(number: str) -> bool:
    """Whether ``number`` follows the scheme (older ``C…`` numbers do not)."""
    return _NUMBER.fullmatch(number) is not None
