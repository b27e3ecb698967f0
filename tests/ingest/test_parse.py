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


def test_content_only_html_keeps_headings_nested_list_items_and_table_rows(tmp_path: Path) -> None:
    """No menus or footers around the content: nothing is dropped as boilerplate."""
    rows = "".join(f"<tr><td>Schaal {n}</td><td>{2000 + 150 * n} euro</td></tr>" for n in range(1, 9))
    page = tmp_path / "salaris.html"
    page.write_text(
        "<html><head><title>Salaris</title></head><body><h1>Salarisschalen</h1><h2>Toeslagen</h2>"
        "<ul><li>Reiskosten<ul><li>Openbaar vervoer volledig vergoed</li><li>Auto 0,23 euro per km</li></ul>"
        "</li><li>Thuiswerkvergoeding<p>Per gewerkte thuisdag.</p></li></ul>"
        "<h2>Schalen</h2><table><tr><th>Schaal</th><th>Bruto</th></tr>" + rows + "</table>"
        "<h3>Na de tabel</h3><p>Bedragen gelden vanaf januari.</p></body></html>", encoding="utf-8")
    parsed = parse_file(page)
    headings = [b.text for b in parsed.blocks if b.kind == "heading"]
    assert headings == ["Salarisschalen", "Toeslagen", "Schalen", "Na de tabel"]
    text = " ".join(b.text for b in parsed.blocks)
    for item in ("Reiskosten", "Openbaar vervoer volledig vergoed", "Auto 0,23 euro per km",
                 "Thuiswerkvergoeding", "Per gewerkte thuisdag.", "Bedragen gelden vanaf januari."):
        assert item in text
    table = next(b for b in parsed.blocks if b.kind == "table")
    assert all(f"Schaal {n} | {2000 + 150 * n} euro" in table.text for n in range(1, 9))


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


def test_markdown_with_front_matter_only_is_empty_with_a_reason(tmp_path: Path) -> None:
    page = tmp_path / "buddy.md"
    page.write_text("---\ntitle: Buddy Handbook\nredirect_to: https://example.org/buddy\n---\n", encoding="utf-8")
    with pytest.raises(VraagbaakError) as error:
        parse_file(page)
    assert error.value.code is ErrorCode.EMPTY_DOCUMENT
    assert "front matter only" in error.value.message and "https://example.org/buddy" in error.value.message
