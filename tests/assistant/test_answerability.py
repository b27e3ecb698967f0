"""Answerability from the kind of answer the question asks for: a how-much question whose passage
holds no amount is refused, the same question over a passage with the amount is answered (Dutch and
English, real embedder, real embedded store)."""

from __future__ import annotations

import pytest

from assistant import extractive
from assistant.extractive import expected_answer, holds_answer
from assistant.service import Assistant
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from ingest.pipeline import Ingestor

_OTHER = ("kantine", "Bedrijfsrestaurant",
          "Het bedrijfsrestaurant op de begane grond serveert elke werkdag soep, een warm gerecht en een saladebar. "
          "Allergieën meld je bij de cateraar.")
_PARKING = {
    "nl": ("Parkeren", "Parkeren bij het kantoor",
           "Medewerkers parkeren bij het kantoor op het eigen parkeerterrein achter het gebouw. "
           "Een parkeerplek reserveer je vooraf in de parkeerapp."),
    "en": ("Parking", "Parking at the office",
           "Employees park at the office on the company's own car park behind the building. "
           "You book a parking space in advance in the parking app."),
}
_PRICE = {"nl": "Parkeren bij het kantoor kost € 4 per dag op het eigen parkeerterrein achter het gebouw.",
          "en": "Parking at the office costs € 4 per day on the company's own car park behind the building."}
_QUESTION = {"nl": "Hoeveel kost parkeren bij het kantoor?", "en": "How much does parking at the office cost?"}


def _assistant(settings: Settings, store: QdrantStore, embedder: Embedder, language: str, priced: bool) -> Assistant:
    doc_id, title, text = _PARKING[language]
    if priced:
        text = f"{_PRICE[language]} {text}"
    Ingestor(store, embedder, settings.ingest).ingest_texts([(doc_id, title, text), _OTHER], source_id="test")
    return Assistant.build(settings, store, embedder)


@pytest.mark.parametrize("language", ["nl", "en"])
def test_a_how_much_question_over_a_passage_without_an_amount_is_refused(
        settings: Settings, store: QdrantStore, embedder: Embedder, language: str) -> None:
    answer = _assistant(settings, store, embedder, language, priced=False).ask(_QUESTION[language], groups=None)
    assert not answer.answered
    assert answer.refusal_reason == "low_evidence"
    assert answer.suggestions and answer.suggestions[0].doc_id == _PARKING[language][0]  # "maybe look here"


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_same_question_over_a_passage_with_the_amount_is_answered_with_it(
        settings: Settings, store: QdrantStore, embedder: Embedder, language: str) -> None:
    answer = _assistant(settings, store, embedder, language, priced=True).ask(_QUESTION[language], groups=None)
    assert answer.answered
    assert "4" in answer.text
    assert answer.citations[0].doc_id == _PARKING[language][0]


@pytest.mark.parametrize("language", ["nl", "en"])
def test_without_the_answer_type_check_the_amountless_passage_would_be_quoted(
        settings: Settings, store: QdrantStore, embedder: Embedder, language: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal above comes from the type check, not from weak retrieval: with the penalty off,
    the same passage is close enough to be quoted as an answer that does not say the price."""
    monkeypatch.setattr(extractive, "_TYPE_PENALTY", 0.0)
    answer = _assistant(settings, store, embedder, language, priced=False).ask(_QUESTION[language], groups=None)
    assert answer.answered
    assert not any(c.isdigit() for sentence in answer.sentences for c in sentence.text)  # no price in it


@pytest.mark.parametrize(("question", "kind"), [
    ("Hoeveel vakantiedagen heb ik?", "amount"), ("Wat kost een nieuwe toegangspas?", "amount"),
    ("How many weeks of leave do I get?", "amount"), ("What does a parking space cost?", "amount"),
    ("Wanneer is de kerstborrel?", "time"), ("Hoe lang worden camerabeelden bewaard?", "time"),
    ("When is the next welcome day?", "time"), ("Wie is de FG?", "person"), ("Who is the CEO of Havenstad?", "person"),
    ("Mag ik mijn hond meenemen?", None), ("Can I get a lease car?", None),
])
def test_the_question_word_names_the_kind_of_answer(question: str, kind: str | None) -> None:
    assert expected_answer(question) == kind


def test_a_sentence_holds_an_answer_of_the_asked_kind_only_when_it_can() -> None:
    assert holds_answer("amount", "Laden kost € 0,32 per kWh.")
    assert holds_answer("amount", "De fitnessruimte is gratis voor alle medewerkers.")
    assert holds_answer("amount", "You get twelve days.")
    assert not holds_answer("amount", "Medewerkers parkeren op het eigen terrein.")
    assert holds_answer("time", "Zomerverlof vraag je uiterlijk 1 maart aan.")
    assert holds_answer("time", "We oefenen in het voorjaar en in het najaar.")
    assert not holds_answer("time", "De Welkomstdag is altijd in Rotterdam.")
    assert holds_answer("person", "De FG is mr. Lotte Verbeek.", "Wie is de FG?")
    assert holds_answer("person", "Questions go to the Security Officer.", "Who checks the camera images?")
    # the company's own name (words of the question) is no answer to "who is ...?"
    assert not holds_answer("person", "De CAO geldt voor alle medewerkers van Havenstad Logistiek in Nederland.",
                            "Who is the CEO of Havenstad?")
    assert holds_answer(None, "Anything at all.")
