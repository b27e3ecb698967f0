"""Verification of answers against their cited passages, on the real demo corpus (e5, Qdrant local
mode), and the question's language. LLM answers are stood in for by `FakeLLMGenerator`, which
writes a fixed, hand-made answer the way the LLM generator would (paraphrases with [n] citations)."""

from __future__ import annotations

import pytest

from assistant.cite import citation
from assistant.retrieve import Retrieval, Retriever
from assistant.service import Assistant
from assistant.verify import EvidenceJudge, Verifier, numbers
from core.embedding import Embedder
from core.language import detect_language
from core.sentences import split_sentences
from core.settings import Settings
from core.store import QdrantStore
from core.types import Answer, AnswerSentence, Hit


@pytest.fixture(scope="module")
def retriever(base_settings: Settings, demo_store: QdrantStore, embedder: Embedder) -> Retriever:
    return Retriever(demo_store, embedder, base_settings.retrieval)


@pytest.fixture(scope="module")
def judge(embedder: Embedder) -> EvidenceJudge:
    return EvidenceJudge(embedder)


def _hit(retriever: Retriever, question: str, language: str, uri: str, contains: str) -> Hit:
    retrieval = retriever.retrieve(question, language=language, groups=None)
    return next(h for h in retrieval.hits if h.passage.uri == uri and contains in h.passage.text)


def _sentence_with(text: str, fragment: str) -> str:
    """The passage's sentence (or table row / list item) that contains `fragment`."""
    for sentence in split_sentences(text):
        for line in sentence.text.split("\n"):
            if fragment in line:
                return line.strip(" •-–*\t")
    raise AssertionError(f"{fragment!r} not in the passage")


class FakeLLMGenerator:
    """Fake: answers like the LLM generator would, with the hand-written `claims` citing the first
    retrieved passage that contains `source` (the one they were written from)."""

    name = "fake-llm"

    def __init__(self, claims: list[str], source: str = "") -> None:
        self.claims = claims
        self.source = source

    def generate(self, question: str, retrieval: Retrieval) -> Answer:
        hit = next(h for h in retrieval.hits if self.source in h.passage.text)
        return Answer(question=question, language=retrieval.language, answered=True,
                      sentences=tuple(AnswerSentence(claim, (1,)) for claim in self.claims),
                      citations=(citation(1, hit),), generator=self.name)


@pytest.mark.parametrize(("question", "language", "uri", "fragment", "claim"), [
    ("Hoeveel vakantiedagen heb ik?", "nl", "beleid/verlofregeling.pdf", "25 vakantiedagen",
     "Bij een voltijd dienstverband heb je per kalenderjaar recht op 25 vakantiedagen."),
    ("When must I register a visitor?", "en", "intranet/visitor-policy.html", "one working day",
     "You have to register each visitor in MijnHR at least one working day before the visit."),
])
def test_a_paraphrase_is_supported_and_cites_the_exact_supporting_sentence(
        retriever: Retriever, judge: EvidenceJudge, question: str, language: str, uri: str, fragment: str,
        claim: str) -> None:
    hit = _hit(retriever, question, language, uri, fragment)
    chunk_text = hit.passage.text
    support = judge.judge(claim, chunk_text, language, hit.passage.language)
    assert support.numbers_ok and support.score >= 0.5, support
    assert chunk_text[support.start:support.end] == _sentence_with(chunk_text, fragment)


def test_a_literal_quote_is_fully_supported_where_it_stands(retriever: Retriever, judge: EvidenceJudge) -> None:
    hit = _hit(retriever, "Hoeveel vakantiedagen heb ik?", "nl", "beleid/verlofregeling.pdf", "25 vakantiedagen")
    quote = _sentence_with(hit.passage.text, "25 vakantiedagen")
    support = judge.judge(quote, hit.passage.text, "nl", "nl")
    assert support.score == 1.0
    assert hit.passage.text[support.start:support.end] == quote


@pytest.mark.parametrize(("claim", "language"), [
    ("Bij een voltijd dienstverband heb je per kalenderjaar recht op 30 vakantiedagen.", "nl"),
    ("A full-time employee gets 30 vacation days per calendar year.", "en"),
])
def test_an_invented_number_is_unsupported(retriever: Retriever, judge: EvidenceJudge, claim: str,
                                           language: str) -> None:
    hit = _hit(retriever, "Hoeveel vakantiedagen heb ik?", "nl", "beleid/verlofregeling.pdf", "25 vakantiedagen")
    assert "30" not in numbers(hit.passage.text)
    support = judge.judge(claim, hit.passage.text, language, hit.passage.language)
    assert not support.numbers_ok and support.score == 0.0


def test_numbers_read_the_decimal_comma_as_a_point() -> None:
    assert numbers("€ 2,50 per dag, vanaf 09:00") == {"2.50", "09:00"}


