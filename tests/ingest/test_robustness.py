"""Hostile real files (fuzzed and torture PDFs, markitdown's odd formats, unstructured's malformed and
encrypted examples) through the isolated parser: each ends in exactly one outcome, failures with a
reason, and the whole set within a time bound."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.errors import ErrorCode
from ingest.isolate import ParsePool
from tests.conftest import shared_data

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

UNSTRUCTURED_HOSTILE = (
    "pdf/password.pdf", "pdf/copy-protected.pdf", "pdf/failure-after-repair.pdf",
    "pdf/invalid-pdf-structure-pdfminer-one-page.pdf", "pdf/pdf-bad-color-space.pdf", "pdf/negative-coords.pdf",
    "fake-power-point-malformed.pptx", "password_protected.xlsx", "fake-encrypted.msg", "eml/fake-encrypted.eml",
    "eml/fake-email-malformed-encoding.eml", "eml/empty.eml", "empty.txt", "fake-text-all-whitespace.txt",
    "fake-incomplete-json.txt", "fake-text-utf-32.txt", "grid_offset_error.docx", "umlauts-non-utf8.md",
    "file_we_dont_want_imported",
)
TIME_BOUND_S = 240


def _hostile_files() -> list[Path]:
    parsers = shared_data("parsers")
    files = sorted(p for p in (parsers / "pdfjs-torture").rglob("*") if p.is_file())
    files += sorted(p for p in (parsers / "markitdown").rglob("*")
                    if p.is_file() and p.parent.name != "expected_outputs")
    docs = parsers / "unstructured-example-docs" / "example-docs"
    files += [docs / name for name in UNSTRUCTURED_HOSTILE if (docs / name).is_file()]
    return files


def test_every_hostile_file_ends_in_one_outcome_with_a_reason_in_bounded_time() -> None:
    files = _hostile_files()
    assert 60 <= len(files) <= 80, len(files)
    started = time.monotonic()
    with ParsePool(workers=2, timeout_s=60, memory_mb=2048) as pool:
        outcomes = list(pool.imap(files, ahead=16))
    elapsed = time.monotonic() - started
    assert [o.path for o in outcomes] == files  # one outcome per file, in order
    for outcome in outcomes:
        assert (outcome.document is None) != (outcome.error is None), outcome.path
        if outcome.document is not None:
            assert any(block.text.strip() for block in outcome.document.blocks), outcome.path
        else:
            assert outcome.error is not None and outcome.error.message.strip(), outcome.path
            assert outcome.error.code is not ErrorCode.INTERNAL, (outcome.path, outcome.error.message)
    by_name = {o.path.name: o for o in outcomes}
    password = by_name["password.pdf"].error
    assert password is not None and "password" in password.message
    assert by_name["empty.txt"].error is not None and by_name["empty.txt"].error.code is ErrorCode.EMPTY_DOCUMENT
    assert by_name["random.bin"].error is not None
    assert sum(o.ok for o in outcomes) >= 10  # the well-formed ones among them do parse
    assert elapsed < TIME_BOUND_S, f"{elapsed:.0f} s"
