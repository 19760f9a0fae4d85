"""Media2 (Profile T) offered, Media1 used (issue 16 §4): onvif-zeep-async ships no Media2
WSDL, so a device that lists Media2 streams through its Media1 service; both kinds of
device are probed and resolved against the test device's real SOAP."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import onvif
import pytest
from click.testing import CliRunner

from adapters.onvif.device import (
    MEDIA2_FALLBACK,
    choose_analysis_profile,
    probe_device,
    resolve_stream_uri,
)
from gateway.cli import cli
from gateway.video.testcam.harness import TestCamera, free_port
from gateway.video.testcam.onvif_device import OnvifDevice, OnvifServer, StreamProfile


def test_the_bundled_wsdls_have_no_media2_which_is_why_media1_serves() -> None:
    wsdl = Path(onvif.__file__).with_name("wsdl")
    assert (wsdl / "media.wsdl").is_file()
    # if a release adds it, Media2 can be used for real: this test says to do so
    assert not list(wsdl.glob("media2*.wsdl")) and not (wsdl / "ver20").exists()


@pytest.mark.parametrize("media2", [True, False])
def test_a_device_with_or_without_media2_streams_from_media1(
    make_camera: Callable[..., TestCamera], media2: bool, caplog: pytest.LogCaptureFixture
) -> None:
    camera = make_camera(media2=media2)
    probed = probe_device(camera.onvif_url, None, None, timeout_s=5)
    assert probed.media2 is media2
    assert ("http://www.onvif.org/ver20/media/wsdl" in probed.services) is media2
    assert {p.token: p.stream_uri for p in probed.profiles} == {
        "main": camera.rtsp_url,
        "sub": camera.sub_rtsp_url,
    }
    with caplog.at_level(logging.INFO, logger="adapters.onvif.device"):
        profile, uri = resolve_stream_uri(
            camera.onvif_url, None, None, profile=None, analysis_width=400, timeout_s=5
        )
    assert (profile.token, uri) == ("sub", camera.sub_rtsp_url)
    assert (MEDIA2_FALLBACK in caplog.text) is media2
    # the device's Media1 answered; its Media2 was never asked
    assert "GetStreamUri" in camera.device.requests
    output = CliRunner().invoke(cli, ["cameras", "probe", camera.onvif_url, "--timeout", "5"])
    assert output.exit_code == 0, output.output
    assert (f"media    {MEDIA2_FALLBACK}" in output.output) is media2


@pytest.fixture
def h265_device() -> Iterator[OnvifServer]:
    def factory(base_url: str) -> OnvifDevice:
        return OnvifDevice(
            base_url=base_url,
            profiles=[
                StreamProfile(
                    "main", "main", "rtsp://127.0.0.1:9/main", 2560, 1440, 25, 4096, "H265"
                ),
                StreamProfile("sub", "sub", "rtsp://127.0.0.1:9/sub", 704, 576, 10, 512, "H265"),
                StreamProfile(
                    "mjpeg", "mjpeg", "rtsp://127.0.0.1:9/mjpeg", 640, 360, 5, 512, "JPEG"
                ),
            ],
            snapshot_url=f"{base_url}/snapshot.jpg",
            media2=True,
        )

    server = OnvifServer(factory, port=free_port(), snapshot=b"")
    server.start()
    yield server
    server.stop()


def test_h265_profiles_a_media1_lists_are_analysed_before_other_codecs(
    h265_device: OnvifServer,
) -> None:
    url = f"http://127.0.0.1:{h265_device.port}/onvif/device_service"
    probed = probe_device(url, None, None, timeout_s=5)
    assert [(p.token, p.encoding) for p in probed.profiles] == [
        ("main", "H265"),
        ("sub", "H265"),
        ("mjpeg", "JPEG"),
    ]
    # the JPEG profile is nearer 640 wide, but only H.264/H.265 are analysed
    chosen = choose_analysis_profile(probed.profiles, 640)
    assert chosen is not None and chosen.token == "sub"
    profile, uri = resolve_stream_uri(
        url, None, None, profile=None, analysis_width=640, timeout_s=5
    )
    assert (profile.token, profile.encoding, uri) == ("sub", "H265", "rtsp://127.0.0.1:9/sub")
