"""Follow-up questions are made standalone from the thread, in Dutch and English."""

from __future__ import annotations

import pytest

from assistant.conversation import is_follow_up, standalone_question
from assistant.service import Assistant
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore


@pytest.mark.parametrize("question,previous,expected", [
    ("en voor parttimers?", "Hoeveel vakantiedagen heb ik?", "Hoeveel vakantiedagen heb ik — voor parttimers?"),
    ("And what about part-timers?", "How many vacation days do I get?", "How many vacation days do I get — part-timers?"),
    ("Geldt dat ook in Antwerpen?", "Hoeveel kilometervergoeding krijg ik?",
     "Hoeveel kilometervergoeding krijg ik — Geldt dat ook in Antwerpen?"),
])
def test_follow_up_carries_the_previous_topic(question: str, previous: str, expected: str) -> None:
    assert standalone_question(question, [previous]) == expected


@pytest.mark.parametrize("question", [
    "Hoe vraag ik verlof aan?",
    "Wat is de kilometervergoeding voor zakelijke ritten met de eigen auto?",
    "Who do I call when the building alarm goes off at night?",
])
def test_standalone_questions_are_left_alone(question: str) -> None:
    assert not is_follow_up(question)
    assert standalone_question(question, ["Hoeveel vakantiedagen heb ik?"]) == question


def test_no_history_means_no_rewrite() -> None:
    assert standalone_question("en voor parttimers?", []) == "en voor parttimers?"


def test_follow_up_is_answered_in_the_context_of_the_thread(base_settings: Settings, demo_store: QdrantStore,
                                                            embedder: Embedder) -> None:
    assistant = Assistant.build(base_settings, demo_store, embedder)
    answer = assistant.ask("en als ik parttime werk?", groups=(), history=["Hoeveel vakantiedagen heb ik?"])
    assert answer.question == "en als ik parttime werk?"
    assert answer.standalone_question and answer.standalone_question.startswith("Hoeveel vakantiedagen heb ik")
    assert answer.answered
    assert answer.citations[0].uri == "beleid/verlofregeling.pdf"
    assert "naar rato" in answer.text or "deeltijd" in answer.text.lower()
