"""Shaping the retrieved passages: near duplicates collapsed, neighbouring chunks merged (with
citations still pointing at real chunks, quotes exact), per-source boosts. Real chunker, real
store, real embedding model."""

from __future__ import annotations

from dataclasses import replace

import pytest

from assistant.passages import (
    Part,
    boost,
    cite_chunk,
    cite_chunks,
    collapse_duplicates,
    jaccard,
    merge_neighbours,
    shingles,
)
from assistant.retrieve import Retriever
from assistant.service import Assistant
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from core.types import Answer, AnswerSentence, Citation, Hit, Passage
from ingest.chunk import chunk_document
from ingest.parse import Block
from ingest.pipeline import Ingestor

POLICY = ("Employees who travel to work by bicycle receive a bicycle allowance of 12 cents per kilometre. "
          "The allowance is paid monthly together with the salary. "
          "Employees must register their commuting distance in the HR portal before the first of the month. "
          "A lease bicycle can be ordered through the HR portal as an alternative to the allowance. "
          "The monthly lease price is deducted from the gross salary. "
          "Employees who use a lease bicycle do not receive the kilometre allowance. "
          "Damage to a lease bicycle must be reported to the lease company within two working days. "
          "Theft of a lease bicycle must be reported to the police and to the lease company. "
          "The employer pays the insurance of the lease bicycle. "
          "When the employment ends, the lease contract ends at the same moment. ")
REVISED = POLICY.replace("12 cents", "14 cents").replace("two working days", "three working days")
CANTEEN = ("The canteen on the ground floor is open from 11:30 to 14:00. Lunch is free for all employees. "
           "Vegetarian and vegan meals are available every day. Coffee and tea are free at all times.")


def _chunks_of(text: str, words: int = 40, overlap: int = 15) -> list[Hit]:
    """The real chunker's chunks of one long block, as hits in reading order."""
    chunks = chunk_document("doc-1", "v1", "Mobility policy", [Block(text, "text")], language="en",
                            chunk_words=words, overlap_words=overlap)
    return [Hit(Passage(chunk_id=c.chunk_id, doc_id=c.doc_id, version=c.version, title="Mobility policy",
                        uri="mobility.md", media_type="text", source_id="hr", section_path=c.section_path,
                        page=c.page, text=c.text, language="en", start=c.start, end=c.end, ordinal=c.ordinal,
                        groups=("everyone",)), score=1.0 / (i + 1), dense_score=0.9, rank=i + 1)
            for i, c in enumerate(chunks)]


# ------------------------------------------------------------------------------ near duplicates


def test_shingle_similarity_tells_a_revised_paragraph_from_another_one() -> None:
    assert jaccard(shingles(POLICY), shingles(REVISED)) >= 0.8
    assert jaccard(shingles(POLICY), shingles(CANTEEN)) == 0.0
    assert shingles("") == frozenset() and jaccard(shingles(""), shingles("")) == 0.0


def test_a_near_duplicate_keeps_the_better_ranked_passage_and_names_the_dropped_document() -> None:
    hits = [replace(h, passage=replace(h.passage, chunk_id=f"c{i}", doc_id=d, text=t))
            for i, (h, d, t) in enumerate(zip(_chunks_of(CANTEEN * 3)[:1] * 3, ["old", "new", "canteen"],
                                               [POLICY, REVISED, CANTEEN], strict=True))]
    kept, duplicates = collapse_duplicates(hits, 0.8)
    assert [h.passage.doc_id for h in kept] == ["old", "canteen"]
    assert [h.rank for h in kept] == [1, 2]
    assert duplicates == {"c0": ("new",)}
    assert [h.passage.doc_id for h in collapse_duplicates(hits, 1.0)[0]] == ["old", "new", "canteen"]


@pytest.fixture
def two_versions(store: QdrantStore, embedder: Embedder, settings: Settings) -> Settings:
    """A corpus with the same policy twice (the 2023 and the 2024 text) and a canteen page."""
    ingest = settings.ingest.model_copy(update={"chunk_words": 400})  # each document is one chunk
    Ingestor(store, embedder, ingest).ingest_texts(
        [("bicycle-2023", "Bicycle policy 2023", POLICY), ("bicycle-2024", "Bicycle policy 2024", REVISED),
         ("canteen", "Canteen", CANTEEN)], source_id="hr")
    return settings


def test_retrieval_hands_the_generator_one_of_two_near_identical_documents(
        two_versions: Settings, store: QdrantStore, embedder: Embedder) -> None:
    question = "How much is the bicycle allowance per kilometre?"
    plain = Retriever(store, embedder, two_versions.retrieval.model_copy(update={"dedupe": False}))
    assert {h.passage.doc_id for h in plain.retrieve(question, language="en", groups=None).hits} == {
        "bicycle-2023", "bicycle-2024", "canteen"}
    found = Retriever(store, embedder, two_versions.retrieval).retrieve(question, language="en", groups=None)
    docs = [h.passage.doc_id for h in found.hits]
    assert len(docs) == 2 and "canteen" in docs
    kept = next(h for h in found.hits if h.passage.doc_id.startswith("bicycle"))
    twin = {"bicycle-2023", "bicycle-2024"} - {kept.passage.doc_id}
    assert found.duplicates == {kept.passage.chunk_id: tuple(twin)}


