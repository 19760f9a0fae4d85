"""HTML → PDF by Debian's Chromium in headless mode (``--print-to-pdf``).

The report's PDF is the printable HTML page printed, so the two never differ. Chromium
runs as a child process with a time limit, in a temporary profile, with no network
(``--disable-background-networking``; the page has no external links to fetch: its
style sheet is inlined and its charts are SVG).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from gateway.core.publication import ReportUnavailable

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


class PdfUnavailable(ReportUnavailable):
    """No browser to print with, or the browser failed: the reason is in the message."""


def find_chromium() -> str | None:
    for candidate in CHROMIUM_PATHS:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def html_to_pdf(html: str, *, chromium: str | None = None, timeout_s: float = 60.0) -> bytes:
    browser = chromium or find_chromium()
    if browser is None:
        raise PdfUnavailable(
            "chromium not found: apt-get install chromium (the README's setup does)"
        )
    with tempfile.TemporaryDirectory(prefix="citygw-pdf-") as folder:
        page = Path(folder) / "report.html"
        out = Path(folder) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-extensions",
            "--no-first-run",
            f"--user-data-dir={Path(folder) / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise PdfUnavailable(f"chromium did not print within {timeout_s:.0f} s") from exc
        if not out.exists() or out.stat().st_size == 0:
            tail = done.stderr.decode("utf-8", "replace")[-500:]
            raise PdfUnavailable(f"chromium exited {done.returncode} without a PDF: {tail}")
        return out.read_bytes()
