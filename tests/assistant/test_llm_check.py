"""The LLM answer check of extractive answers (`LLMAnswerCheck`): with an LLM configured and
`generator=extractive`, the quoted sentences are put to the LLM ("do they answer the question?").

What the check decides is tested against a scripted fake server (named as such,
tests/assistant/fake_llm.py: it says YES or NO as the test tells it — a real small model's verdicts
are not stable enough to assert, and are measured in `vraagbaak eval answers`, docs/assistant.md);
that the real llama.cpp server understands the request and its reply is read, against SmolLM2.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pytest

from assistant.extractive import ExtractiveGenerator
from assistant.retrieve import Retrieval
from assistant.service import Assistant
from assistant.verify import ANSWERABLE_PROMPT_VERSION, LLMAnswerCheck, checked_score, read_verdict, yes_probability
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
    answer = settings.answer
    generator.check = LLMAnswerCheck(LLMSettings(base_url=url, model="judge", timeout_s=timeout_s),
                                     answer.min_relevance, margin, answer.llm_check_weight, answer.llm_check_bar,
                                     answer.llm_check_floor)
    return generator


def _p_for(score: float, confidence: float, settings: Settings) -> float:
    """The P(YES) that puts an answer of `confidence` at `score` (confidence + weight · log-odds)."""
    odds = math.exp((score - confidence) / settings.answer.llm_check_weight)
    return odds / (1 + odds)


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
    assert answer.llm_check is None  # a NO in words is no probability for the curve to replay
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
    sure = scripted("YES", first_token={"YES": 0.999, "NO": 0.001})  # below the floor not even a sure YES is asked
    weak = _checked(embedder, base_settings, _url(sure)).generate("Is there a gym?", _retrieval("Is there a gym?", embedder))
    assert weak.confidence < base_settings.answer.llm_check_floor
    assert not weak.answered and weak.refusal_reason == "low_evidence" and sure.prompts == []


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
    judged = check.answers(QUESTION, ["Visitor policy: Visitors are welcome between 09:00 and 17:00 on working days."])
    # SmolLM2's judgement is not asserted; that llama.cpp gives the first token's probabilities of YES and NO is
    assert judged is not None and judged.graded and 0.0 <= judged.p_yes <= 1.0


@pytest.mark.parametrize(("reply", "verdict"), [
    ("YES", True), ("yes.", True), ("**Yes**", True), ("Ja", True), ("NO", False), ("No, it does not.", False),
    ("Nee", False), ("The quoted text does not answer the question. It only provides", False),
    ("De tekst beantwoordt de vraag niet.", False), ("The text answers the question: 09:00.", True),
    ("De tekst beantwoordt de vraag.", True), ("Maybe.", None), ("", None), ("Note: the passage", None),
])
def test_verdicts_are_read_from_a_reply_or_its_wording(reply: str, verdict: bool | None) -> None:
    assert read_verdict(reply) is verdict


def test_the_probability_of_yes_moves_the_confidence_against_the_bar(embedder: Embedder, base_settings: Settings,
                                                                    retrieval: Retrieval,
                                                                    scripted: Callable[..., ScriptedLLMServer]) -> None:
    """With token probabilities, a YES the model hardly means (its text says YES) does not carry the answer."""
    plain = ExtractiveGenerator(embedder, base_settings.answer).generate(QUESTION, retrieval)
    bar = base_settings.answer.llm_check_bar
    assert plain.answered and plain.confidence < bar  # the evidence alone answers; the check decides
    below = _p_for(bar - 0.05, plain.confidence, base_settings)
    server = scripted("YES", first_token={"YES": below, "NO": 1 - below})
    declined = _checked(embedder, base_settings, _url(server)).generate(QUESTION, retrieval)
    assert not declined.answered and declined.refusal_reason == "model_declined"
    assert declined.llm_check == pytest.approx(below, abs=1e-3)
    assert server.requests[0]["logprobs"] is True and server.requests[0]["top_logprobs"] == 10

    above = _p_for(bar + 0.05, plain.confidence, base_settings)
    kept = _checked(embedder, base_settings, _url(scripted("NO", first_token={"YES": above, "NO": 1 - above}))
                    ).generate(QUESTION, retrieval)
    assert kept.answered and kept.sentences == plain.sentences and kept.llm_check == pytest.approx(above, abs=1e-3)


def test_a_sure_yes_lifts_a_borderline_answer_over_the_threshold(embedder: Embedder, base_settings: Settings,
                                                                 scripted: Callable[..., ScriptedLLMServer]) -> None:
    question = "When does the canteen close?"  # "open from 11:30 to 14:00": the words differ, the evidence is low
    retrieval = _retrieval(question, embedder)
    plain = ExtractiveGenerator(embedder, base_settings.answer).generate(question, retrieval)
    answer = base_settings.answer
    assert not plain.answered and answer.llm_check_floor <= plain.confidence < answer.min_relevance
    lifted = _checked(embedder, base_settings, _url(scripted("YES", first_token={"YES": 0.99, "NO": 0.01}))
                      ).generate(question, retrieval)
    assert lifted.answered and "14:00" in lifted.text and lifted.citations[0].title == "Canteen"
    assert lifted.confidence == plain.confidence  # the evidence's confidence is kept; the judgement beside it
    outcome = lifted.llm_outcome  # what the answer record keeps: enough to recompute the decision
    assert plain.llm_outcome is None and outcome is not None
    assert outcome["said"] == "YES" and outcome["graded"] and outcome["p_yes"] == pytest.approx(0.99, abs=1e-3)
    assert outcome["score"] == pytest.approx(checked_score(plain.confidence, 0.99, answer.llm_check_weight), abs=1e-3)
    assert outcome["score"] >= outcome["bar"] == answer.llm_check_bar and outcome["stands"] is True
    assert outcome["prompt_version"] == ANSWERABLE_PROMPT_VERSION
    unsure = _checked(embedder, base_settings, _url(scripted("YES", first_token={"YES": 0.6, "NO": 0.4}))
                      ).generate(question, retrieval)
    assert not unsure.answered and unsure.refusal_reason == "low_evidence"
    assert unsure.llm_outcome["stands"] is False and unsure.llm_outcome["score"] < unsure.llm_outcome["bar"]
    words = _checked(embedder, base_settings, _url(scripted("YES"))).generate(question, retrieval)
    assert not words.answered  # a server without token probabilities: a YES needs the evidence threshold too
    assert words.llm_outcome == {**words.llm_outcome, "said": "YES", "graded": False, "p_yes": None, "score": None,
                                 "stands": False}


@pytest.mark.parametrize(("alternatives", "probability"), [
    ([("YES", 0.6), ("NO", 0.2), ("Yes", 0.1), (" no", 0.1)], 0.7), ([("JA", 0.6), ("Nee", 0.2)], 0.75),
    ([("NO", 0.45), ("The", 0.45), ("YES", 0.05)], 0.1), ([("The", 0.9), ("NO", 0.1)], None),
    ([("**", 0.9), ("The", 0.1)], None),
])
def test_the_probability_of_yes_is_read_from_the_first_token(alternatives: list[tuple[str, float]],
                                                             probability: float | None) -> None:
    class Alternative:
        def __init__(self, token: str, p: float) -> None:
            self.token, self.logprob = token, math.log(p)

    found = yes_probability([[Alternative(t, p) for t, p in alternatives]])
    assert found == (None if probability is None else pytest.approx(probability))
    assert yes_probability(None) is None and yes_probability([]) is None
