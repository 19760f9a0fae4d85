"""The test camera's fixtures (tests/video) for the video gateway's metrics test."""

from tests.video.conftest import make_camera, test_camera

__all__ = ["make_camera", "test_camera"]
