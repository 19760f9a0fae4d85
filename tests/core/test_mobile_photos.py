"""Photo checks (`gateway.core.photos`): what the phone sends keeps its JPEG frame without
EXIF or anything appended, its GPS position comes back as a fact, anything else is
decoded, turned upright, shrunk and re-encoded, and a picture too large is refused from
its header before a pixel is decoded."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from gateway.core import photos
from gateway.core.api_base import ApiError
from gateway.core.intake import case_id_for
from gateway.core.photos import MAX_PHOTO_EDGE, MAX_PHOTO_PIXELS, check_photo, strip_jpeg
from tests.core.api_harness import make_api

# 34°36'00" N, 119°13'12" E (Lianyungang)
GPS = {1: "N", 2: (34.0, 36.0, 0.0), 3: "E", 4: (119.0, 13.0, 12.0)}


def scene(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    image = rng.integers(40, 220, (height, width, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (0, 0), 2)
    cv2.rectangle(image, (width // 4, height // 4), (width // 2, height // 2), (30, 90, 200), -1)
    return image


def pil_jpeg(
    image: np.ndarray, *, gps: dict[int, object] | None = None, orientation: int = 1, q: int = 85
) -> bytes:
    exif = Image.Exif()
    if gps is not None:
        exif[0x8825] = gps
    if orientation != 1:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(image[:, :, ::-1]).save(buffer, "JPEG", quality=q, exif=exif.tobytes())
    return buffer.getvalue()


def decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_a_phone_jpeg_keeps_its_frame_without_exif_or_what_was_appended() -> None:
    original = pil_jpeg(scene(1600, 1067), gps=GPS) + b"PAYLOAD-AFTER-THE-PICTURE"
    assert b"Exif" in original
    checked = check_photo(original)
    assert checked.kept_frame and (checked.width, checked.height) == (1600, 1067)
    assert b"Exif" not in checked.jpeg and b"PAYLOAD" not in checked.jpeg
    assert checked.jpeg.startswith(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    assert checked.jpeg.endswith(b"\xff\xd9")
    # the same pixels: no generation loss
    assert np.array_equal(decoded(checked.jpeg), decoded(original))
    assert checked.position == {"lat": 34.6, "lon": pytest.approx(119.22, abs=1e-7)}


def test_a_southern_western_position_is_negative_and_none_without_gps() -> None:
    west = {1: "S", 2: (33.0, 30.0, 0.0), 3: "W", 4: (70.0, 15.0, 0.0)}
    assert check_photo(pil_jpeg(scene(64, 48), gps=west)).position == {
        "lat": -33.5,
        "lon": -70.25,
    }
    assert check_photo(pil_jpeg(scene(64, 48))).position is None
    null_island = {1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)}
    assert check_photo(pil_jpeg(scene(64, 48), gps=null_island)).position is None


def test_a_photo_turned_by_its_exif_orientation_is_re_encoded_upright() -> None:
    checked = check_photo(pil_jpeg(scene(400, 300), orientation=6, gps=GPS))  # 90° clockwise
    assert not checked.kept_frame
    assert decoded(checked.jpeg).shape[:2] == (400, 300)
    assert (checked.width, checked.height) == (300, 400)
    assert b"Exif" not in checked.jpeg and checked.position is not None


def test_a_large_jpeg_is_decoded_at_a_dct_scale_and_shrunk_to_the_kept_edge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ok, big = cv2.imencode(".jpg", cv2.resize(scene(800, 600), (8000, 6000)))
    assert ok
    flags: list[int] = []
    real = cv2.imdecode

    def recording(buffer: np.ndarray, flag: int) -> np.ndarray | None:
        flags.append(flag)
        return real(buffer, flag)

    monkeypatch.setattr(photos.cv2, "imdecode", recording)
    checked = check_photo(bytes(big.tobytes()))
    assert flags == [cv2.IMREAD_REDUCED_COLOR_2]  # 4000x3000 decoded, not 8000x6000
    assert not checked.kept_frame
    assert decoded(checked.jpeg).shape[:2] == (MAX_PHOTO_EDGE * 3 // 4, MAX_PHOTO_EDGE)


def test_a_dense_jpeg_is_re_encoded_even_when_small_enough() -> None:
    noisy = np.random.default_rng(5).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    original = pil_jpeg(noisy, q=100)
    assert len(original) > 800 * 600  # over a byte a pixel
    checked = check_photo(original)
    assert not checked.kept_frame and len(checked.jpeg) < len(original)


def png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    crc = struct.pack(">I", zlib.crc32(chunk))
    idat = b"IDAT" + zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + crc
        + struct.pack(">I", len(idat) - 4)
        + idat
        + struct.pack(">I", zlib.crc32(idat))
    )


def test_a_picture_too_large_is_refused_from_its_header_before_decoding() -> None:
    side = int(MAX_PHOTO_PIXELS**0.5) + 10
    with pytest.raises(ApiError) as refused:
        check_photo(png_header(side, side))  # 17 bytes of pixels: never decoded
    assert refused.value.code == "photo_too_large"


def test_a_truncated_header_or_a_broken_png_is_no_picture() -> None:
    for body in (b"\xff\xd8\xff\xe0" + b"\x00" * 200, png_header(64, 64)[:40], b"GIF89a"):
        with pytest.raises(ApiError) as refused:
            check_photo(body)
        assert refused.value.code == "bad_photo"


def test_strip_refuses_what_it_does_not_know() -> None:
    good = pil_jpeg(scene(64, 48))
    assert strip_jpeg(good) is not None
    assert strip_jpeg(good[:-2]) is None  # no EOI
    sof = good.index(b"\xff\xc0")
    length = int.from_bytes(good[sof + 2 : sof + 4], "big")
    frame = good[sof : sof + 2 + length]
    assert strip_jpeg(good[:sof] + frame + good[sof:]) is None  # a second frame
    lossless = good[:sof] + b"\xff\xc3" + good[sof + 2 :]  # SOF3: not kept as is
    assert strip_jpeg(lossless) is None


def test_a_reports_photo_position_is_a_fact_and_the_stored_photo_has_none(
    tmp_path: Path,
) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    try:
        photo = pil_jpeg(scene(1600, 1067), gps=GPS)
        response = api.client.post(
            "/api/v1/mobile/reports",
            data={"request_id": "phone-exif-0001", "event_code": "0507"},
            files=[("photos", ("a.jpg", photo, "image/jpeg"))],
            headers=api.headers("inspector"),
        )
        assert response.status_code == 201, response.text
        case = api.service.store.get_case(case_id_for("phone-exif-0001"))
        assert case is not None
        assert case.facts["photo_positions"] == [
            {"photo": 1, "lat": 34.6, "lon": pytest.approx(119.22, abs=1e-7)}
        ]
        (stored,) = api.service.store.evidence_of(case.id)
        kept = api.service.evidence.read(stored.sha256)
        assert b"Exif" not in kept and np.array_equal(decoded(kept), decoded(photo))
    finally:
        api.close()


def test_an_answers_photo_position_is_a_fact_of_its_step(tmp_path: Path) -> None:
    from tests.core.test_mobile_routes import reported_case

    api = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    try:
        case_id = reported_case(api)
        response = api.client.post(
            f"/api/v1/mobile/tasks/{case_id}/answer",
            data={"request_id": "answer-exif-0001", "verdict": "pass"},
            files=[("photos", ("done.jpg", pil_jpeg(scene(640, 480), gps=GPS), "image/jpeg"))],
            headers=api.headers("inspector"),
        )
        assert response.status_code == 200, response.text
        step = api.service.store.steps(case_id)[-1].step
        assert step.facts["photo_positions"][0]["lat"] == 34.6
        (sha,) = step.attachments
        assert b"Exif" not in api.service.evidence.read(sha)
    finally:
        api.close()


def test_a_cameras_multi_picture_jpeg_keeps_only_its_first_picture() -> None:
    first, second = (Image.fromarray(scene(400, 300)[:, :, ::-1]), Image.new("RGB", (400, 300)))
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    mpo = buffer.getvalue()
    assert Image.open(io.BytesIO(mpo)).format == "MPO" and mpo.count(b"\xff\xd8\xff") == 2
    checked = check_photo(mpo)
    assert checked.kept_frame and checked.jpeg.count(b"\xff\xd8\xff") == 1
    assert np.array_equal(decoded(checked.jpeg), decoded(mpo))  # the first picture


def test_a_format_pillow_is_not_asked_to_parse_is_no_picture() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, "PCX")
    with pytest.raises(ApiError) as refused:
        check_photo(buffer.getvalue())
    assert refused.value.code == "bad_photo"


def gif(*colours: tuple[int, int, int], size: tuple[int, int] = (320, 240)) -> bytes:
    """A GIF made by Pillow: one frame per colour (more than one: an animation)."""
    frames = [Image.new("RGB", size, colour) for colour in colours]
    pixels = np.asarray(frames[0]).copy()
    cv2.rectangle(pixels, (20, 20), (120, 100), (255, 255, 255), -1)  # a white box
    frames[0] = Image.fromarray(pixels)
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=len(frames) > 1, append_images=frames[1:], duration=200)
    return buffer.getvalue()


def near(pixel: np.ndarray, bgr: tuple[int, int, int]) -> bool:
    return bool(np.abs(pixel.astype(int) - np.array(bgr)).max() <= 12)


def test_a_gif_is_accepted_and_stored_as_a_jpeg_of_its_picture(tmp_path: Path) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    try:
        response = api.client.post(
            "/api/v1/mobile/reports",
            data={"request_id": "phone-gif-0001", "event_code": "0507"},
            files=[("photos", ("screen.gif", gif((200, 30, 30)), "image/gif"))],
            headers=api.headers("inspector"),
        )
        assert response.status_code == 201, response.text
        (stored,) = api.service.store.evidence_of(response.json()["id"])
        assert stored.media_type == "image/jpeg" and stored.role == "photo"
        kept = api.service.evidence.read(stored.sha256)
        assert kept.startswith(b"\xff\xd8\xff") and b"GIF8" not in kept
        assert Image.open(io.BytesIO(kept)).format == "JPEG"
        picture = decoded(kept)
        assert picture.shape[:2] == (240, 320)
        assert near(picture[200, 250], (30, 30, 200))  # red, in BGR
        assert near(picture[60, 70], (255, 255, 255))  # the white box of the picture
    finally:
        api.close()


def test_an_animated_gif_keeps_only_its_first_frame() -> None:
    animated = gif((200, 30, 30), (30, 200, 30), (30, 30, 200))
    assert Image.open(io.BytesIO(animated)).n_frames == 3
    checked = check_photo(animated)
    assert not checked.kept_frame and (checked.width, checked.height) == (320, 240)
    picture = decoded(checked.jpeg)
    assert near(picture[200, 250], (30, 30, 200)) and near(picture[60, 70], (255, 255, 255))
    assert Image.open(io.BytesIO(checked.jpeg)).format == "JPEG"
    assert checked.jpeg == check_photo(gif((200, 30, 30))).jpeg  # the later frames changed nothing


def test_a_large_or_transparent_gif_is_shrunk_to_the_kept_edge_on_white() -> None:
    wide = check_photo(gif((10, 10, 120), size=(4096, 300)))
    assert (wide.width, wide.height) == (MAX_PHOTO_EDGE, 150)
    clear = Image.new("RGBA", (64, 48), (0, 0, 0, 0))  # fully transparent
    buffer = io.BytesIO()
    clear.save(buffer, "GIF")
    assert near(decoded(check_photo(buffer.getvalue()).jpeg)[24, 32], (255, 255, 255))


def heic_like(brand: bytes = b"heic", compatible: bytes = b"mif1heic") -> bytes:
    """The start of an iPhone's HEIC, and nothing after: an ftyp box with HEIF brands, then
    a meta box of zeros (real HEIC files: tests/core/test_photo_heif.py)."""
    ftyp = b"ftyp" + brand + b"\x00\x00\x00\x00" + compatible
    return struct.pack(">I", 4 + len(ftyp)) + ftyp + b"\x00\x00\x00\x22meta" + b"\x00" * 400


@pytest.mark.parametrize("brand", [b"heic", b"heix", b"mif1", b"avif"])
def test_a_broken_heic_is_no_picture_and_nothing_is_stored(tmp_path: Path, brand: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        check_photo(heic_like(brand, compatible=b"mif1" + brand))
    assert refused.value.code == "bad_photo"
    api = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    try:
        response = api.client.post(
            "/api/v1/mobile/reports",
            data={"request_id": "phone-heic-0001", "event_code": "0507"},
            files=[("photos", ("IMG_0001.HEIC", heic_like(brand), "image/heic"))],
            headers=api.headers("inspector"),
        )
        assert response.status_code == 422
        assert response.json()["error"] == "bad_photo"
        assert api.service.store.get_case(case_id_for("phone-heic-0001")) is None
        root: Path = api.service.evidence.root  # type: ignore[attr-defined]
        assert [p for p in root.rglob("*") if p.is_file()] == []
    finally:
        api.close()


def test_an_mp4_is_no_heic_and_the_bad_photo_sentence_says_to_choose_jpeg_or_png() -> None:
    mp4 = heic_like(b"isom", b"iso2mp41")
    assert not photos.is_heif(mp4)
    with pytest.raises(ApiError) as refused:
        check_photo(mp4)
    assert refused.value.code == "bad_photo"  # not a picture at all
    labels = (Path(photos.__file__).parent / "web" / "js" / "labels.js").read_text("utf-8")
    sentence = re.search(r"^\s*bad_photo: '([^']*)'", labels, re.M)
    assert sentence is not None
    assert "JPEG" in sentence.group(1) and "PNG" in sentence.group(1)
