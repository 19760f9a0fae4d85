"""Photos sent by phones and browsers: checked, cleaned and kept as evidence (issue 19 §2).

`check_photo` turns the bytes of one upload into the JPEG the evidence store keeps, or
refuses them with an `ApiError` whose code the apps turn into Chinese (``empty_file``,
``bad_photo``, ``photo_too_large``). What it does, cheapest first:

1. The header only (Pillow opens lazily): what the file is, its size in pixels (a file
   over `MAX_PHOTO_PIXELS` is refused before a pixel is decoded), its EXIF orientation and
   GPS position. The position is returned as a fact (`PhotoCheck.position`); the stored
   file never carries it.
2. A JPEG that needs no change (at most `MAX_PHOTO_EDGE` px, upright, 8-bit grey or
   colour, at most `MAX_KEPT_BYTES_PER_PIXEL`: what the phone app sends, already shrunk
   and encoded on the phone) keeps its frame as it came, without generation loss: every
   APPn and COM segment (EXIF, XMP, ICC, comments, thumbnails) and anything after the
   end of the image are dropped, a plain JFIF header put in front, and the result is
   decoded whole (every scan's entropy data, at 1/8 scale: libjpeg's DCT scaling, the
   ``draft`` mode) before it is accepted. A file with a marker this does not know, a
   second frame, no end of image or a scan the decoder refuses is not kept this way.
   (A scan cut short by an end-of-image marker decodes with its rest grey, libjpeg only
   warns: the same picture the re-encoding path would store.)
3. Anything else is decoded (a JPEG larger than twice the kept size at a DCT-scaled
   1/2, 1/4 or 1/8: "draft" decoding, several times cheaper), turned upright by its
   EXIF orientation, shrunk to `MAX_PHOTO_EDGE` and re-encoded at `JPEG_QUALITY`. A GIF
   (a screenshot or a messenger's picture) is its first frame alone, decoded by Pillow
   (transparent pixels on white), then shrunk and re-encoded the same way; later frames
   of an animation are never decoded.

HEIC/HEIF and AVIF (an iPhone camera's own format, an ISO BMFF ``ftyp`` box with a HEIF
brand: `is_heif`) are turned into JPEG by Debian's libheif tools first
(`gateway.core.photo_heif`: its size checked before it is decoded, HEIF's own rotation
applied, the EXIF position kept), then taken as a JPEG. The phone app's canvas turns what
the phone can show into JPEG before it sends; this serves other clients (Open311, the
console's upload, a browser that cannot decode the file). Without the tools they are 503
``photo_check_unavailable``.

At most `DECODERS` photos are decoded at once (`decoding`): a burst of reports does not
hold tens of full-size pictures in memory together, and the routes' threads do not
oversubscribe the cores. Pure functions of bytes, no I/O.
"""

from __future__ import annotations

import io
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from gateway.core.api_base import ApiError
from gateway.core.photo_heif import heif_to_jpeg

#: the longest edge kept, in pixels
MAX_PHOTO_EDGE = 2048
#: decoded pixels accepted (a small file may decode to a huge image)
MAX_PHOTO_PIXELS = 50_000_000
JPEG_QUALITY = 85
#: a JPEG denser than this is re-encoded even when small enough (a phone's at quality
#: 0.85 is 0.1-0.5 byte a pixel; quality 100 reaches 2-3)
MAX_KEPT_BYTES_PER_PIXEL = 1.0
#: photos decoded at the same time, across all requests
DECODERS = 2

_DECODING = threading.BoundedSemaphore(DECODERS)
#: the parsers Pillow may run on an upload (none of its others); JPEG's also opens MPO,
#: a camera's JPEG with more pictures after the first
_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
_JPEG = ("JPEG", "MPO")
#: ISO BMFF brands of HEIF pictures (HEIC, HEIF image sequences, AVIF): libheif's tools
_HEIF_BRANDS = {
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
    b"mif1", b"mif2", b"msf1", b"avif", b"avis",
}  # fmt: skip
_ORIENTATION = 0x0112
_GPS_IFD = 0x8825
#: JFIF 1.01, no density, no thumbnail: the header a kept JPEG gets
_JFIF = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
#: frame, tables and restart interval markers kept as they are
_KEPT = {0xC0, 0xC1, 0xC2, 0xC4, 0xDB, 0xDD}
_SOF = {0xC0, 0xC1, 0xC2}
#: the end of a scan's entropy data: a marker that is no stuffed 0xFF and no RSTn
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