def test_an_extractive_answer_passes_verification_unchanged(base_settings: Settings, demo_store: QdrantStore,
                                                            embedder: Embedder) -> None:
    assistant = Assistant.build(base_settings, demo_store, embedder)
    assert assistant.verifier is not None  # verification is on by default
    answer = assistant.ask("Hoeveel vakantiedagen heb ik?", groups=None)
    assert answer.answered and answer.verdict == "answered" and answer.support_rate == 1.0
    assert all(s.support == 1.0 and s.supported for s in answer.sentences)
    by_number = {c.number: c for c in answer.citations}
    for sentence in answer.sentences:
        cited = by_number[sentence.citations[0]]
        assert sentence.text in cited.passage[cited.quote_start:cited.quote_end]
    assert "verify" in answer.timings_ms


def test_an_invented_sentence_of_an_llm_answer_is_removed(base_settings: Settings, demo_store: QdrantStore,
                                                          embedder: Embedder, retriever: Retriever) -> None:
    supported = "Een medewerker met een voltijd dienstverband heeft recht op 25 vakantiedagen per kalenderjaar."
    invented = "Wie verhuist, krijgt daarnaast 12 extra verlofdagen."
    assistant = Assistant(retriever, FakeLLMGenerator([supported, invented], "25 vakantiedagen"),
                          verifier=Verifier(EvidenceJudge(embedder), base_settings.answer))
    answer = assistant.ask("Hoeveel vakantiedagen heb ik?", groups=None)
    assert answer.answered and answer.verdict == "partly_supported" and answer.support_rate == 0.5
    assert [s.text for s in answer.sentences] == [supported]
    assert "12" not in answer.text
    cited = answer.citations[0]
    assert answer.sentences[0].citations == (1,) and answer.sentences[0].support >= 0.5
    assert cited.passage[cited.quote_start:cited.quote_end] == cited.quote
    assert cited.quote == _sentence_with(cited.passage, "25 vakantiedagen")


def test_flagged_mode_keeps_an_unsupported_sentence_marked(base_settings: Settings, embedder: Embedder,
                                                           retriever: Retriever) -> None:
    settings = base_settings.answer.model_copy(update={"unsupported": "flag"})
    claims = ["Een medewerker met een voltijd dienstverband heeft recht op 25 vakantiedagen per kalenderjaar.",
              "Wie verhuist, krijgt daarnaast 12 extra verlofdagen."]
    assistant = Assistant(retriever, FakeLLMGenerator(claims, "25 vakantiedagen"), verifier=Verifier(EvidenceJudge(embedder), settings))
    answer = assistant.ask("Hoeveel vakantiedagen heb ik?", groups=None)
    assert [(s.text, s.supported) for s in answer.sentences] == [(claims[0], True), (claims[1], False)]
    assert answer.verdict == "partly_supported" and answer.sentences[1].support == 0.0


@pytest.mark.parametrize(("question", "claims", "expected"), [
    ("Hoeveel vakantiedagen heb ik?", ["Iedere medewerker krijgt 47 vakantiedagen en een dertiende maand van 8%."],
     "niet gevonden"),
    ("When are visitors welcome?", ["Visitors may bring their dogs, which must wear badge number 77."],
     "could not find"),
])
def test_an_answer_with_nothing_supported_left_is_refused(base_settings: Settings, embedder: Embedder,
                                                          retriever: Retriever, question: str,
                                                          claims: list[str], expected: str) -> None:
    assistant = Assistant(retriever, FakeLLMGenerator(claims),
                          verifier=Verifier(EvidenceJudge(embedder), base_settings.answer))
    answer = assistant.ask(question, groups=None)
    assert not answer.answered and answer.refusal_reason == "unsupported" and answer.verdict == "refused"
    assert answer.citations == () and answer.suggestions and answer.support_rate == 0.0
    assert expected in answer.text


@pytest.mark.parametrize(("text", "expected"), [
    ("Hoeveel vakantiedagen heb ik?", "nl"),
    ("Wat is MFA-vermoeidheid?", "nl"),  # fastText alone reads this as English
    ("Is de fitnessruimte in de kelder gratis?", "nl"),
    ("ik werk 24 uur per week, hoeveel verlofuren krijg ik dan?", "nl"),
    ("How many vacation days does a full-time employee get per year?", "en"),
    ("Where do visitors park?", "en"),
    ("Wie viele Urlaubstage habe ich im Jahr?", "de"),
    ("Combien de jours de congé ai-je par an ?", "fr"),
])
def test_the_question_language_is_detected(text: str, expected: str) -> None:
    assert detect_language(text, fallback="xx") == expected


@pytest.mark.parametrize("text", ["¿Cuántos días de vacaciones tengo al año?", "VPN", "123 ?", ""])
def test_other_languages_and_wordless_text_get_the_fallback(text: str) -> None:
    assert detect_language(text, fallback="en") == "en"
    assert detect_language(text, fallback="nl") == "nl"
