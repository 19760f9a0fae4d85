"""WS-Discovery with no address configured: a probe out of every interface that can
multicast, loopback included. Tests probe only this machine's own loopback addresses."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from adapters.onvif.discovery import discover_devices
from gateway.video.testcam.discovery_responder import multicast_problem
from gateway.video.testcam.harness import TestCamera


def test_every_interface_that_can_multicast_is_found_loopback_included() -> None:
    from adapters.onvif.discovery import multicast_interfaces

    assert ("lo", "127.0.0.1") in multicast_interfaces()


def test_a_probe_out_of_several_interfaces_reads_the_answers_of_all(
    make_camera: Callable[..., TestCamera],
) -> None:
    problem = multicast_problem("127.0.0.1")
    if problem is not None:
        pytest.skip(f"multicast on loopback is not possible here: {problem}")
    camera = make_camera(multicast_interface="127.0.0.1")
    # only this machine's own addresses are probed in tests: loopback, twice over two sockets
    devices = discover_devices(timeout_s=2, addresses=["127.0.0.1", "127.0.0.2"])
    ours = [d for d in devices if d.xaddrs == [camera.onvif_url]]
    assert len(ours) == 1  # answered on both sockets, listed once
