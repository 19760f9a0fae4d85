"""`citygw prompts build`: speak every prompt with espeak-ng (cmn), convert with sox.

Each prompt becomes an 8 kHz mono 16-bit WAV (what Asterisk plays without transcoding
on a narrowband call). A file whose text has not changed is kept: the text's hash is
stored beside it (``.<name>.wav.sha256``), so a rebuild after a config change only
speaks the menus that changed. Both tools run with a timeout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from gateway.telephony.prompts import PromptFile, prompt_files
from gateway.telephony.settings import TelephonyConfig

VOICE = "cmn"
SPEED_WPM = 150
TOOL_TIMEOUT_S = 60.0


class PromptBuildError(RuntimeError):
    """A prompt could not be made (tool missing, tool failed)."""


@dataclass(frozen=True)
class BuildResult:
    built: list[Path]
    kept: list[Path]


def find_tools() -> tuple[str, str]:
    espeak = shutil.which("espeak-ng")
    sox = shutil.which("sox")
    missing = [name for name, path in (("espeak-ng", espeak), ("sox", sox)) if path is None]
    if missing:
        raise PromptBuildError(
            f"{' and '.join(missing)} not found; install the Debian packages espeak-ng and sox"
        )
    assert espeak is not None and sox is not None
    return espeak, sox


def _stamp(prompt: PromptFile) -> Path:
    return prompt.path.with_name(f".{prompt.path.name}.sha256")


def _digest(text: str) -> str:
    return hashlib.sha256(f"{VOICE}|{SPEED_WPM}|{text}".encode()).hexdigest()


def is_current(prompt: PromptFile) -> bool:
    stamp = _stamp(prompt)
    return (
        prompt.path.is_file()
        and stamp.is_file()
        and stamp.read_text(encoding="ascii").strip() == _digest(prompt.text)
    )


def speak(text: str, target: Path, *, espeak: str, sox: str) -> None:
    """One prompt: espeak-ng writes 22 kHz WAV, sox makes it 8 kHz mono 16-bit."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="citygw-prompt-") as tmp:
        raw = Path(tmp) / "raw.wav"
        converted = Path(tmp) / "out.wav"
        _run([espeak, "-v", VOICE, "-s", str(SPEED_WPM), "-w", str(raw), text])
        _run(
            [
                sox,
                "-V1",
                str(raw),
                "-r",
                "8000",
                "-c",
                "1",
                "-b",
                "16",
                "-e",
                "signed-integer",
                str(converted),
                "norm",
                "-1",
            ]
        )
        shutil.move(str(converted), target)


def _run(argv: list[str]) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=TOOL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PromptBuildError(f"{argv[0]} took longer than {TOOL_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", errors="replace").strip()[:500]
        raise PromptBuildError(f"{Path(argv[0]).name} failed ({done.returncode}): {detail}")


def build_prompts(
    config: TelephonyConfig,
    *,
    force: bool = False,
    progress: Callable[[int, int, PromptFile, bool], None] | None = None,
    workers: int | None = None,
) -> BuildResult:
    """Make every prompt the IVR needs; ``progress(i, n, prompt, built)`` after each.

    The speech engine runs in a few bounded threads (one per CPU, at most 4).
    """
    espeak, sox = find_tools()
    files = prompt_files(config)
    stale = [p for p in files if force or not is_current(p)]
    kept = [p.path for p in files if p not in stale]
    done = 0
    if progress is not None:
        for prompt in files:
            if prompt not in stale:
                done += 1
                progress(done, len(files), prompt, False)

    def make(prompt: PromptFile) -> PromptFile:
        speak(prompt.text, prompt.path, espeak=espeak, sox=sox)
        _stamp(prompt).write_text(_digest(prompt.text) + "\n", encoding="ascii")
        return prompt

    built: list[Path] = []
    size = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=size, thread_name_prefix="prompts.speak") as pool:
        for future in as_completed([pool.submit(make, prompt) for prompt in stale]):
            prompt = future.result()  # a failure stops the build with its reason
            built.append(prompt.path)
            done += 1
            if progress is not None:
                progress(done, len(files), prompt, True)
    return BuildResult(sorted(built), kept)
