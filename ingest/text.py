"""Text from bytes in whatever encoding a file was saved in, and whitespace clean-up."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from charset_normalizer import from_bytes

from core.errors import ErrorCode, VraagbaakError

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_SAMPLE = 65536
_MAX_BAD_SHARE = 0.05  # control characters or undecodable bytes beyond this: not a text file
NOT_TEXT = "the file is not text (it holds binary data)"


def decode(data: bytes) -> str:
    """Bytes → text: a BOM, UTF-16/32 without BOM, UTF-8, else the detected encoding.

    Raises VraagbaakError(PARSE_FAILED) for binary data, rather than returning mojibake.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _checked(data.decode(encoding, errors="replace"))
    wide = _wide_encoding(data[:_SAMPLE])
    if wide is not None:
        return _checked(data.decode(wide, errors="replace"))
    if b"\x00" in data[:_SAMPLE]:
        raise VraagbaakError(ErrorCode.PARSE_FAILED, NOT_TEXT)
    try:
        return _checked(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None:
        raise VraagbaakError(ErrorCode.PARSE_FAILED, "the file is not text in any known encoding")
    if best.encoding.startswith(("cp125", "iso8859", "latin", "mac_", "windows")):
        # single-byte code pages are hard to tell apart; Dutch and Belgian files are Windows-1252
        try:
            return _checked(data.decode("cp1252"))
        except UnicodeDecodeError:
            pass
    return _checked(str(best))


def _wide_encoding(sample: bytes) -> str | None:
    """UTF-32 or UTF-16 without a BOM, told by where the zero bytes fall (Latin-script text)."""
    size = len(sample) - len(sample) % 4
    if size < 4 or sample.count(0) < size // 8:
        return None

    def zero_share(position: int, step: int) -> float:
        column = sample[position:size:step]
        return column.count(0) / max(1, len(column))

    candidates = []
    if zero_share(2, 4) > 0.95 and zero_share(3, 4) > 0.95:
        candidates.append("utf-32-le")
    if zero_share(0, 4) > 0.95 and zero_share(1, 4) > 0.95:
        candidates.append("utf-32-be")
    odd, even = zero_share(1, 2), zero_share(0, 2)
    if odd > 0.4 and even < 0.1:
        candidates.append("utf-16-le")
    if even > 0.4 and odd < 0.1:
        candidates.append("utf-16-be")
    for encoding in candidates:
        try:
            text = sample[:size].decode(encoding)
        except UnicodeDecodeError:
            continue
        if _bad_share(text) <= _MAX_BAD_SHARE:
            return encoding
    return None


def _bad_share(text: str) -> float:
    sample = text[:_SAMPLE]
    bad = len(_CONTROL.findall(sample)) + sample.count("\ufffd")
    return bad / max(1, len(sample))


def _checked(text: str) -> str:
    if _bad_share(text) > _MAX_BAD_SHARE:
        raise VraagbaakError(ErrorCode.PARSE_FAILED, NOT_TEXT)
    return text


def clean(text: str) -> str:
    """Control characters out, runs of spaces and tabs made one space, ends stripped."""
    return _SPACES.sub(" ", _CONTROL.sub("", text or "")).strip()


def rows_text(rows: Iterable[Sequence[object]]) -> str:
    """A table as `cell | cell` lines, so each row reads as a statement; empty rows are left out."""
    lines = (" | ".join(clean(str(cell)) if cell is not None else "" for cell in row) for row in rows)
    return "\n".join(line for line in lines if line.strip(" |"))
