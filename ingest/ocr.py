"""OCR with the `tesseract` command (Debian: tesseract-ocr, tesseract-ocr-nld), for scanned pages.

One process per page image, with a time limit; the image goes in on stdin as PNM (no compression
work), the text comes back on stdout.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass

from PIL import Image

log = logging.getLogger(__name__)

NO_ENGINE = "no OCR engine installed (install tesseract-ocr)"


@dataclass(frozen=True)
class OcrSettings:
    """How scanned pages are read. `languages` in order of preference; missing ones are skipped."""

    languages: tuple[str, ...] = ("nld", "eng")
    page_timeout_s: float = 60.0
    max_pages: int = 200
    dpi: int = 300
    max_pixels: int = 40_000_000  # a poster-sized page is rendered smaller rather than at full dpi
    command: str = "tesseract"


class OcrEngine:
    """The tesseract command with the languages it has; `available` is False when it is not installed."""

    def __init__(self, settings: OcrSettings) -> None:
        self.settings = settings
        self.binary = shutil.which(settings.command)
        self.warnings: list[str] = []
        self.languages = ""
        if self.binary is not None:
            self.languages = self._pick_languages(_installed_languages(self.binary))

    @property
    def available(self) -> bool:
        return self.binary is not None and bool(self.languages)

    def read(self, image: Image.Image) -> str:
        """The text in an image; raises OSError or subprocess.TimeoutExpired when tesseract fails."""
        assert self.binary is not None
        buffer = io.BytesIO()
        image.convert("L").save(buffer, format="PPM")  # PGM: grey, uncompressed
        # one thread: tesseract's OpenMP threads only contend on a small shared machine
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        done = subprocess.run([self.binary, "stdin", "stdout", "-l", self.languages, "--psm", "3"],
                              input=buffer.getvalue(), capture_output=True, timeout=self.settings.page_timeout_s,
                              env=env, check=False)
        if done.returncode != 0:
            raise OSError(f"tesseract exited with {done.returncode}: "
                          f"{done.stderr.decode(errors='replace').strip()[:200]}")
        return done.stdout.decode("utf-8", errors="replace")

    def _pick_languages(self, installed: frozenset[str]) -> str:
        wanted = [lang for lang in self.settings.languages if lang in installed]
        missing = [lang for lang in self.settings.languages if lang not in installed]
        if missing:
            self.warnings.append(f"OCR language(s) {', '.join(missing)} not installed")
        if not wanted:
            fallback = sorted(installed - {"osd", "equ"})
            wanted = ["eng"] if "eng" in fallback else fallback[:1]
        return "+".join(wanted)


@functools.lru_cache(maxsize=4)
def _installed_languages(binary: str) -> frozenset[str]:
    try:
        done = subprocess.run([binary, "--list-langs"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("tesseract does not run", extra={"ctx": {"error": str(exc)}})
        return frozenset()
    lines = done.stdout.decode(errors="replace").splitlines()
    return frozenset(line.strip() for line in lines[1:] if line.strip())  # first line: "List of ..."
