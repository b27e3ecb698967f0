"""The extractive generator: the answer is the sentences from the retrieved passages that best
answer the question, in reading order, each cited. Works offline, needs no LLM, and every
sentence shown is a literal quote from a source.

A sentence's evidence combines its embedding similarity to the question, the similarity of its
passage, and how many of the question's key terms it (with its section heading) contains. When
the best evidence is weak, the assistant refuses and offers the closest documents instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from assistant.cite import citation, suggestions
from assistant.messages import language_name, message
from assistant.retrieve import Retrieval
from core.embedding import Embedder
from core.lexical import terms
from core.sentences import split_sentences
from core.settings import AnswerSettings
from core.types import Answer, AnswerSentence, Citation, Hit

# e5 cosine similarities live in a narrow band; these map them onto 0..1.
_COS_FLOOR, _COS_CEIL = 0.78, 0.92
_MAX_PASSAGES = 3  # candidate sentences come from the top 3 passages (precision and latency; docs/assistant.md)
# Evidence weights, fitted on the demo question set (docs/assistant.md has the trade-off curve).
_W_SENTENCE, _W_PASSAGE, _W_COVERAGE = 0.6, 0.1, 0.3
_REDUNDANT = 0.7  # word overlap (Jaccard) from which two sentences count as saying the same
_MORE_SAME_PASSAGE = 0.12  # how far below the best a further sentence of the same passage may score
_MORE_OTHER_PASSAGE = 0.04  # ... and one of another passage
# BM25 alone agreeing on the top passage (Retrieval.agreement: 1) raises the evidence by half this,
# agreeing on its document only leaves it, disagreeing lowers it by half (docs/assistant.md:
# refusal); across languages it is neutral. Fitted on the demo set with the threshold.
_W_AGREEMENT = 0.3


@dataclass(frozen=True)
class Candidate:
    hit_index: int
    start: int
    end: int
    text: str
    similarity: float = 0.0
    coverage: float = 0.0
    evidence: float = 0.0


def _scale(cos: float) -> float:
    return float(np.clip((cos - _COS_FLOOR) / (_COS_CEIL - _COS_FLOOR), 0.0, 1.0))


def candidate_sentences(hits: tuple[Hit, ...]) -> list[Candidate]:
    """Sentences (and table rows) of the top passages, with their spans in the passage text."""
    found = []
    for index, hit in enumerate(hits[:_MAX_PASSAGES]):
        text = hit.passage.text
        for sentence in split_sentences(text):
            offset = sentence.start
            for line in sentence.text.split("\n"):
                start = text.find(line, offset)
                offset = start + len(line)
                stripped = line.strip(" •")
                if len(stripped.split()) >= 3 or any(c.isdigit() for c in stripped):
                    found.append(Candidate(index, start, start + len(line), line))
    return found


def score_candidates(question: str, language: str, retrieval: Retrieval, candidates: list[Candidate],
                     embedder: Embedder) -> list[Candidate]:
    """Attach similarity, key-term coverage and combined evidence to each candidate."""
    if not candidates:
        return []
    hits = retrieval.hits
    vectors = embedder.embed_passages([f"{hits[c.hit_index].passage.title}: {c.text}" for c in candidates])
    similarities = vectors @ retrieval.query_vector
    key_terms = set(terms(question, language)) | set(terms(question, "en" if language == "nl" else "nl"))
    scored = []
    for candidate, cos in zip(candidates, similarities, strict=True):
        passage = hits[candidate.hit_index].passage
        context = f"{candidate.text} {passage.title} {' '.join(passage.section_path)}"
        present = set(terms(context, passage.language)) | set(terms(context, language))
        coverage = len(key_terms & present) / len(key_terms) if key_terms else 0.0
        passage_sim = _scale(hits[candidate.hit_index].dense_score)
        if passage.language and passage.language != language:
            # across languages no term can match: judge on the embeddings alone
            evidence = (_W_SENTENCE * _scale(float(cos)) + _W_PASSAGE * passage_sim) / (_W_SENTENCE + _W_PASSAGE)
        else:
            evidence = _W_SENTENCE * _scale(float(cos)) + _W_PASSAGE * passage_sim + _W_COVERAGE * coverage
        scored.append(Candidate(candidate.hit_index, candidate.start, candidate.end, candidate.text,
                                float(cos), coverage, evidence))
    return scored


class ExtractiveGenerator:
    """Quotes the best-supported sentences; refuses when no sentence carries enough evidence."""

    name = "extractive"

    def __init__(self, embedder: Embedder, settings: AnswerSettings) -> None:
        self.embedder = embedder
        self.settings = settings

    def generate(self, question: str, retrieval: Retrieval) -> Answer:
        started = time.perf_counter()
        language = retrieval.language
        scored = score_candidates(question, language, retrieval,
                                  candidate_sentences(retrieval.hits), self.embedder)
        offset = agreement_offset(retrieval)
        chosen = self._select(scored, offset)
        timings = {"generate": round((time.perf_counter() - started) * 1000, 1)}
        confidence = round(max((c.evidence for c in scored), default=0.0) + offset, 4) if scored else 0.0
        if not chosen:
            answer = refusal(question, language, retrieval, "no_results" if not retrieval.hits else "low_evidence",
                             self.name, timings)
            return Answer(**{**answer.__dict__, "confidence": confidence})
        numbers: dict[int, int] = {}
        citations: list[Citation] = []
        sentences = []
        for candidate in sorted(chosen, key=lambda c: (c.hit_index, c.start)):
            hit = retrieval.hits[candidate.hit_index]
            if candidate.hit_index not in numbers:
                numbers[candidate.hit_index] = len(numbers) + 1
                citations.append(citation(numbers[candidate.hit_index], hit, candidate.start, candidate.end))
            sentences.append(AnswerSentence(candidate.text.strip(" •"), (numbers[candidate.hit_index],)))
        # several quotes from one passage: the citation's span covers them all
        citations = [_widen(c, [x for x in chosen if numbers[x.hit_index] == c.number]) for c in citations]
        notice = None
        other = sorted({c.language for c in citations if c.language and c.language != language})
        if other:
            notice = message("source_language", language,
                             source_language=" / ".join(language_name(code, language) for code in other))
        return Answer(question=question, language=language, answered=True, sentences=tuple(sentences),
                      citations=tuple(citations), generator=self.name, notice=notice, confidence=confidence,
                      timings_ms=timings)

    def _select(self, scored: list[Candidate], offset: float = 0.0) -> list[Candidate]:
        """The best sentence, plus up to `max_sentences - 1` that are nearly as good and say
        something else: from the same passage (context), or from another passage only when they
        are almost as strong as the best. `offset` (retriever agreement) moves every sentence's
        evidence against the threshold."""
        ranked = sorted(scored, key=lambda c: -c.evidence)
        threshold = self.settings.min_relevance - offset
        if not ranked or ranked[0].evidence < threshold:
            return []
        best = ranked[0]
        chosen = [best]
        for candidate in ranked[1:]:
            if len(chosen) >= self.settings.max_sentences:
                break
            if candidate.evidence < max(threshold, best.evidence - _MORE_SAME_PASSAGE):
                break
            if any(_redundant(candidate.text, c.text) for c in chosen):
                continue
            if candidate.hit_index == best.hit_index or candidate.evidence >= best.evidence - _MORE_OTHER_PASSAGE:
                chosen.append(candidate)
        return chosen


def agreement_offset(retrieval: Retrieval) -> float:
    """How much retriever agreement moves the evidence: ±_W_AGREEMENT/2, 0 when it says nothing."""
    agreement = retrieval.agreement
    return 0.0 if agreement is None else _W_AGREEMENT * (agreement - 0.5)


def _redundant(a: str, b: str) -> bool:
    """Two sentences that share most of their words say the same thing."""
    wa, wb = set(a.lower().split()), set(b.lower().split())
    return len(wa & wb) / max(len(wa | wb), 1) >= _REDUNDANT


def _widen(cite: Citation, quotes: list[Candidate]) -> Citation:
    if len(quotes) <= 1:
        return cite
    start, end = min(q.start for q in quotes), max(q.end for q in quotes)
    return Citation(**{**cite.__dict__, "quote": cite.passage[start:end], "quote_start": start, "quote_end": end})


def refusal(question: str, language: str, retrieval: Retrieval, reason: str, generator: str,
            timings: dict[str, float]) -> Answer:
    """A plain "not found in the documents" answer, with the closest documents to look at."""
    return Answer(question=question, language=language, answered=False,
                  sentences=(AnswerSentence(message("not_found", language), ()),), citations=(),
                  generator=generator, refusal_reason=reason, suggestions=suggestions(retrieval.hits),
                  timings_ms=timings)
