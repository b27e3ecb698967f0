"""Windows of consecutive chunks (the document-level list of hybrid retrieval) at ingest: written
only while `retrieval.window_weight` > 0, backfilled from the stored chunks when it is switched on,
switched, relabelled and removed with their documents, and filtered by access group like chunks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import models

from core import schema
from core.db import Database
from core.embedding import Embedder
from core.lexical import BM25Encoder
from core.settings import Settings
from core.store import QdrantStore, point_id
from ingest.chunk import windows
from ingest.erasure import erase_document
from ingest.pipeline import Ingestor, document_id
from ingest.registry import Registry
from tests.ingest.lms_fixtures import scorm12_members, write_zip

TRAVEL = "\n\n".join(
    f"## Regel {n}\n\n" + " ".join([f"Reiskosten voor dienstreizen met de trein worden vergoed volgens regel {n}, "
                                    "op vertoon van het vervoersbewijs en binnen dertig dagen na de reis."] * 6)
    for n in range(6))
"""A document of about 1,000 words: several windows of several chunks each."""

QUESTION = "Hoe worden reiskosten van dienstreizen met de trein vergoed?"


def _with_weight(settings: Settings, weight: float) -> Settings:
    return settings.model_copy(update={"retrieval": settings.retrieval.model_copy(update={"window_weight": weight})})


@pytest.fixture
def windowed(settings: Settings) -> Iterator[QdrantStore]:
    """The test's embedded store opened with windows on (weight 0.5)."""
    store = QdrantStore.open(_with_weight(settings, 0.5))
    yield store
    store.close()


def _corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "reizen.md").write_text(f"# Reiskostenregeling\n\n{TRAVEL}", encoding="utf-8")
    (corpus / "kantine.md").write_text("# Kantine\n\nDe kantine is open van 8 tot 14 uur.", encoding="utf-8")
    return corpus


def _window_points(store: QdrantStore, doc_id: str | None = None) -> list[models.Record]:
    flt = models.Filter(must=[models.FieldCondition(key=schema.DOC_ID, match=models.MatchValue(value=doc_id))]) \
        if doc_id else None
    points, _ = store.client.scroll(store.windows, scroll_filter=flt, limit=1000, with_payload=True,
                                    with_vectors=True)
    return sorted(points, key=lambda p: (p.payload[schema.DOC_ID], p.payload[schema.FIRST]))


def _spans(store: QdrantStore, doc_id: str) -> list[dict]:
    return [p.payload for p in _window_points(store, doc_id)]


def _assert_windows_match_chunks(store: QdrantStore) -> None:
    """The windows collection holds exactly the windows of the stored, searchable document versions:
    no duplicate, none of an old version or a removed document, none missing."""
    versions = sorted({(p.doc_id, p.version) for doc in store.documents() for p in store.passages(doc, groups=None)})
    expected = {point_id(w.window_id) for _, chunks, _ in store.stored_chunks(versions)
                for w in windows(chunks, store.passages(chunks[0].doc_id, groups=None)[0].title)}
    found = [str(p.id) for p in _window_points(store)]
    assert len(found) == len(set(found)) and set(found) == expected


def _search(store: QdrantStore, embedder: Embedder, groups: list[str] | None, weight: float):
    vector = embedder.embed_queries([QUESTION])[0].tolist()
    return store.search(dense=vector, sparse=BM25Encoder().encode_query(QUESTION, "nl"), limit=10, groups=groups,
                        window_weight=weight)