# ------------------------------------------------------------------------------ neighbouring chunks


def test_overlapping_neighbours_merge_into_the_document_text_without_repeating_the_overlap() -> None:
    chunks = _chunks_of(POLICY)
    assert len(chunks) >= 3 and chunks[1].passage.start < chunks[0].passage.end  # the chunker overlaps
    hits = [chunks[1], chunks[0], chunks[2]]  # ordinal 1 ranked first
    merged, parts = merge_neighbours(hits)
    first = merged[0].passage
    assert first.text == POLICY.strip()[chunks[0].passage.start:chunks[1].passage.end]
    assert first.chunk_id == chunks[0].passage.chunk_id and merged[0].rank == 1
    assert merged[0].score == max(chunks[0].score, chunks[1].score)  # the best of the two
    assert [h.passage.chunk_id for h in merged[1:]] == [chunks[2].passage.chunk_id]  # at most two chunks joined
    pieces = parts[first.chunk_id]
    for part in pieces:
        assert first.text[part.begin:part.end] == part.hit.passage.text


def test_chunks_of_other_documents_sections_or_far_apart_are_not_merged() -> None:
    chunks = _chunks_of(POLICY)
    other_doc = replace(chunks[1], passage=replace(chunks[1].passage, doc_id="doc-2"))
    other_section = replace(chunks[1], passage=replace(chunks[1].passage, section_path=("Lease",)))
    for hits in ([chunks[0], other_doc], [chunks[0], other_section], [chunks[0], chunks[2]]):
        merged, parts = merge_neighbours(hits)
        assert len(merged) == 2 and parts == {}


def test_neighbours_without_overlap_are_joined_as_in_the_document() -> None:
    chunks = _chunks_of(POLICY)
    a, b = chunks[1], chunks[2]
    assert b.passage.start == a.passage.end + 1  # two pieces of one block, a space apart
    merged, parts = merge_neighbours([a, b])
    assert merged[0].passage.text == POLICY[a.passage.start:b.passage.end]
    block = replace(b, passage=replace(b.passage, start=a.passage.end + 2, text="Separate block."))
    merged, parts = merge_neighbours([a, block])
    assert merged[0].passage.text == a.passage.text + "\n\nSeparate block."
    assert parts[a.passage.chunk_id][1].begin == len(a.passage.text) + 2


def _cite_merged(merged: Hit, start: int, end: int) -> Citation:
    text = merged.passage.text
    return Citation(number=1, chunk_id=merged.passage.chunk_id, doc_id="doc-1", version="v1", title="t", uri="u",
                    page=None, section="", passage=text, quote=text[start:end], quote_start=start, quote_end=end,
                    score=0.9, language="en")


def test_a_quote_in_a_merged_passage_is_cited_in_the_real_chunk_with_exact_offsets() -> None:
    chunks = _chunks_of(POLICY)
    first, second = chunks[2].passage, chunks[3].passage
    assert second.start < first.end  # they overlap
    merged, parts = merge_neighbours([chunks[2], chunks[3]])
    hit, pieces = merged[0], parts[merged[0].passage.chunk_id]
    text = hit.passage.text
    by_id = {c.passage.chunk_id: c.passage.text for c in chunks}

    # a sentence only the second chunk has
    sentence = "Damage to a lease bicycle must be reported to the lease company within two working days."
    start = text.index(sentence)
    cite = cite_chunk(_cite_merged(hit, start, start + len(sentence)), pieces)
    assert cite.chunk_id == second.chunk_id and cite.passage == second.text
    assert cite.quote == sentence == by_id[cite.chunk_id][cite.quote_start:cite.quote_end]

    # a sentence in the overlap (both chunks have it): the first chunk that holds it whole
    overlap_start = pieces[1].begin
    overlap_sentence = text[overlap_start:text.index(".", overlap_start) + 1]
    cite = cite_chunk(_cite_merged(hit, overlap_start, overlap_start + len(overlap_sentence)), pieces)
    assert cite.chunk_id == first.chunk_id and cite.quote == overlap_sentence
    assert by_id[cite.chunk_id][cite.quote_start:cite.quote_end] == overlap_sentence

    # a quote across the boundary (from a sentence only the first chunk has into one only the
    # second has): cited in the chunk that holds most of it, cut to that chunk, still exact
    start = text.rindex(". ", 0, overlap_start) + 2
    end = text.index(sentence) + len(sentence)
    cite = cite_chunk(_cite_merged(hit, start, end), pieces)
    assert cite.chunk_id == second.chunk_id
    assert cite.quote == by_id[cite.chunk_id][cite.quote_start:cite.quote_end]
    assert cite.quote_end == text.index(sentence) + len(sentence) - pieces[1].begin
    assert text[start:end].endswith(cite.quote)

    # the whole merged passage (a suggestion): the better-ranked chunk, whole
    cite = cite_chunk(_cite_merged(hit, 0, len(text)), pieces)
    assert cite.chunk_id == first.chunk_id and cite.quote == first.text


