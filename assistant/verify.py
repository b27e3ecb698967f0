"""Verification: every sentence of an answer must be supported by the passage(s) it cites.

Each sentence gets a support score against its cited passages and the exact span of the passage
that supports it (which becomes the citation's quote). A sentence below
`AnswerSettings.min_support` is removed (or flagged, with `unsupported="flag"`); when fewer than
`min_supported_sentences` supported sentences remain, the assistant refuses ("unsupported").

The default judge (`EvidenceJudge`) combines
- lexical support: the share of the sentence's content terms found in the cited passage, and
- semantic support: the best cosine between the sentence and one passage sentence (e5, rescaled
  like the extractive evidence),
and gives 0 to a sentence with a number the passage does not contain. A literal quote (what the
extractive generator writes) is supported by construction. `LLMJudge` asks the configured LLM
about the sentences the evidence leaves in doubt.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from assistant.messages import message
from core.embedding import Embedder
from core.lexical import terms
from core.logging import kv
from core.sentences import split_sentences
from core.settings import AnswerSettings, LLMSettings
from core.types import Answer, AnswerSentence, Citation

log = logging.getLogger(__name__)

# e5 cosines between a sentence and a paraphrase of it sit high; this band maps them onto 0..1
# (an unrelated sentence of the same domain scores about 0.80, a close paraphrase above 0.92).
_COS_FLOOR, _COS_CEIL = 0.82, 0.95
_W_LEXICAL, _W_SEMANTIC = 0.5, 0.5
_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
_WIDEN_GAIN = 0.2  # a neighbouring sentence joins the span when it adds this much term coverage


@dataclass(frozen=True)
class Support:
    """How well one passage supports one sentence, and where."""

    score: float
    start: int
    end: int
    lexical: float = 0.0
    semantic: float = 0.0
    numbers_ok: bool = True


class SupportJudge(Protocol):
    """Judges whether a passage supports a sentence, and finds the supporting span."""

    name: str

    def judge(self, sentence: str, passage: str, language: str, passage_language: str) -> Support:
        ...


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def numbers(text: str) -> set[str]:
    """The numbers in a text, with the decimal comma read as a point ("2,5" = "2.5")."""
    return {n.replace(",", ".") for n in _NUMBER.findall(_fold(text))}


def _units(passage: str) -> list[tuple[int, int]]:
    """Spans of the passage's sentences, table rows and list items apart."""
    spans = []
    for sentence in split_sentences(passage):
        offset = sentence.start
        for line in sentence.text.split("\n"):
            start = passage.find(line, offset)
            offset = start + len(line)
            stripped = line.strip()
            if any(c.isalnum() for c in stripped):
                lead = len(line) - len(line.lstrip(" •-–*\t"))
                spans.append((start + lead, start + len(line.rstrip())))
    return spans


class EvidenceJudge:
    """Lexical + embedding support (no model beyond the embedder)."""

    name = "evidence"

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def judge(self, sentence: str, passage: str, language: str, passage_language: str) -> Support:
        literal = passage.find(sentence.strip())
        if len(sentence.split()) >= 3 and literal >= 0:  # a quote
            return Support(1.0, literal, literal + len(sentence.strip()), 1.0, 1.0)
        numbers_ok = numbers(sentence) <= numbers(passage)
        units = _units(passage) or [(0, len(passage))]
        claim = self._terms(sentence, language, passage_language)
        unit_terms = [self._terms(passage[s:e], passage_language, language) for s, e in units]
        passage_terms = set().union(*unit_terms)
        same_language = not passage_language or not language or passage_language == language
        lexical = len(claim & passage_terms) / len(claim) if claim else 0.0
        vectors = self.embedder.embed_passages([sentence] + [passage[s:e] for s, e in units])
        cosines = vectors[1:] @ vectors[0]
        best = int(np.argmax(cosines))
        semantic = _scale(float(cosines[best]))
        # the span: the unit most like the sentence, widened by a neighbour that carries more of its terms
        if same_language and claim:
            overlap = [len(claim & t) / len(claim) for t in unit_terms]
            best = max(range(len(units)), key=lambda i: (overlap[i] + _scale(float(cosines[i])), -i))
        start, end = units[best]
        covered = claim & unit_terms[best]
        for neighbour in (best - 1, best + 1):
            if claim and 0 <= neighbour < len(units):
                gain = len((claim & unit_terms[neighbour]) - covered) / len(claim)
                if gain >= _WIDEN_GAIN:
                    start, end = min(start, units[neighbour][0]), max(end, units[neighbour][1])
                    covered |= claim & unit_terms[neighbour]
        if same_language:
            score = _W_LEXICAL * lexical + _W_SEMANTIC * semantic
        else:  # across languages no term can match: judge on the embeddings alone
            score = semantic
        if not numbers_ok:
            score = 0.0
        return Support(round(score, 4), start, end, round(lexical, 4), round(semantic, 4), numbers_ok)

    @staticmethod
    def _terms(text: str, language: str, other: str) -> set[str]:
        found = set(terms(text, language or "nl"))
        if other and other != language:
            found |= set(terms(text, other))
        return found


