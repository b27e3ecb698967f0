"""`eval answers` on a BEIR folder whose queries carry the annotated answer span (the nl-policyqa
format): a tiny set the test makes, the real model, store and extractive assistant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.embedding import Embedder
from core.errors import VraagbaakError
from core.settings import Settings
from eval.answers import (
    holds_span,
    load_beir_answer_set,
    open_corpus_index,
    run_answer_eval,
    span_in_answer,
    write_answer_results,
)

_CORPUS = [
    ("d1", "", "particulieren hoeven hun administratie niet verplicht te bewaren. het is verstandig om uw "
               "administratie 5 jaar te bewaren, want de belastingdienst mag tot 5 jaar terug navorderen."),
    ("d2", "", "een belastingverdrag is een overeenkomst tussen 2 landen. het verdrag voorkomt dat u over "
               "dezelfde inkomsten 2 keer belasting betaalt."),
    ("d3", "", "een paspoort is 10 jaar geldig voor volwassenen. voor kinderen is het paspoort 5 jaar geldig."),
]
_QUERIES = [
    ("q1", "Hoe lang moet ik mijn administratie bewaren?", "5 jaar te bewaren"),
    ("q2", "Wat is een belastingverdrag?", "overeenkomst tussen 2 landen"),
    ("q3", "Hoe lang is een paspoort geldig voor een volwassene?", "10 jaar geldig"),
]


def _write(folder: Path, spans: bool = True, judged: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": i, "title": t, "text": x}) for i, t, x in _CORPUS))
    (folder / "queries.jsonl").write_text("\n".join(
        json.dumps({"_id": i, "text": t, **({"answer": a} if spans else {})}) for i, t, a in _QUERIES))
    (folder / "qrels").mkdir()
    judged = {"q1": "d1", "q2": "d2", "q3": "d3", **(judged or {})}
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t1\n" for q, d in judged.items()))
    return folder


def test_the_span_is_found_case_and_space_insensitively_and_its_terms_are_counted() -> None:
    assert span_in_answer("5 jaar  te bewaren", "Het is verstandig om uw administratie 5 Jaar te bewaren.", "nl") == (True, 1.0)
    hit, recall = span_in_answer("overeenkomst tussen 2 landen", "Een verdrag tussen landen.", "nl")
    assert not hit and recall == pytest.approx(0.5)  # "tussen" and "landen" found, "overeenkomst" and "2" not
    assert span_in_answer("10 jaar geldig", "Ik weet het niet.", "nl") == (False, 0.0)


def test_a_beir_folder_with_answer_spans_is_evaluated_on_the_spans(embedder: Embedder, settings: Settings,
                                                                   tmp_path: Path) -> None:
    folder = _write(tmp_path / "tiny-policyqa")
    items = load_beir_answer_set(folder)
    assert [(i.id, i.expected_documents, i.answer_span) for i in items] == [
        ("q1", ("d1",), "5 jaar te bewaren"), ("q2", ("d2",), "overeenkomst tussen 2 landen"),
        ("q3", ("d3",), "10 jaar geldig")]
    assert [i.id for i in load_beir_answer_set(folder, max_items=2)] == ["q1", "q2"]
    result = run_answer_eval(folder, Path("unused"), embedder, settings, max_items=3)
    assert result.dataset == "tiny-policyqa" and result.items == 3
    answered = [r for r in result.per_item if r.answered]
    assert answered, "the extractive assistant answers these questions from their passages"
    for item in answered:  # the answer cites the judged document and quotes its span
        assert item.cited and set(item.cited) <= {"d1", "d2", "d3"}
        assert item.span_hit is not None and item.span_recall is not None
    assert result.span_hit_rate == pytest.approx(sum(r.span_hit for r in answered) / len(answered))
    assert result.span_hit_rate >= 2 / 3
    assert result.support_rate == pytest.approx(1.0)  # extractive answers are literal quotes
    _, md_path = write_answer_results(result, tmp_path / "out")
    assert "Annotated answer span in the answer" in md_path.read_text(encoding="utf-8")


def test_a_cited_passage_that_states_the_span_counts_as_answering_beside_the_judged_one(
        embedder: Embedder, settings: Settings, tmp_path: Path) -> None:
    """nl-policyqa judges one FAQ entry per question among near-duplicates: `citation_precision` counts
    judged documents only, `citation_precision_span` also a cited passage that states the span."""
    assert holds_span("Een paspoort is 10 jaar  Geldig.", "10 jaar geldig") and not holds_span("10 jaar", "10 jaar geldig")
    assert not holds_span("iets", " ")
    folder = _write(tmp_path / "judged-elsewhere", judged={"q3": "d2"})  # as if the judge had picked another entry
    result = run_answer_eval(folder, Path("unused"), embedder, settings, max_items=3)
    passport = next(r for r in result.per_item if r.id == "q3")
    assert passport.answered and "d3" in passport.cited and "d2" not in passport.cited
    assert passport.citation_precision == 0.0
    assert passport.citation_precision_span == pytest.approx(passport.cited.count("d3") / len(passport.cited))
    spans = [r.citation_precision_span for r in result.per_item if r.citation_precision_span is not None]
    assert result.citation_precision_span == pytest.approx(sum(spans) / len(spans), abs=1e-4)
    assert result.citation_precision_span > result.citation_precision


def test_a_beir_folder_without_answer_spans_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(VraagbaakError, match="no query has an `answer` span"):
        load_beir_answer_set(_write(tmp_path / "no-spans", spans=False))


def test_questions_of_another_set_are_added_as_unanswerable(embedder: Embedder, settings: Settings,
                                                            tmp_path: Path) -> None:
    """`eval answers --unanswerable-from FILE`: a set with answerable questions only (nl-policyqa, the
    government PDFs) gets every third question of another set as its unanswerable half."""
    other = tmp_path / "other.jsonl"
    other.write_text("\n".join(json.dumps({"id": f"o{n}", "question": q, "answerable": True,
                                           "expected_documents": ["elsewhere.md"]}) for n, q in enumerate([
        "Hoe laat gaat het bedrijfsrestaurant open?", "Mag mijn hond mee naar kantoor?",
        "Wie is de directeur van Havenstad?", "Hoeveel kost een parkeerplaats in de garage?"])), encoding="utf-8")
    folder = _write(tmp_path / "tiny-policyqa")
    result = run_answer_eval(folder, Path("unused"), embedder, settings, unanswerable_from=other)
    added = [r for r in result.per_item if r.id.startswith("other-")]
    assert [r.id for r in added] == ["other-o0", "other-o3"] and result.items == 5
    assert not any(r.answerable for r in added) and all(r.answerable for r in result.per_item if r not in added)
    assert result.refusal_rate == sum(not r.answered for r in added) / 2
    assert result.refusal_rate == 1.0  # about a canteen and a garage: nothing in a corpus on tax and passports


def test_a_folder_corpus_is_indexed_once_and_rechecked_on_the_next_run(embedder: Embedder, settings: Settings,
                                                                       tmp_path: Path) -> None:
    """`eval answers` and `eval run` keep the corpus's index and its registry under the data folder: a
    second run reads no unchanged file again, and a changed file is re-indexed."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for doc_id, _, text in _CORPUS:
        (corpus / f"{doc_id}.md").write_text(f"# {doc_id}\n\n{text}\n", encoding="utf-8")
    store, first = open_corpus_index(corpus, "tiny", embedder, settings)
    indexed = store.count()
    store.close()
    assert sorted(first.new) == ["d1.md", "d2.md", "d3.md"] and not first.unchanged
    (corpus / "d3.md").write_text("# d3\n\nEen paspoort is 10 jaar geldig, ook voor kinderen vanaf 18.\n", encoding="utf-8")
    store, second = open_corpus_index(corpus, "tiny", embedder, settings)
    try:
        assert sorted(second.unchanged) == ["d1.md", "d2.md"] and list(second.updated) == ["d3.md"]
        assert not second.new and second.chunks >= 1 and store.count() == indexed  # d3's chunk replaced, not added
    finally:
        store.close()
