"""Heading-aware chunks keep their original text, section path, page and span."""

from __future__ import annotations

from ingest.chunk import chunk_document, document_text, windows
from ingest.parse import Block

BLOCKS = [
    Block("Verlofregeling", "heading", 1, 1),
    Block("Algemeen", "heading", 2, 1),
    Block("Deze regeling geldt voor alle medewerkers.", "text", 0, 1),
    Block("Vakantiedagen", "heading", 2, 2),
    Block("Een voltijder heeft recht op 25 vakantiedagen per jaar.", "text", 0, 2),
    Block("Parttimers krijgen dagen naar rato.", "text", 0, 2),
    Block("Aanvragen", "heading", 3, 3),
    Block(" ".join(f"Zin nummer {i} over het aanvragen van verlof in het portaal." for i in range(40)), "text", 0, 3),
]


def test_chunks_follow_sections_and_keep_exact_spans() -> None:
    chunks = chunk_document("d1", "v1", "Verlofregeling", BLOCKS, language="nl", chunk_words=80, overlap_words=15)
    text, _ = document_text(BLOCKS)
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text
    vakantie = next(c for c in chunks if "25 vakantiedagen" in c.text)
    assert vakantie.section_path == ("Verlofregeling", "Vakantiedagen")
    assert "naar rato" in vakantie.text  # same section, merged
    assert vakantie.page == 2
    assert vakantie.embed_text.startswith("Verlofregeling › Vakantiedagen\n")
    assert not any("Deze regeling" in c.text and "25 vakantiedagen" in c.text for c in chunks)


def test_long_block_is_split_at_sentences_with_overlap() -> None:
    chunks = chunk_document("d1", "v1", "Verlofregeling", BLOCKS, language="nl", chunk_words=80, overlap_words=15)
    long = [c for c in chunks if c.section_path[-1] == "Aanvragen"]
    assert len(long) >= 5
    assert all(len(c.text.split()) <= 80 for c in long)
    assert all(c.text.endswith(".") for c in long)
    assert long[0].end > long[1].start  # overlapping windows
    assert long[0].section_path == ("Verlofregeling", "Vakantiedagen", "Aanvragen")


def test_ids_are_content_hashes() -> None:
    first = chunk_document("d1", "v1", "T", BLOCKS, language="nl")
    again = chunk_document("d1", "v1", "T", BLOCKS, language="nl")
    changed = chunk_document("d1", "v2", "T", BLOCKS, language="nl")
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert not {c.chunk_id for c in first} & {c.chunk_id for c in changed}


def test_windows_cover_the_document_in_consecutive_runs_of_chunks() -> None:
    chunks = chunk_document("d1", "v1", "Verlofregeling", BLOCKS, language="nl", chunk_words=80, overlap_words=15)
    found = windows(chunks, "Verlofregeling", words=150)
    assert len(found) >= 3 and not any(w.whole for w in found)
    assert [w.first for w in found] == [0, *(w.last + 1 for w in found[:-1])] and found[-1].last == len(chunks) - 1
    by_ordinal = {c.ordinal: c for c in chunks}
    for window in found:
        inside = [by_ordinal[o] for o in range(window.first, window.last + 1)]
        assert len(inside) == 1 or sum(len(c.text.split()) for c in inside) <= 150
        if len(inside) == 1:
            assert window.embed_text == ""  # its vector is the chunk's
        else:
            assert window.embed_text.startswith("Verlofregeling\n") and all(c.text in window.embed_text for c in inside)
    assert windows(chunks, "Verlofregeling", words=150) == found  # ids are stable
    whole = windows(chunks, "Verlofregeling", words=10_000)
    assert len(whole) == 1 and whole[0].whole and (whole[0].first, whole[0].last) == (0, len(chunks) - 1)
    assert whole[0].embed_text == ""  # it never votes: not embedded
