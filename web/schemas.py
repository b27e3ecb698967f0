"""The JSON API's request and response bodies."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from core.types import Answer, Citation

ConfidenceLevel = Literal["high", "medium", "low", "none"]
HIGH_CONFIDENCE = 0.75
"""From this confidence an answer is "high"; from `gaps.low_confidence` (0.6) "medium"; below it "low"."""


class AskRequest(BaseModel):
    question: str = Field(..., min_length=1, max_length=20000, description="The question, in Dutch or English.")
    history: list[str] = Field(default_factory=list, max_length=20,
                               description="Earlier questions of the thread, oldest first (for follow-ups). "
                                           "Left empty with a `thread_id`: the thread's own questions.")
    thread_id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$",
                                  description="The conversation to continue (from an earlier response); none: a new one.")


class CitationOut(BaseModel):
    number: int
    document_id: str
    document_version: str
    chunk_id: str
    title: str
    uri: str
    url: str = Field(description="Link to the passage in the source viewer.")
    page: int | None
    section: str
    quote: str = Field(description="The exact supporting text.")
    quote_start: int = Field(description="Offset of the quote in `passage`.")
    quote_end: int
    passage: str
    score: float
    language: str

    @classmethod
    def of(cls, citation: Citation) -> CitationOut:
        return cls(number=citation.number, document_id=citation.doc_id, document_version=citation.version,
                   chunk_id=citation.chunk_id, title=citation.title, uri=citation.uri, url=source_link(citation),
                   page=citation.page, section=citation.section, quote=citation.quote,
                   quote_start=citation.quote_start, quote_end=citation.quote_end, passage=citation.passage,
                   score=citation.score, language=citation.language)


class SentenceOut(BaseModel):
    text: str
    citations: list[int]


class AskResponse(BaseModel):
    question: str
    language: str
    answered: bool
    answer: str = Field(description="The answer as text with [n] markers.")
    sentences: list[SentenceOut]
    citations: list[CitationOut]
    notice: str | None
    refusal_reason: str | None
    suggestions: list[CitationOut]
    generator: str
    standalone_question: str | None = Field(description="The follow-up as understood from the thread, if rewritten.")
    confidence: float
    confidence_level: ConfidenceLevel = Field(description="The confidence in words, as the ask page shows it.")
    verdict: str = Field(description="`answered`, `partly_supported` or `refused`.")
    record_id: str | None = Field(description="The answer record (for `POST /api/feedback`); none: not recorded.")
    thread_id: str | None = Field(description="The conversation; send it back with a follow-up question.")
    ai_disclosure: str
    timings_ms: dict[str, float]

    @classmethod
    def of(cls, answer: Answer, disclosure: str, low_confidence: float = 0.6) -> AskResponse:
        return cls(question=answer.question, language=answer.language, answered=answer.answered,
                   answer=answer.text, sentences=[SentenceOut(text=s.text, citations=list(s.citations))
                                                  for s in answer.sentences],
                   citations=[CitationOut.of(c) for c in answer.citations], notice=answer.notice,
                   refusal_reason=answer.refusal_reason, suggestions=[CitationOut.of(c) for c in answer.suggestions],
                   generator=answer.generator, standalone_question=answer.standalone_question,
                   confidence=answer.confidence, confidence_level=confidence_level(answer, low_confidence),
                   verdict=answer.verdict, record_id=answer.record_id, thread_id=answer.thread_id,
                   ai_disclosure=disclosure, timings_ms=answer.timings_ms)


class FeedbackRequest(BaseModel):
    record_id: str = Field(..., pattern=r"^[0-9a-f]{32}$", description="The answer's `record_id`.")
    rating: Literal[1, -1] = Field(..., description="1: thumbs up, -1: thumbs down.")
    comment: str | None = Field(None, max_length=2000, description="Why (optional).")


class FeedbackResponse(BaseModel):
    feedback_id: str
    record_id: str
    rating: int
    comment: str | None


def confidence_level(answer: Answer, low_confidence: float = 0.6) -> ConfidenceLevel:
    """How sure the answer is, in words: `none` for a refusal; else from the generator's confidence
    (the best evidence score; for a generator that gives none, the mean support of its sentences),
    at most `medium` when verification could not confirm part of it."""
    if not answer.answered:
        return "none"
    score = answer.confidence
    if score <= 0 and answer.sentences:
        score = sum(s.support for s in answer.sentences) / len(answer.sentences)
    level: ConfidenceLevel = "high" if score >= HIGH_CONFIDENCE else "medium" if score >= low_confidence else "low"
    if level == "high" and (answer.verdict == "partly_supported" or not all(s.supported for s in answer.sentences)):
        return "medium"
    return level


def source_link(citation: Citation) -> str:
    """The source viewer's URL for a citation, anchored at its passage."""
    return (f"/documents/{citation.doc_id}?chunk={citation.chunk_id}&start={citation.quote_start}"
            f"&end={citation.quote_end}#chunk-{citation.chunk_id}")
