"""Questions over the ingested demo corpus, answered by the real pipeline (model, Qdrant, extractive)."""

from __future__ import annotations

import pytest

from assistant.service import Assistant
from core.embedding import Embedder
from core.errors import ErrorCode, VraagbaakError
from core.settings import Settings
from core.store import QdrantStore


@pytest.fixture(scope="module")
def assistant(base_settings: Settings, demo_store: QdrantStore, embedder: Embedder) -> Assistant:
    return Assistant.build(base_settings, demo_store, embedder)


def test_dutch_question_is_answered_in_dutch_with_a_cited_quote(assistant: Assistant) -> None:
    answer = assistant.ask("Hoeveel vakantiedagen heb ik?", groups=())
    assert answer.answered and answer.language == "nl"
    assert "25 vakantiedagen" in answer.text
    assert answer.citations and all(s.citations for s in answer.sentences)
    cited = answer.citations[0]
    assert cited.uri == "beleid/verlofregeling.pdf" and cited.page is not None
    assert cited.passage[cited.quote_start:cited.quote_end] == cited.quote
    # every sentence shown is a literal quote from its cited passage
    by_number = {c.number: c for c in answer.citations}
    for sentence in answer.sentences:
        assert any(sentence.text in by_number[n].passage for n in sentence.citations)


def test_english_question_over_dutch_documents_is_answered_with_a_language_notice(assistant: Assistant) -> None:
    answer = assistant.ask("How many vacation days does a full-time employee get per year?", groups=())
    assert answer.answered and answer.language == "en"
    assert "25" in answer.text
    assert answer.citations[0].uri == "beleid/verlofregeling.pdf"
    assert answer.notice and "Dutch" in answer.notice


@pytest.mark.parametrize("question", [
    "Kan ik via de zaak een leaseauto rijden?",
    "Is there a company childcare arrangement for toddlers?",
])
def test_question_the_corpus_cannot_answer_is_refused(assistant: Assistant, question: str) -> None:
    answer = assistant.ask(question, groups=())
    assert not answer.answered
    assert answer.refusal_reason in {"low_evidence", "no_results"}
    assert answer.citations == ()
    assert answer.suggestions  # "maybe look here"
    expected = "niet gevonden" if question.startswith("Kan") else "could not find"
    assert expected in answer.text


def test_empty_and_oversized_questions_are_refused_with_a_clear_error(assistant: Assistant) -> None:
    with pytest.raises(VraagbaakError) as empty:
        assistant.ask("   ", groups=())
    assert empty.value.code is ErrorCode.BAD_REQUEST
    with pytest.raises(VraagbaakError, match="too long"):
        assistant.ask("waarom " * 500, groups=())


def test_retrieval_filters_access_groups_inside_the_query(base_settings: Settings, demo_store: QdrantStore,
                                                          embedder: Embedder, store: QdrantStore,
                                                          tmp_path) -> None:
    from ingest.pipeline import Ingestor
    from tests.fixtures import small_corpus

    corpus = small_corpus(tmp_path / "secret")
    restricted = base_settings.ingest.model_copy(update={"default_groups": ["directie"]})
    Ingestor(store, embedder, restricted).ingest_folder(corpus, "secret")
    assistant = Assistant.build(base_settings, store, embedder)
    outsider = assistant.ask("Hoeveel vakantiedagen krijgt een medewerker met 38 uur?", groups=["sales"])
    assert not outsider.answered and not outsider.suggestions
    insider = assistant.ask("Hoeveel vakantiedagen krijgt een medewerker met 38 uur?", groups=["directie"])
    assert insider.answered and "27 vakantiedagen" in insider.text