class LLMJudge:
    """Asks the configured LLM whether the passage supports the sentence, for sentences the
    evidence judge leaves in doubt (within `margin` of the threshold). A wrong number is never
    rescued, and when the LLM fails the evidence decides."""

    name = "llm"

    def __init__(self, settings: LLMSettings, evidence: EvidenceJudge, threshold: float, margin: float = 0.2) -> None:
        from assistant.llm import chat_client

        self.evidence = evidence
        self.threshold = threshold
        self.margin = margin
        self.llm = chat_client(settings, max_tokens=4)

    def judge(self, sentence: str, passage: str, language: str, passage_language: str) -> Support:
        support = self.evidence.judge(sentence, passage, language, passage_language)
        if not support.numbers_ok or abs(support.score - self.threshold) > self.margin:
            return support
        verdict = self.ask(sentence, passage)
        if verdict is None:
            return support
        return replace(support, score=1.0 if verdict else 0.0)

    def ask(self, sentence: str, passage: str) -> bool | None:
        """YES/NO from the LLM; None when it fails or answers neither."""
        from llama_index.core.llms import ChatMessage

        prompt = ("Does the passage support the statement? Answer YES or NO only.\n\n"
                  f"Passage: {passage}\n\nStatement: {sentence}\n\nAnswer:")
        try:
            text = self.llm.chat([ChatMessage(role="user", content=prompt)]).message.content or ""
        except Exception as exc:  # the server is down or slow: the evidence decides
            log.warning("llm judge failed", extra=kv(error=type(exc).__name__))
            return None
        return read_verdict(text)


ANSWERABLE_PROMPT_VERSION = "answerable-v2"


@dataclass(frozen=True)
class Judgement:
    """The LLM answer check's reading of one answer."""

    p_yes: float
    """Probability (0..1) that the quoted passages answer the question."""
    graded: bool
    """From the model's token probabilities (True), or read from its words: YES 1, NO 0 (False)."""


LOGIT_CAP = math.log(999)
"""A judgement counts at most as much as P(YES) = 0.999 (or 0.001): log-odds within ±6.9."""


def checked_score(confidence: float, p_yes: float, weight: float) -> float:
    """The evidence's confidence moved by the LLM's judgement: confidence + weight · log-odds(P(YES)),
    P(YES) taken within 0.001–0.999. A checked answer stands when it reaches the check's bar."""
    p = min(max(p_yes, 0.001), 0.999)
    return confidence + weight * math.log(p / (1 - p))


