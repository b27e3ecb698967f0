"""The LLM answer check of extractive answers (`LLMAnswerCheck`): with an LLM configured and
`generator=extractive`, the quoted sentences are put to the LLM ("do they answer the question?").

What the check decides is tested against a scripted fake server (named as such,
tests/assistant/fake_llm.py: it says YES or NO as the test tells it — a real small model's verdicts
are not stable enough to assert, and are measured in `vraagbaak eval answers`, docs/assistant.md);
that the real llama.cpp server understands the request and its reply is read, against SmolLM2.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from assistant.extractive import ExtractiveGenerator
from assistant.retrieve import Retrieval
from assistant.service import Assistant
from assistant.verify import ANSWERABLE_PROMPT_VERSION, LLMAnswerCheck, read_verdict
from core.embedding import Embedder
from core.settings import LLMSettings, Settings
from core.store import QdrantStore
from tests.assistant.fake_llm import ScriptedLLMServer
from tests.assistant.test_llm import PASSAGES, _free_port, _retrieval

QUESTION = "When are visitors welcome?"


def _url(server: ScriptedLLMServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def _checked(embedder: Embedder, settings: Settings, url: str, margin: float = 1.0,
             timeout_s: float = 10.0) -> ExtractiveGenerator:
    generator = ExtractiveGenerator(embedder, settings.answer)
    generator.check = LLMAnswerCheck(LLMSettings(base_url=url, model="judge", timeout_s=timeout_s),
                                     settings.answer.min_relevance, margin)
    return generator


@pytest.fixture
def retrieval(embedder: Embedder) -> Retrieval:
    return _retrieval(QUESTION, embedder)


def test_a_no_from_the_llm_turns_the_quote_into_a_refusal(embedder: Embedder, base_settings: Settings,
                                                          retrieval: Retrieval,
                                                          scripted: Callable[..., ScriptedLLMServer]) -> None:
    plain = ExtractiveGenerator(embedder, base_settings.answer).generate(QUESTION, retrieval)
    assert plain.answered and "09:00" in plain.text  # the control: the evidence alone answers

    server = scripted("NO")
    answer = _checked(embedder, base_settings, _url(server)).generate(QUESTION, retrieval)
    assert not answer.answered and answer.refusal_reason == "model_declined"
    assert answer.suggestions and answer.confidence == plain.confidence
    assert "check" in answer.timings_ms
    prompt = server.prompts[0]  # the question and the quoted passage, with its document's title
    assert QUESTION in prompt and f"Visitor policy: {PASSAGES[0][1]}" in prompt
    assert PASSAGES[1][1] not in prompt  # a passage the answer does not quote is not sent


@pytest.mark.parametrize("reply", ["YES", "Yes, it does.", "**YES**", "JA"])
def test_a_yes_keeps_the_extractive_answer(embedder: Embedder, base_settings: Settings, retrieval: Retrieval,
                                           scripted: Callable[..., ScriptedLLMServer], reply: str) -> None:
    plain = ExtractiveGenerator(embedder, base_settings.answer).generate(QUESTION, retrieval)
    answer = _checked(embedder, base_settings, _url(scripted(reply))).generate(QUESTION, retrieval)
    assert answer.answered and answer.sentences == plain.sentences and answer.citations == plain.citations


@pytest.mark.parametrize("reply", ["Maybe.", ""])
def test_an_unclear_reply_leaves_the_decision_to_the_evidence(embedder: Embedder, base_settings: Settings,
                                                               retrieval: Retrieval, reply: str,
                                                               scripted: Callable[..., ScriptedLLMServer]) -> None:
    assert _checked(embedder, base_settings, _url(scripted(reply))).generate(QUESTION, retrieval).answered


def test_a_server_that_is_down_or_slow_leaves_the_decision_to_the_evidence(
        embedder: Embedder, base_settings: Settings, retrieval: Retrieval,
        scripted: Callable[..., ScriptedLLMServer]) -> None:
    down = _checked(embedder, base_settings, f"http://127.0.0.1:{_free_port()}/v1", timeout_s=2.0)
    assert down.generate(QUESTION, retrieval).answered
    slow = scripted("NO", delay_s=10.0)
    started = time.monotonic()
    answer = _checked(embedder, base_settings, _url(slow), timeout_s=0.5).generate(QUESTION, retrieval)
    assert answer.answered and time.monotonic() - started < 5
    assert len(slow.prompts) == 1  # asked once, no retry


def test_confident_answers_and_refusals_are_not_put_to_the_llm(embedder: Embedder, base_settings: Settings,
                                                               retrieval: Retrieval,
                                                               scripted: Callable[..., ScriptedLLMServer]) -> None:
    server = scripted("NO")
    assert _checked(embedder, base_settings, _url(server), margin=0.0).check.applies(0.99) is False
    confident = _checked(embedder, base_settings, _url(server), margin=0.0).generate(QUESTION, retrieval)
    assert confident.answered and server.prompts == []  # above threshold + 0: not asked
    refused = _checked(embedder, base_settings, _url(server)).generate("Who is the CEO of Havenstad?", _retrieval(
        "Who is the CEO of Havenstad?", embedder))
    assert not refused.answered and refused.refusal_reason == "low_evidence" and server.prompts == []


def test_the_check_is_wired_for_extractive_answers_with_an_llm_only(embedder: Embedder, settings: Settings,
                                                                    store: QdrantStore) -> None:
    def built(generator: str, base_url: str | None, check: bool = True) -> Assistant:
        return Assistant.build(settings.model_copy(update={
            "answer": settings.answer.model_copy(update={"generator": generator, "llm_check": check}),
            "llm": settings.llm.model_copy(update={"base_url": base_url})}), store, embedder)

    extractive = built("extractive", "http://127.0.0.1:9/v1")
    assert isinstance(extractive.generator, ExtractiveGenerator) and extractive.generator.check is not None
    assert extractive.generators["extractive"].prompt_version == ANSWERABLE_PROMPT_VERSION
    assert built("extractive", None).generator.check is None  # no LLM: nothing to ask
    assert built("extractive", "http://127.0.0.1:9/v1", check=False).generator.check is None
    llm = built("auto", "http://127.0.0.1:9/v1")  # the LLM writes the answers: its fallback is not checked
    assert llm.generator.name == "llm" and llm.generator.fallback.check is None


def test_the_real_server_gives_a_verdict_the_check_can_read(embedder: Embedder, base_settings: Settings,
                                                           retrieval: Retrieval, smollm2_server: object) -> None:
    check = LLMAnswerCheck(LLMSettings(base_url=smollm2_server.base_url, model="smollm2", timeout_s=120.0),  # type: ignore[attr-defined]
                           base_settings.answer.min_relevance, 1.0)
    verdict = check.answers(QUESTION, ["Visitor policy: Visitors are welcome between 09:00 and 17:00 on working days."])
    assert verdict in (True, False)  # SmolLM2's judgement is not asserted; that it says YES or NO is


@pytest.mark.parametrize(("reply", "verdict"), [
    ("YES", True), ("yes.", True), ("**Yes**", True), ("Ja", True), ("NO", False), ("No, it does not.", False),
    ("Nee", False), ("The quoted text does not answer the question. It only provides", False),
    ("De tekst beantwoordt de vraag niet.", False), ("The text answers the question: 09:00.", True),
    ("De tekst beantwoordt de vraag.", True), ("Maybe.", None), ("", None), ("Note: the passage", None),
])
def test_verdicts_are_read_from_a_reply_or_its_wording(reply: str, verdict: bool | None) -> None:
    assert read_verdict(reply) is verdict
