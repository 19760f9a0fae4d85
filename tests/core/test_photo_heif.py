"""HEIC and AVIF photos (an iPhone's own format) are taken, through Debian's libheif tools.

The files are real: made here by libheif's own encoder (``heif-enc``, x265 for HEIC and
AOM for AVIF) from a JPEG whose EXIF carries a GPS position.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gateway.core.api_base import ApiError
from gateway.core.intake import case_id_for
from gateway.core.photos import MAX_PHOTO_PIXELS, check_photo, is_heif
from tests.conftest import REPO_ROOT
from tests.core.api_harness import make_api

#: 连云港, 34°35'N 119°10'E
GPS = {1: "N", 2: (34.0, 35.0, 0.0), 3: "E", 4: (119.0, 10.0, 0.0)}


def _encoder() -> str:
    found = shutil.which("heif-enc")
    if found is None:
        pytest.fail("heif-enc is missing: apt-get install libheif-examples (scripts/setup.sh does)")
    return found


def _photo_jpeg(path: Path, *, orientation: int = 1) -> None:
    """640×480: grey, a red square at (100..300, 100..300); EXIF with GPS (and orientation)."""
    pixels = np.full((480, 640, 3), 90, np.uint8)
    pixels[100:300, 100:300] = (220, 30, 30)
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x8825] = GPS
    Image.fromarray(pixels).save(path, "JPEG", quality=95, exif=exif.tobytes())


def heif(tmp_path: Path, *, avif: bool = False, orientation: int = 1) -> bytes:
    source, target = tmp_path / "in.jpg", tmp_path / ("out.avif" if avif else "out.heic")
    _photo_jpeg(source, orientation=orientation)
    subprocess.run(
        [_encoder(), *(["-A"] if avif else []), "-q", "90", "-o", str(target), str(source)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return target.read_bytes()


def _rgb(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(int)


@pytest.mark.parametrize("avif", [False, True], ids=["heic", "avif"])
def test_a_heic_or_avif_is_stored_as_a_jpeg_with_its_position_as_a_fact(
    tmp_path: Path, avif: bool
) -> None:
    data = heif(tmp_path, avif=avif)
    assert is_heif(data)
    checked = check_photo(data)
    assert (checked.width, checked.height) == (640, 480)
    assert checked.position == pytest.approx({"lat": 34 + 35 / 60, "lon": 119 + 10 / 60})
    stored = Image.open(io.BytesIO(checked.jpeg))
    assert stored.format == "JPEG" and len(stored.getexif()) == 0  # no EXIF, no GPS kept
    picture = _rgb(checked.jpeg)
    assert np.abs(picture[200, 200] - (220, 30, 30)).max() < 25  # the red square
    assert np.abs(picture[400, 500] - (90, 90, 90)).max() < 25  # the grey around it


def test_the_exif_orientation_of_a_heif_is_not_applied_again(tmp_path: Path) -> None:
    """HEIF's own rotation (applied by libheif) is the one a reader follows, not EXIF's:
    a file saying "turn 90°" only in its EXIF stays as its pixels are."""
    checked = check_photo(heif(tmp_path, orientation=6))
    assert (checked.width, checked.height) == (640, 480)
    assert np.abs(_rgb(checked.jpeg)[200, 200] - (220, 30, 30)).max() < 25


def test_a_heic_too_large_is_refused_from_its_header_before_decoding(tmp_path: Path) -> None:
    data = bytearray(heif(tmp_path))
    at = data.index(b"ispe")  # the image's spatial extents: version/flags, width, height
    side = 9000  # 81 million pixels, over MAX_PHOTO_PIXELS
    assert side * side > MAX_PHOTO_PIXELS
    data[at + 8 : at + 16] = side.to_bytes(4, "big") * 2
    with pytest.raises(ApiError) as refused:
        check_photo(bytes(data))
    assert refused.value.code == "photo_too_large"


def test_a_report_with_an_iphone_photo_makes_a_case_with_its_jpeg(tmp_path: Path) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    try:
        response = api.client.post(
            "/api/v1/mobile/reports",
            data={"request_id": "phone-heic-0002", "event_code": "0507"},
            files=[("photos", ("IMG_0002.HEIC", heif(tmp_path), "image/heic"))],
            headers=api.headers("inspector"),
        )
        assert response.status_code == 201, response.text
        case = api.service.store.get_case(case_id_for("phone-heic-0002"))
        assert case is not None and case.id == response.json()["id"]
        (stored,) = api.service.store.evidence_of(case.id)
        assert stored.media_type == "image/jpeg" and stored.role == "photo"
        kept = api.service.evidence.read(stored.sha256)
        assert Image.open(io.BytesIO(kept)).format == "JPEG" and b"ftyp" not in kept[:16]
        assert np.abs(_rgb(kept)[200, 200] - (220, 30, 30)).max() < 25
        # the phone's position from the HEIC's EXIF is a fact of the report
        assert case.facts["photo_positions"] == [
            {"photo": 1, "lat": pytest.approx(34 + 35 / 60), "lon": pytest.approx(119 + 10 / 60)}
        ]
        assert b"Exif" not in kept
    finally:
        api.close()


def test_without_the_tools_a_heic_is_refused_as_the_cores_fault(tmp_path: Path) -> None:
    """A core host without libheif-examples: 503 photo_check_unavailable, not bad_photo."""
    photo = tmp_path / "IMG_0003.HEIC"
    photo.write_bytes(heif(tmp_path))
    script = (
        "import sys\n"
        "from gateway.core.api_base import ApiError\n"
        "from gateway.core.photos import check_photo\n"
        "try:\n"
        "    check_photo(open(sys.argv[1], 'rb').read())\n"
        "except ApiError as exc:\n"
        "    print(exc.status, exc.code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(photo)],
        cwd=REPO_ROOT,
        env={**os.environ, "PATH": str(tmp_path)},  # no heif-info, no heif-convert
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split() == ["503", "photo_check_unavailable"], done.stderr