class LLMAnswerCheck:
    """Asks the configured LLM whether the passages an extractive answer quotes answer the question
    (YES/NO, prompt `assistant/prompts/answerable-v2.txt`): the reading-comprehension judgement the
    evidence score lacks for near misses — a passage on the right subject that does not state the
    asked-for fact.

    Used with the evidence, not instead of it. When the server gives token probabilities (llama.cpp,
    vLLM and OpenAI do), the judgement is the model's probability of YES against NO, and the answer
    stands when `confidence + weight · log-odds(P(YES)) ≥ bar`: a confident YES can carry a
    borderline passage, a hesitant YES no longer carries a weak one (a small model says YES to most
    near misses; docs/assistant.md, "LLM answer check"). A server without token probabilities is read
    by its words: the answer needs the evidence threshold and a YES. Only answers with a confidence
    from `floor` to below `threshold + margin` are asked about; without a judgement the evidence
    decides alone."""

    name = "llm-check"

    def __init__(self, settings: LLMSettings, threshold: float, margin: float, weight: float = 0.2,
                 bar: float = 0.7, floor: float = 0.3) -> None:
        from assistant.llm import chat_client, load_prompt

        self.template = load_prompt(ANSWERABLE_PROMPT_VERSION)
        self.threshold, self.margin, self.weight, self.bar = threshold, margin, weight, bar
        self.floor = min(max(floor, bar - weight * LOGIT_CAP), threshold)
        """The least confidence that is put to the LLM: `floor`, but never lower than a judgement can
        lift to the bar nor higher than the evidence's threshold (a sentence that cannot hold the
        asked-for answer, at 0, is not asked about)."""
        # room for "The text does not answer …"; the 10 likeliest first tokens hold YES and NO
        self.llm = chat_client(settings, max_tokens=24, top_logprobs=10)

    def applies(self, confidence: float) -> bool:
        return self.floor <= confidence < self.threshold + self.margin

    def stands(self, confidence: float, judgement: Judgement | None) -> bool:
        """Does the answer stand, given the evidence's confidence and the LLM's judgement?"""
        if judgement is None:
            return confidence >= self.threshold
        if not judgement.graded:
            return confidence >= self.threshold and judgement.p_yes >= 0.5
        return checked_score(confidence, judgement.p_yes, self.weight) >= self.bar

    def outcome(self, confidence: float, judgement: Judgement | None) -> dict[str, Any]:
        """What the answer record keeps of the check (`answer_records.llm_check`): what the model said
        (`said` YES/NO, None when it failed or said neither), P(YES) when graded, the checked score with the
        weight and bar it was held to, and whether the answer stood — enough to recompute the decision."""
        graded = judgement is not None and judgement.graded
        return {
            "said": None if judgement is None else "YES" if judgement.p_yes >= 0.5 else "NO",
            "p_yes": judgement.p_yes if graded else None,
            "graded": graded,
            "score": round(checked_score(confidence, judgement.p_yes, self.weight), 4) if graded else None,
            "weight": self.weight, "bar": self.bar, "threshold": self.threshold,
            "prompt_version": ANSWERABLE_PROMPT_VERSION,
            "stands": self.stands(confidence, judgement),
        }

    def answers(self, question: str, passages: Sequence[str]) -> Judgement | None:
        """The LLM's judgement whether the passages answer the question; None when it fails, is slow or
        says neither YES nor NO (then the evidence decides). `passages`: the passages the answer
        quotes, each with its title."""
        from llama_index.core.llms import ChatMessage

        prompt = self.template.format(question=question, passages="\n\n".join(passages))
        try:
            response = self.llm.chat([ChatMessage(role="user", content=prompt)])
        except Exception as exc:  # the server is down or slow: the evidence decides
            log.warning("llm answer check failed", extra=kv(error=type(exc).__name__))
            return None
        probability = yes_probability(response.logprobs)
        if probability is not None:
            return Judgement(probability, graded=True)
        verdict = read_verdict(response.message.content or "")
        return None if verdict is None else Judgement(float(verdict), graded=False)


_YES, _NO = ("YES", "JA"), ("NO", "NEE")


def yes_probability(logprobs: Sequence[Sequence[object]] | None) -> float | None:
    """P(YES) / (P(YES) + P(NO)) over the alternatives of the reply's first token (YES/JA and NO/NEE in
    any case and spacing); None when there are none, or when YES and NO together are less likely than
    not (the model starts its reply some other way: then its words are read)."""
    if not logprobs or not logprobs[0]:
        return None
    yes = no = 0.0
    for alternative in logprobs[0]:
        token = str(getattr(alternative, "token", "")).strip().upper()
        weight = math.exp(float(getattr(alternative, "logprob", -math.inf)))
        if token in _YES:
            yes += weight
        elif token in _NO:
            no += weight
    return round(yes / (yes + no), 4) if yes + no >= 0.5 else None


_NEGATIVE = re.compile(r"\b(does not|doesn't|do not|don't|cannot|can't|fails? to|niet|geen)\b.{0,40}\b(answer|beantwoord)"
                       r"|\bbeantwoordt\b.{0,30}\bniet\b", re.IGNORECASE)
