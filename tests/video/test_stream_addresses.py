"""The last good stream address of a camera stands in while its ONVIF service is down."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gateway.video.ports import StreamError, StreamErrorKind
from gateway.video.stream_addresses import StreamAddressBook, with_last_good


class Onvif:
    def __init__(self) -> None:
        self.url = "rtsp://10.0.0.7:554/Streaming/102"
        self.down = False

    def __call__(self) -> str:
        if self.down:
            raise StreamError(StreamErrorKind.UNREACHABLE, "ONVIF: connection refused")
        return self.url


def test_a_lookup_that_fails_falls_back_to_the_last_address_and_a_working_one_refreshes_it(
    tmp_path: Path,
) -> None:
    book = StreamAddressBook(tmp_path / "stream-addresses.json")
    onvif = Onvif()
    resolve = with_last_good("gate-1", onvif, book)
    onvif.down = True
    with pytest.raises(StreamError):  # never seen: nothing to fall back to
        resolve()
    onvif.down = False
    assert resolve() == "rtsp://10.0.0.7:554/Streaming/102"
    onvif.down = True
    assert resolve() == "rtsp://10.0.0.7:554/Streaming/102"
    onvif.down, onvif.url = False, "rtsp://10.0.0.7:554/Streaming/101"  # the device changed
    assert resolve() == "rtsp://10.0.0.7:554/Streaming/101"
    onvif.down = True
    assert resolve() == "rtsp://10.0.0.7:554/Streaming/101"


def test_the_book_survives_a_restart_and_only_its_owner_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "stream-addresses.json"
    StreamAddressBook(path).remember("gate-1", "rtsp://10.0.0.7/a")
    assert StreamAddressBook(path).last("gate-1") == "rtsp://10.0.0.7/a"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("[not a book")
    assert StreamAddressBook(path).last("gate-1") is None  # unreadable: starts empty