def test_with_the_weight_at_zero_no_window_is_built_or_searched(embedder: Embedder, settings: Settings,
                                                                 tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.retrieval.window_weight > 0  # on by default; this test switches them off
    settings = _with_weight(settings, 0.0)
    store = QdrantStore.open(settings)
    assert not store.keeps_windows
    embedded: list[str] = []
    real = embedder.embed_passages
    monkeypatch.setattr(embedder, "embed_passages", lambda texts: embedded.extend(texts) or real(texts))
    report = Ingestor(store, embedder, settings.ingest).ingest_folder(_corpus(tmp_path), "docs")
    assert report.chunks == len(embedded)  # the chunks, nothing else
    assert not store.client.collection_exists(store.windows)

    queried: list[str] = []
    query_points = store.client.query_points
    monkeypatch.setattr(store.client, "query_points",
                        lambda collection, **kw: queried.append(collection) or query_points(collection, **kw))
    assert _search(store, embedder, None, 0.0)
    assert queried and store.windows not in queried
    store.close()


def test_windows_follow_their_document_version_groups_and_lifecycle(
        windowed: QdrantStore, embedder: Embedder, settings: Settings, tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    ingestor = Ingestor(windowed, embedder, settings.ingest.model_copy(update={"default_groups": ["hr"]}))
    ingestor.ingest_folder(corpus, "docs")
    reizen = document_id("docs", "reizen.md")
    chunks = windowed.passages(reizen, groups=None)
    spans = _spans(windowed, reizen)
    assert len(chunks) >= 4 and 2 <= len(spans) < len(chunks)
    assert [p[schema.FIRST] for p in spans] == [0, *(p[schema.LAST] + 1 for p in spans[:-1])]  # no gap, no overlap
    assert spans[-1][schema.LAST] == max(c.ordinal for c in chunks)
    assert all(p[schema.GROUPS] == ["hr"] and p[schema.ACTIVE] is True and p[schema.WHOLE] is False for p in spans)
    kantine = _spans(windowed, document_id("docs", "kantine.md"))
    assert len(kantine) == 1 and kantine[0][schema.WHOLE] is True  # a short document: one window, no vote
    assert {p[schema.VERSION] for p in spans} == {chunks[0].version}
    _assert_windows_match_chunks(windowed)

    plain = _search(windowed, embedder, ["hr"], 0.0)
    voted = _search(windowed, embedder, ["hr"], 1.0)
    gained = {h.passage.chunk_id: h.score for h in voted}
    assert all(gained[h.passage.chunk_id] > h.score for h in plain if h.passage.doc_id == reizen)
    assert all(gained[h.passage.chunk_id] == h.score for h in plain if h.passage.doc_id != reizen)
    # the windows' query is filtered like the chunks': a reader outside `hr` gets neither
    assert _search(windowed, embedder, ["sales"], 1.0) == []

    # a re-run writes nothing twice
    again = ingestor.ingest_folder(corpus, "docs")
    assert again.chunks == 0 and not again.changed
    _assert_windows_match_chunks(windowed)

    # new groups, and being superseded, reach the windows without re-embedding
    (corpus / "reizen.md.meta.yml").write_text("groups: [hr, sales]\nsuperseded_by: reizen-2027.md\n",
                                               encoding="utf-8")
    assert ingestor.ingest_folder(corpus, "docs").chunks == 0
    assert all(p[schema.GROUPS] == ["hr", "sales"] and p[schema.SUPERSEDED] is True for p in _spans(windowed, reizen))
    assert not [h for h in _search(windowed, embedder, ["sales"], 1.0) if h.passage.doc_id == reizen]
    (corpus / "reizen.md.meta.yml").write_text("groups: [hr, sales]\n", encoding="utf-8")
    ingestor.ingest_folder(corpus, "docs")
    assert {h.passage.doc_id for h in _search(windowed, embedder, ["sales"], 1.0)} == {reizen}

    # a new version replaces the windows; removing the document removes them
    (corpus / "reizen.md").write_text(f"# Reiskostenregeling\n\n{TRAVEL.replace('dertig', 'veertig')}",
                                      encoding="utf-8")
    ingestor.ingest_folder(corpus, "docs")
    new_version = windowed.passages(reizen, groups=None)[0].version
    assert new_version != chunks[0].version
    assert {p[schema.VERSION] for p in _spans(windowed, reizen)} == {new_version}
    _assert_windows_match_chunks(windowed)
    (corpus / "reizen.md").unlink()
    ingestor.ingest_folder(corpus, "docs")
    assert _spans(windowed, reizen) == [] and windowed.passages(reizen, groups=None) == []
    _assert_windows_match_chunks(windowed)


def test_a_reader_outside_the_group_never_gets_a_chunk_through_a_window(
        windowed: QdrantStore, embedder: Embedder, settings: Settings, tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    (corpus / "hr").mkdir(parents=True)
    (corpus / "hr" / "reizen.md").write_text(f"# Reiskostenregeling\n\n{TRAVEL}", encoding="utf-8")
    (corpus / "hr" / ".vraagbaak.yml").write_text("groups: [hr]\n", encoding="utf-8")
    (corpus / "fietsen.md").write_text("# Fietsplan\n\n" + "\n\n".join(
        f"De fiets van de zaak wordt vergoed volgens artikel {n}; reiskosten met de fiets vallen er ook onder."
        for n in range(40)), encoding="utf-8")
    Ingestor(windowed, embedder, settings.ingest).ingest_folder(corpus, "docs")
    reizen = document_id("docs", "hr/reizen.md")
    assert {p[schema.GROUPS][0] for p in _spans(windowed, reizen)} == {"hr"}
    for groups in (["everyone"], ["sales", "everyone"]):
        hits = _search(windowed, embedder, groups, 5.0)
        assert hits and reizen not in {h.passage.doc_id for h in hits}
    assert reizen in {h.passage.doc_id for h in _search(windowed, embedder, ["hr"], 5.0)}


def test_switching_windows_on_backfills_them_and_off_keeps_none_stale(
        embedder: Embedder, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _with_weight(settings, 0.0)  # start with windows off
    store = QdrantStore.open(settings)
    corpus = _corpus(tmp_path)
    registry = Registry(Database.open(f"sqlite:///{tmp_path / 'registry.db'}"))
    Ingestor(store, embedder, settings.ingest, registry).ingest_folder(corpus, "docs")
    assert not store.client.collection_exists(store.windows)
    reizen = document_id("docs", "reizen.md")
    before = _search(store, embedder, None, 0.5)  # weight asked for, no windows: the chunk lists alone
    assert before and before[0].passage.doc_id == reizen
    store.close()

    on = QdrantStore.open(_with_weight(settings, 0.5))
    embedded: list[str] = []
    real = embedder.embed_passages
    monkeypatch.setattr(embedder, "embed_passages", lambda texts: embedded.extend(texts) or real(texts))
    ingestor = Ingestor(on, embedder, settings.ingest, registry)
    report = ingestor.ingest_folder(corpus, "docs")
    assert report.unchanged == ("kantine.md", "reizen.md") and report.chunks == 0  # nothing parsed or re-embedded
    spans = _spans(on, reizen)
    assert len(spans) >= 2 and len(embedded) == len(spans)  # one embedding per window of several chunks
    _assert_windows_match_chunks(on)
    vectors = [np.asarray(p.vector[schema.DENSE]) for p in _window_points(on)]
    assert all(abs(float(np.linalg.norm(v)) - 1) < 1e-3 for v in vectors)
    assert ingestor.ingest_folder(corpus, "docs").chunks == 0 and len(embedded) == len(spans)  # done once
    on.close()

    # off again: a changed document keeps no window of its old version; switched on, it gets new ones
    off = QdrantStore.open(settings)
    (corpus / "reizen.md").write_text(f"# Reiskostenregeling\n\n{TRAVEL.replace('dertig', 'veertig')}",
                                      encoding="utf-8")
    Ingestor(off, embedder, settings.ingest, registry).ingest_folder(corpus, "docs")
    assert _spans(off, reizen) == [] and len(_spans(off, document_id("docs", "kantine.md"))) == 1
    off.close()
    on = QdrantStore.open(_with_weight(settings, 0.5))
    Ingestor(on, embedder, settings.ingest, registry).ingest_folder(corpus, "docs")
    assert {p[schema.VERSION] for p in _spans(on, reizen)} == {on.passages(reizen, groups=None)[0].version}
    _assert_windows_match_chunks(on)
    on.close()


def test_erasure_removes_the_windows_even_with_windows_off(
        windowed: QdrantStore, embedder: Embedder, settings: Settings, tmp_path: Path) -> None:
    registry = Registry(Database.open(f"sqlite:///{tmp_path / 'registry.db'}"))
    Ingestor(windowed, embedder, settings.ingest, registry).ingest_folder(_corpus(tmp_path), "docs")
    reizen = document_id("docs", "reizen.md")
    assert _spans(windowed, reizen)
    windowed.close()
    off = QdrantStore.open(_with_weight(settings, 0.0))  # the process that erases has windows off
    try:
        erase_document(Ingestor(off, embedder, settings.ingest, registry), registry.database, reizen)
        assert _spans(off, reizen) == [] and off.passages(reizen, groups=None) == []
        assert _spans(off, document_id("docs", "kantine.md"))
    finally:
        off.close()


LESSON = "\n".join(f"Wachtwoordregel {n}: een sterk wachtwoord heeft minstens twaalf tekens, je deelt het met "
                   f"niemand en je gebruikt het nergens anders; wissel het na een datalek direct." for n in range(60))


def test_package_lessons_get_their_windows_with_the_package_groups(
        windowed: QdrantStore, embedder: Embedder, settings: Settings, tmp_path: Path) -> None:
    from tests.ingest.lms_fixtures import page

    root = tmp_path / "lms"
    root.mkdir()
    members = scorm12_members()
    members["module1/wachtwoorden.html"] = page("Sterke wachtwoorden", *LESSON.split("\n"))
    package = write_zip(root / "informatiebeveiliging-scorm12.zip", members)
    (root / "informatiebeveiliging-scorm12.zip.meta.yml").write_text("groups: [ict]\n", encoding="utf-8")
    registry = Registry(Database.open(f"sqlite:///{tmp_path / 'registry.db'}"))
    ingestor = Ingestor(windowed, embedder, settings.ingest, registry)
    report = ingestor.ingest_folder(root, "lms")
    lessons = windowed.documents("lms")
    assert len(lessons) == len(report.new) >= 2 and not report.failed
    long_lesson = next(d for d, info in lessons.items() if "wachtwoorden.html" in str(info["uri"]))
    for doc in lessons:
        spans = _spans(windowed, doc)
        version = windowed.passages(doc, groups=None)[0].version
        assert spans and all(p[schema.GROUPS] == ["ict"] and p[schema.VERSION] == version for p in spans)
        assert all(p[schema.SOURCE_ID] == "lms" for p in spans)
        assert (len(spans) >= 2 and not spans[0][schema.WHOLE]) if doc == long_lesson else spans[0][schema.WHOLE]
    _assert_windows_match_chunks(windowed)

    vector = embedder.embed_queries(["Hoe lang moet een sterk wachtwoord zijn?"])[0].tolist()
    sparse = BM25Encoder().encode_query("Hoe lang moet een sterk wachtwoord zijn?", "nl")
    plain = windowed.search(dense=vector, sparse=sparse, limit=5, groups=["ict"])
    voted = windowed.search(dense=vector, sparse=sparse, limit=5, groups=["ict"], window_weight=0.5)
    assert voted[0].passage.doc_id == long_lesson and voted[0].score > plain[0].score
    assert windowed.search(dense=vector, sparse=sparse, limit=5, groups=["hr"], window_weight=0.5) == []

    # a changed lesson replaces its windows; erasing the package removes every lesson's windows
    members["module1/wachtwoorden.html"] = page("Sterke wachtwoorden", *LESSON.replace("twaalf", "veertien")
                                                .split("\n")[:30])
    write_zip(package, members)
    ingestor.ingest_folder(root, "lms")
    _assert_windows_match_chunks(windowed)
    package_id = next(e.doc_id for e in registry.entries("lms").values() if e.media_type == "package")
    erase_document(ingestor, registry.database, package_id)
    assert not any(_spans(windowed, doc) for doc in lessons)
    assert _window_points(windowed) == []


def test_windows_order_the_documents_and_leave_the_passages_of_the_answer_alone(
        windowed: QdrantStore, embedder: Embedder, settings: Settings, tmp_path: Path) -> None:
    """The windows' vote re-ranks documents (`Retrieval.ranked`: the refusal's closest documents, the
    retrieval evaluation); the passages an answer is made from (`Retrieval.hits`) and so the answer
    itself are those of the chunk lists alone, as with windows off."""
    from assistant.extractive import ExtractiveGenerator, refusal
    from assistant.retrieve import Retriever

    Ingestor(windowed, embedder, settings.ingest).ingest_folder(_corpus(tmp_path), "docs")
    reizen = document_id("docs", "reizen.md")
    on = Retriever(windowed, embedder, _with_weight(settings, 0.5).retrieval).retrieve(
        QUESTION, language="nl", groups=None, limit=8)
    off = Retriever(windowed, embedder, _with_weight(settings, 0.0).retrieval).retrieve(
        QUESTION, language="nl", groups=None, limit=8)

    assert [h.passage.chunk_id for h in on.hits] == [h.passage.chunk_id for h in off.hits]
    assert off.documents is None and off.ranked == off.hits
    assert on.documents is not None
    voted = {h.passage.chunk_id: h.score for h in on.ranked}
    plain = {h.passage.chunk_id: h.score for h in off.hits}
    assert any(voted[c] > plain[c] for c in voted.keys() & plain.keys())  # the vote was counted ...
    assert all(h.passage.doc_id == reizen for h in on.ranked if voted[h.passage.chunk_id] > plain.get(
        h.passage.chunk_id, voted[h.passage.chunk_id]))  # ... for the long document's chunks only
    assert on.document_ids()[0] == reizen
    assert [h.passage.chunk_id for h in on.ranked] == [h.passage.chunk_id for h in _search(
        windowed, embedder, None, 0.5)][:8]

    # a refusal offers the closest documents in the document order
    offered = refusal(QUESTION, "nl", on, "low_evidence", "extractive", {}).suggestions
    assert [c.doc_id for c in offered] == on.document_ids()[:3] and len(offered) == 2

    generator = ExtractiveGenerator(embedder, settings.answer)
    with_windows, without = generator.generate(QUESTION, on), generator.generate(QUESTION, off)
    assert with_windows.answered and with_windows.sentences == without.sentences
    assert [c.chunk_id for c in with_windows.citations] == [c.chunk_id for c in without.citations]
