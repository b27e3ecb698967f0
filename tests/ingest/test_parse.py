"""Real files through the real parsers."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ErrorCode, VraagbaakError
from ingest.parse import parse_file
from tests.fixtures import bad_files, small_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_corpus(tmp_path_factory.mktemp("corpus"))


def test_markdown_front_matter_becomes_title_and_metadata(corpus: Path) -> None:
    parsed = parse_file(corpus / "verlof.md")
    assert parsed.title == "Verlofregeling testbedrijf"
    assert parsed.metadata["owner"] == "HR"
    headings = [b.text for b in parsed.blocks if b.kind == "heading"]
    assert headings[:3] == ["Verlofregeling", "Vakantiedagen", "Aanvragen"]
    assert not any("---" in b.text for b in parsed.blocks)


def test_html_keeps_main_content_and_drops_navigation_and_footer(corpus: Path) -> None:
    parsed = parse_file(corpus / "expenses.html")
    text = " ".join(b.text for b in parsed.blocks)
    assert parsed.title == "Travel expenses"
    assert "0.31 euro per kilometre" in text
    assert "navigation" not in text and "Copyright" not in text
    table = next(b for b in parsed.blocks if b.kind == "table")
    assert "Hotel night | 140 euro" in table.text


def test_docx_headings_have_levels(corpus: Path) -> None:
    parsed = parse_file(corpus / "security.docx")
    assert parsed.title == "Beveiligingsbeleid"
    levels = {b.text: b.level for b in parsed.blocks if b.kind == "heading"}
    assert levels["Wachtwoorden"] > levels["Beveiligingsbeleid"]


def test_pdf_keeps_page_numbers_and_numbered_headings(corpus: Path) -> None:
    parsed = parse_file(corpus / "onboarding.pdf")
    assert parsed.parser == "pypdfium2"
    buddy = next(b for b in parsed.blocks if "buddy voor" in b.text)
    assert buddy.page == 2
    assert any(b.kind == "heading" and b.text.startswith("2. Buddy") for b in parsed.blocks)


def test_pptx_slides_become_pages_with_speaker_notes(tmp_path: Path) -> None:
    from tests.fixtures import write_pptx

    deck = write_pptx(tmp_path / "introductie.pptx", [
        ("Welkom", "Welkom bij Havenstad", "Vertel kort over de geschiedenis."),
        ("Veiligheid", "Draag altijd veiligheidsschoenen in het magazijn.", "Wijs op de nooduitgangen."),
    ])
    parsed = parse_file(deck)
    shoes = next(b for b in parsed.blocks if "veiligheidsschoenen" in b.text)
    assert shoes.page == 2
    assert any("nooduitgangen" in b.text and b.page == 2 for b in parsed.blocks)
    assert any(b.kind == "heading" and b.text == "Veiligheid" for b in parsed.blocks)


def test_text_in_legacy_encoding_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "oud.txt"
    path.write_bytes("Café-regeling: één kopje koffie per dag is gratis voor iedere medewerker.".encode("cp1252"))
    parsed = parse_file(path)
    assert "één kopje koffie" in parsed.blocks[0].text


@pytest.mark.parametrize("kind,code,reason", [
    ("corrupt", ErrorCode.PARSE_FAILED, "PDF"),
    ("empty", ErrorCode.EMPTY_DOCUMENT, "empty"),
    ("binary", ErrorCode.UNSUPPORTED_FILE, "unsupported"),
])
def test_bad_files_raise_clear_errors(tmp_path: Path, kind: str, code: ErrorCode, reason: str) -> None:
    path = bad_files(tmp_path)[kind]
    with pytest.raises(VraagbaakError) as caught:
        parse_file(path)
    assert caught.value.code is code
    assert reason.lower() in caught.value.message.lower()
