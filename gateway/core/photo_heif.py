"""HEIC/HEIF and AVIF photos (an iPhone camera's own format) turned into JPEG for
`gateway.core.photos`.

Debian's libheif tools do it (``libheif-examples``: ``heif-info``, ``heif-convert``), as
subprocesses in a private temporary directory, each with `TOOL_TIMEOUT_S`, never a shell:

1. ``heif-info`` reads the primary image's size from the header; a picture over the
   pixel limit is refused before anything is decoded.
2. ``heif-convert`` decodes the primary image with its transformations applied (HEIF's
   rotation and mirroring are the normative ones) and writes a JPEG at high quality,
   with the file's EXIF (the GPS position) copied in. `gateway.core.photos` then takes
   that JPEG as it takes any other: position read as a fact, the EXIF dropped, shrunk and
   re-encoded, except that the EXIF orientation is ignored, as MIAF says a reader must
   (libheif has already turned the picture).

A file the tools cannot read is ``bad_photo``; the tools missing on the core's host are
503 ``photo_check_unavailable`` (apt package libheif-examples), said once in the log.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from gateway.core.api_base import ApiError

log = logging.getLogger(__name__)

#: seconds one heif-info or heif-convert run may take (a 12 MP iPhone photo: about 0.3 s)
TOOL_TIMEOUT_S = 20.0
#: heif-convert's JPEG quality: the picture is shrunk and re-encoded after, at the
#: evidence store's own quality
CONVERT_QUALITY = 95
_PRIMARY_SIZE = re.compile(rb"image: (\d+)x(\d+) \(id=\d+\)(?:, primary)")
_ANY_SIZE = re.compile(rb"image: (\d+)x(\d+)")


def heif_to_jpeg(data: bytes, *, max_pixels: int) -> bytes:
    """The primary picture of a HEIF/AVIF file as a JPEG with its EXIF; ApiError (422
    ``bad_photo``, ``photo_too_large``; 503 ``photo_check_unavailable``) otherwise."""
    with tempfile.TemporaryDirectory(prefix="citygw-heif-") as folder:
        source, target = Path(folder) / "photo.heic", Path(folder) / "photo.jpg"
        source.write_bytes(data)
        width, height = _size(_run("heif-info", [str(source)]))
        if width * height > max_pixels:
            raise ApiError(422, "photo_too_large", f"at most {max_pixels} pixels")
        _run("heif-convert", ["-q", str(CONVERT_QUALITY), str(source), str(target)])
        if not target.is_file() or target.stat().st_size == 0:
            raise ApiError(422, "bad_photo", "the HEIF picture could not be read")
        return target.read_bytes()


def _size(info: bytes) -> tuple[int, int]:
    found = _PRIMARY_SIZE.search(info) or _ANY_SIZE.search(info)
    if found is None:
        raise ApiError(422, "bad_photo", "the HEIF file holds no picture")
    width, height = int(found.group(1)), int(found.group(2))
    if width <= 0 or height <= 0:
        raise ApiError(422, "bad_photo", "the picture has no pixels")
    return width, height


def _run(tool: str, arguments: list[str]) -> bytes:
    """stdout of one run; ``bad_photo`` when it fails or runs too long."""
    program = shutil.which(tool)
    if program is None:
        log.error("%s is not installed (apt package libheif-examples): HEIC refused", tool)
        raise ApiError(503, "photo_check_unavailable", f"{tool} is not installed on the core")
    try:
        done = subprocess.run(  # a fixed program; the arguments are no shell text
            [program, *arguments],
            capture_output=True,
            timeout=TOOL_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise ApiError(422, "bad_photo", f"{tool} took over {TOOL_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        log.info("HEIF photo refused: %s exit %s: %s", tool, done.returncode, reason[0][:200])
        raise ApiError(422, "bad_photo", "the HEIF picture could not be read")
    return done.stdout