_POSITIVE = re.compile(r"\b(answers|beantwoordt)\b.{0,20}\b(question|vraag)\b", re.IGNORECASE)


def read_verdict(text: str) -> bool | None:
    """YES/JA → True, NO/NEE → False at the start of the reply; a small model that writes a sentence
    instead ("The quoted text does not answer the question …") is read by its wording; None otherwise."""
    head = text.strip().lstrip("*\"'` ").upper()
    if head.startswith(("YES", "JA")):
        return True
    if head.startswith(("NO", "NEE")) and not head.startswith(("NOT ", "NOTE")):
        return False
    if _NEGATIVE.search(text):
        return False
    if _POSITIVE.search(text):
        return True
    return None


def _scale(cos: float) -> float:
    return float(np.clip((cos - _COS_FLOOR) / (_COS_CEIL - _COS_FLOOR), 0.0, 1.0))


class Verifier:
    """Checks an answer's sentences against their citations; removes, flags or refuses."""

    def __init__(self, judge: SupportJudge, settings: AnswerSettings) -> None:
        self.judge = judge
        self.settings = settings

    def verify(self, answer: Answer) -> Answer:
        if not answer.answered or not answer.sentences:
            return answer
        by_number = {c.number: c for c in answer.citations}
        judged: list[tuple[AnswerSentence, dict[int, Support]]] = []
        for sentence in answer.sentences:
            supports = {n: self.judge.judge(sentence.text, by_number[n].passage, answer.language,
                                            by_number[n].language)
                        for n in sentence.citations if n in by_number}
            judged.append((sentence, supports))
        threshold = self.settings.min_support
        supported = [max((s.score for s in supports.values()), default=0.0) >= threshold for _, supports in judged]
        if sum(supported) < self.settings.min_supported_sentences:
            log.info("answer refused: too little support", extra=kv(sentences=len(judged), supported=sum(supported)))
            return _refusal(answer, round(sum(supported) / len(judged), 4))
        flag = self.settings.unsupported == "flag"
        kept = [(s, sup, ok) for (s, sup), ok in zip(judged, supported, strict=True) if ok or flag]
        # renumber the citations still used, and quote what supports the kept sentences
        renumber: dict[int, int] = {}
        spans: dict[int, list[tuple[int, int]]] = {}
        sentences = []
        for sentence, supports, ok in kept:
            numbers_used = [n for n in sentence.citations if n in by_number and (not ok or supports[n].score >= threshold)]
            numbers_used = numbers_used or [n for n in sentence.citations if n in by_number]
            for n in numbers_used:
                renumber.setdefault(n, len(renumber) + 1)
                if ok:
                    spans.setdefault(n, []).append((supports[n].start, supports[n].end))
            score = max((s.score for s in supports.values()), default=0.0)
            sentences.append(replace(sentence, citations=tuple(renumber[n] for n in numbers_used),
                                     support=round(score, 4), supported=ok))
        citations = [_quote(by_number[n], renumber[n], spans.get(n, [])) for n in renumber]
        verdict = "answered" if all(ok for _, _, ok in kept) and len(kept) == len(judged) else "partly_supported"
        return replace(answer, sentences=tuple(sentences), citations=tuple(sorted(citations, key=lambda c: c.number)),
                       verdict=verdict, support_rate=round(sum(supported) / len(judged), 4))


def _refusal(answer: Answer, support_rate: float) -> Answer:
    """"Not found", with the passages the answer had cited offered as places to look."""
    seen: set[str] = set()
    suggestions = []
    for cite in answer.citations or answer.suggestions:
        if cite.doc_id not in seen:
            seen.add(cite.doc_id)
            suggestions.append(replace(cite, number=len(suggestions) + 1, quote=cite.passage, quote_start=0,
                                       quote_end=len(cite.passage)))
    return replace(answer, answered=False, sentences=(AnswerSentence(message("not_found", answer.language), ()),),
                   citations=(), refusal_reason="unsupported", suggestions=tuple(suggestions[:3]),
                   verdict="refused", support_rate=support_rate)


def _quote(cite: Citation, number: int, spans: Sequence[tuple[int, int]]) -> Citation:
    if not spans:
        return replace(cite, number=number)
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    return replace(cite, number=number, quote=cite.passage[start:end], quote_start=start, quote_end=end)
