"""The parse-accuracy scores on tiny inputs made here: Markdown to text, token F1, sequence ratio,
and pairing inputs with their expected Markdown."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.parse_accuracy import document_text, find_pairs, markdown_to_text, sequence_ratio, token_f1
from ingest.parse import Block, ParsedDocument


def test_markdown_syntax_is_stripped_and_tables_become_cell_rows() -> None:
    markdown = (
        "# Verlof\n\n"
        "Zie [de regeling](https://example.nl/regeling) en **vooral** `artikel_3`.\n\n"
        "<!-- image -->\n\n"
        "- eerste punt\n1. tweede punt\n> geciteerd\n\n"
        "| Soort | Dagen |\n|---|:---:|\n| Vakantie | 25 |\n\n"
        "```\ncode()\n```\n"
        "a \\* b &amp; c"
    )
    assert markdown_to_text(markdown).splitlines() == [
        "Verlof", "Zie de regeling en vooral artikel_3.", "eerste punt", "tweede punt", "geciteerd",
        "Soort | Dagen", "Vakantie | 25", "code()", "a * b & c",
    ]


def test_token_f1_counts_words_as_a_multiset_regardless_of_order() -> None:
    assert token_f1("Twee woorden", "woorden, twee!") == 1.0
    assert token_f1("", "") == 1.0
    assert token_f1("iets", "") == 0.0
    # predicted: a a b (3 tokens); expected: a b c d (4 tokens); overlap a, b = 2 → P 2/3, R 1/2
    assert token_f1("a a b", "a b c d") == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))


def test_sequence_ratio_punishes_reordering_that_f1_ignores() -> None:
    expected = "eerst de aanvraag dan het besluit en daarna de betaling"
    shuffled = "de betaling en daarna het besluit dan eerst de aanvraag"
    assert token_f1(shuffled, expected) == 1.0
    assert sequence_ratio(expected.upper(), expected) == 1.0
    assert sequence_ratio(shuffled, expected) < 0.8
    assert sequence_ratio("", "") == 1.0 and sequence_ratio("x", "") == 0.0


def test_document_text_joins_headings_and_blocks_by_line() -> None:
    document = ParsedDocument("T", (Block("Kop", "heading", 1), Block("Tekst hier."), Block("a | b", "table")), "docx")
    assert document_text(document) == "Kop\nTekst hier.\na | b"


def test_pairs_use_the_full_source_name_or_the_pdf_stem(tmp_path: Path) -> None:
    for kind, source, expected in (("docx", "a.docx", "a.docx.md"), ("pdf", "b.pdf", "b.md"),
                                   ("odf", "c.odt", "c.odt.md")):
        (tmp_path / kind / "sources").mkdir(parents=True)
        (tmp_path / kind / "groundtruth").mkdir()
        (tmp_path / kind / "sources" / source).write_bytes(b"x")
        (tmp_path / kind / "groundtruth" / expected).write_text("# x", encoding="utf-8")
    (tmp_path / "odf" / "sources" / "c.odt.pdf").write_bytes(b"x")  # a rendering, not the input
    (tmp_path / "docx" / "groundtruth" / "orphan.docx.md").write_text("x", encoding="utf-8")
    pairs = {(p.fmt, p.source.name, p.expected.name) for p in find_pairs(tmp_path)}
    assert pairs == {("docx", "a.docx", "a.docx.md"), ("pdf", "b.pdf", "b.md"), ("odt", "c.odt", "c.odt.md")}
