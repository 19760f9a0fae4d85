"""The centre's one case-number scheme: its form, and the config that keeps issuers apart."""

from __future__ import annotations

from datetime import datetime

import pytest

from gateway.case_numbers import format_case_number, is_centre_number, serial_counter
from gateway.config import ConfigError, parse_config
from gateway.core.settings import CoreConfig


def test_a_number_is_issuer_date_and_serial_of_the_day_all_digits() -> None:
    day = datetime(2026, 12, 4, 23, 59)
    assert format_case_number("00", day, 1) == "0026120400001"
    assert serial_counter("00", day) == "case_number:00:2026-12-04"
    assert is_centre_number("0126120400007") and not is_centre_number("C00000001")


def test_the_core_prefix_is_two_digits_and_old_letter_prefixes_are_refused() -> None:
    assert CoreConfig().case_number_prefix == "00"
    with pytest.raises(ValueError, match="2 digits not used by a telephony gateway"):
        CoreConfig(case_number_prefix="C")


def test_the_core_and_a_telephony_gateway_may_not_share_a_prefix() -> None:
    text = "core:\n  case_number_prefix: '01'\ntelephony:\n  case_number_prefix: '01'\n"
    with pytest.raises(ConfigError, match="would collide"):
        parse_config(text)
    parse_config("core:\n  case_number_prefix: '00'\ntelephony:\n  case_number_prefix: '01'\n")