@dataclass(frozen=True)
class PhotoCheck:
    jpeg: bytes  # what is stored: no EXIF, nothing but the picture
    width: int
    height: int
    position: dict[str, float] | None  # the EXIF GPS position, WGS-84 degrees
    kept_frame: bool  # True: the JPEG's frame kept as sent; False: decoded and re-encoded


@contextmanager
def decoding() -> Iterator[None]:
    """Holds one of the `DECODERS` slots while a photo is decoded."""
    with _DECODING:
        yield


def check_photo(data: bytes) -> PhotoCheck:
    """The photo as stored, with its EXIF position; ApiError when it is no usable picture."""
    if not data:
        raise ApiError(422, "empty_file", "the photo is empty")
    if is_heif(data):
        with decoding():
            converted = heif_to_jpeg(data, max_pixels=MAX_PHOTO_PIXELS)
        # libheif turned the picture by HEIF's own rotation: its EXIF orientation is moot
        return _checked(converted, upright=True)
    return _checked(data, upright=False)


def _checked(data: bytes, *, upright: bool) -> PhotoCheck:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=_FORMATS)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ApiError(422, "bad_photo", "the file is not a picture this server can read") from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ApiError(422, "bad_photo", "the picture has no pixels")
    if width * height > MAX_PHOTO_PIXELS:
        raise ApiError(422, "photo_too_large", f"at most {MAX_PHOTO_PIXELS} pixels")
    exif = _exif(image)
    orientation = exif.get(_ORIENTATION, 1) if exif is not None and not upright else 1
    position = gps_position(exif.get_ifd(_GPS_IFD)) if exif is not None else None
    with decoding():
        kept = _kept_jpeg(image, data, orientation)
        if kept is not None:
            return PhotoCheck(kept, width, height, position, kept_frame=True)
        if image.format == "GIF":
            jpeg, out_w, out_h = _encoded(_first_frame(image))
        else:
            jpeg, out_w, out_h = _reencoded(data, image.format in _JPEG, width, height)
    return PhotoCheck(jpeg, out_w, out_h, position, kept_frame=False)