def test_citations_of_unmerged_passages_are_left_alone() -> None:
    chunks = _chunks_of(POLICY)
    plain = Citation(number=1, chunk_id=chunks[2].passage.chunk_id, doc_id="doc-1", version="v1", title="t",
                     uri="u", page=None, section="", passage=chunks[2].passage.text, quote="x", quote_start=0,
                     quote_end=1, score=0.9, language="en")
    answer = Answer(question="q", language="en", answered=True, sentences=(AnswerSentence("x", (1,)),),
                    citations=(plain,), generator="extractive")
    _, parts = merge_neighbours([chunks[0], chunks[1]])
    assert cite_chunks(answer, parts) == answer
    assert cite_chunks(answer, {}) is answer
    assert isinstance(next(iter(parts.values()))[0], Part)


@pytest.fixture
def long_policy(store: QdrantStore, embedder: Embedder, settings: Settings) -> Settings:
    ingest = settings.ingest.model_copy(update={"chunk_words": 40, "chunk_overlap_words": 15})
    Ingestor(store, embedder, ingest).ingest_texts([("mobility", "Mobility policy", POLICY),
                                                    ("canteen", "Canteen", CANTEEN)], source_id="hr")
    return settings.model_copy(update={"retrieval": settings.retrieval.model_copy(update={"merge_neighbours": True})})


def test_answers_from_merged_passages_cite_stored_chunks_with_exact_quotes(
        long_policy: Settings, store: QdrantStore, embedder: Embedder) -> None:
    assistant = Assistant.build(long_policy, store, embedder)
    question = "What happens with the lease bicycle allowance and insurance?"
    retrieval = assistant.retriever.retrieve(question, language="en", groups=None)
    assert retrieval.merged, "two neighbouring chunks of the policy should be merged"
    stored = {p.chunk_id: p.text for p in store.passages("mobility", None)}
    merged_text = next(h.passage.text for h in retrieval.hits if h.passage.chunk_id in retrieval.merged)
    assert merged_text in POLICY and merged_text not in stored.values()
    answer = assistant.ask(question, groups=None)
    assert answer.answered and answer.citations
    for cite in (*answer.citations, *answer.suggestions):
        if cite.doc_id == "mobility":
            assert cite.chunk_id in stored and cite.passage == stored[cite.chunk_id]
            assert stored[cite.chunk_id][cite.quote_start:cite.quote_end] == cite.quote != ""


def test_merging_can_be_switched_off(long_policy: Settings, store: QdrantStore, embedder: Embedder) -> None:
    off = long_policy.retrieval.model_copy(update={"merge_neighbours": False})
    retrieval = Retriever(store, embedder, off).retrieve("lease bicycle insurance", language="en", groups=None)
    assert retrieval.merged == {} and len(retrieval.hits) == off.top_k


# ------------------------------------------------------------------------------ per-source boosts


def test_a_boost_multiplies_the_fused_score_and_reorders() -> None:
    hits = [replace(h, passage=replace(h.passage, source_id=s)) for h, s in
            zip(_chunks_of(POLICY)[:3], ["intranet", "policies", "intranet"], strict=True)]
    boosted = boost(hits, {"policies": 3.0, "intranet": 0.5})
    assert [h.passage.source_id for h in boosted] == ["policies", "intranet", "intranet"]
    assert [h.rank for h in boosted] == [1, 2, 3]
    assert boosted[0].score == pytest.approx(hits[1].score * 3.0)
    assert boost(hits, {}) == hits


def test_a_boosted_source_wins_before_the_cut(store: QdrantStore, embedder: Embedder, settings: Settings) -> None:
    ingest = settings.ingest.model_copy(update={"chunk_words": 400})
    ingestor = Ingestor(store, embedder, ingest)
    ingestor.ingest_texts([("intranet-page", "Canteen (old intranet)", CANTEEN)], source_id="old-intranet")
    ingestor.ingest_texts([("policy", "Lunch policy", "Employees get a free lunch in the canteen on working days. "
                                                      "Guests pay for their lunch at the till.")], source_id="policies")
    question = "When is the canteen open for lunch?"
    plain = settings.retrieval.model_copy(update={"top_k": 1})
    assert Retriever(store, embedder, plain).retrieve(question, language="en", groups=None).hits[0].passage.doc_id \
        == "intranet-page"
    boosted = plain.model_copy(update={"source_boosts": {"policies": 5.0}})
    hits = Retriever(store, embedder, boosted).retrieve(question, language="en", groups=None).hits
    assert [h.passage.doc_id for h in hits] == ["policy"]