def is_heif(data: bytes) -> bool:
    """Whether the bytes are a HEIF picture (HEIC, AVIF): an ``ftyp`` box at byte 4 whose
    major or compatible brands name one."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    size = int.from_bytes(data[:4], "big")
    box = data[8 : min(max(size, 16), 256, len(data))]
    # the major brand, the minor version (no brand), then the compatible brands
    brands = {box[:4], *(box[i : i + 4] for i in range(8, len(box) - 3, 4))}
    return bool(brands & _HEIF_BRANDS)


def _first_frame(image: Image.Image) -> np.ndarray:
    """A GIF's first frame as BGR pixels, transparent ones white; the frames after it are
    not decoded."""
    try:
        image.seek(0)
        rgba = image.convert("RGBA")
    except (OSError, ValueError, EOFError, SyntaxError) as exc:
        raise ApiError(422, "bad_photo", "the file is not a picture this server can read") from exc
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return np.asarray(flat)[:, :, ::-1]


def _exif(image: Image.Image) -> Image.Exif | None:
    try:
        return image.getexif()
    except Exception:  # a broken EXIF block: no orientation, no position (the pixels decide)
        return None


def gps_position(gps: dict[int, Any]) -> dict[str, float] | None:
    """``{"lat", "lon"}`` (degrees, north and east positive) of an EXIF GPS IFD, or None
    when it has no usable position (missing, malformed, out of range, or 0/0)."""
    try:
        lat = _degrees(gps[2], gps.get(1, "N"), "S")
        lon = _degrees(gps[4], gps.get(3, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return {"lat": round(lat, 7), "lon": round(lon, 7)}


def _degrees(dms: Any, ref: Any, negative: str) -> float:
    d, m, s = (float(x) for x in dms)
    value = d + m / 60 + s / 3600
    if value != value:  # NaN from a 0/0 rational
        raise ValueError("not a number")
    ref_text = ref.decode("ascii", "replace") if isinstance(ref, bytes) else str(ref)
    return -value if ref_text.strip("\x00 ").upper() == negative else value


def _kept_jpeg(image: Image.Image, data: bytes, orientation: Any) -> bytes | None:
    """The JPEG's own frame without metadata, checked by decoding it whole; None when the
    photo must be decoded and re-encoded instead."""
    width, height = image.size
    if (
        image.format not in _JPEG
        or orientation not in (1, None)
        or max(width, height) > MAX_PHOTO_EDGE
        or image.mode not in ("L", "RGB")
        or len(data) > MAX_KEPT_BYTES_PER_PIXEL * width * height
    ):
        return None
    stripped = strip_jpeg(data)
    if stripped is None:
        return None
    try:
        check = Image.open(io.BytesIO(stripped))
        if check.size != (width, height):
            return None
        check.draft(check.mode, (max(1, width // 8), max(1, height // 8)))
        check.load()  # raises on a truncated or broken scan (Pillow's default)
    except (OSError, ValueError, SyntaxError):
        return None  # the re-encoding path decides (and refuses what cannot be read)
    return stripped


def strip_jpeg(data: bytes) -> bytes | None:
    """A baseline or progressive 8-bit JPEG's SOI, tables, one frame, scans and EOI, with
    a plain JFIF header (an Adobe APP14, which says how colours are coded, is kept in its
    place); every other APPn, COM and anything after EOI left out. None for anything
    else (an unknown marker, a second frame, no scan, no EOI, other than 1 or 3 components)."""
    if data[:2] != b"\xff\xd8":
        return None
    out = [b"\xff\xd8"]
    adobe = False
    frames = scans = 0
    pos, size = 2, len(data)
    while pos + 1 < size:
        if data[pos] != 0xFF:
            return None
        while pos + 1 < size and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        if pos + 1 >= size:
            return None
        marker = data[pos + 1]
        if marker == 0xD9:  # EOI: what follows is not kept
            if not frames or not scans:
                return None
            head = b"" if adobe else _JFIF
            return out[0] + head + b"".join(out[1:]) + b"\xff\xd9"
        if pos + 4 > size:
            return None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > size:
            return None
        segment = data[pos:end]
        if marker in _SOF:
            frames += 1
            if frames > 1 or length < 8 or segment[4] != 8 or segment[9] not in (1, 3):
                return None
            out.append(segment)
        elif marker in _KEPT:
            out.append(segment)
        elif marker == 0xEE and segment[4:9] == b"Adobe" and length == 14:
            adobe = True
            out.append(segment)
        elif 0xE0 <= marker <= 0xEF or marker == 0xFE:
            pass  # APPn (EXIF, XMP, ICC, JFIF thumbnails) and comments: dropped
        elif marker == 0xDA:  # SOS: header, then entropy data up to the next marker
            if not frames:
                return None
            found = _SCAN_END.search(data, end)
            if found is None:
                return None
            scans += 1
            out.append(data[pos : found.start()])
            pos = found.start()
            continue
        else:
            return None
        pos = end
    return None


def _reencoded(data: bytes, is_jpeg: bool, width: int, height: int) -> tuple[bytes, int, int]:
    reduce = 1
    while is_jpeg and reduce < 8 and max(width, height) >= MAX_PHOTO_EDGE * reduce * 2:
        reduce *= 2
    flag = {
        1: cv2.IMREAD_COLOR,
        2: cv2.IMREAD_REDUCED_COLOR_2,
        4: cv2.IMREAD_REDUCED_COLOR_4,
        8: cv2.IMREAD_REDUCED_COLOR_8,
    }[reduce]
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)  # upright by EXIF orientation
    if image is None or image.ndim != 3 or image.size == 0:
        raise ApiError(422, "bad_photo", "the file is not a picture this server can read")
    return _encoded(image)


def _encoded(image: np.ndarray) -> tuple[bytes, int, int]:
    """BGR pixels shrunk to `MAX_PHOTO_EDGE` and encoded as JPEG: (bytes, width, height)."""
    h, w = image.shape[:2]
    longest = max(h, w)
    if longest > MAX_PHOTO_EDGE:
        scale = MAX_PHOTO_EDGE / longest
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ApiError(422, "bad_photo", "the picture could not be re-encoded")
    h, w = image.shape[:2]
    return bytes(encoded.tobytes()), w, h
