"""The JSON API's request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.types import Answer, Citation


class AskRequest(BaseModel):
    question: str = Field(..., min_length=1, max_length=20000, description="The question, in Dutch or English.")
    history: list[str] = Field(default_factory=list, max_length=20,
                               description="Earlier questions of the thread, oldest first (for follow-ups).")


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
    ai_disclosure: str
    timings_ms: dict[str, float]

    @classmethod
    def of(cls, answer: Answer, disclosure: str) -> AskResponse:
        return cls(question=answer.question, language=answer.language, answered=answer.answered,
                   answer=answer.text, sentences=[SentenceOut(text=s.text, citations=list(s.citations))
                                                  for s in answer.sentences],
                   citations=[CitationOut.of(c) for c in answer.citations], notice=answer.notice,
                   refusal_reason=answer.refusal_reason, suggestions=[CitationOut.of(c) for c in answer.suggestions],
                   generator=answer.generator, standalone_question=answer.standalone_question,
                   confidence=answer.confidence, ai_disclosure=disclosure, timings_ms=answer.timings_ms)


def source_link(citation: Citation) -> str:
    """The source viewer's URL for a citation, anchored at its passage."""
    return (f"/documents/{citation.doc_id}?chunk={citation.chunk_id}&start={citation.quote_start}"
            f"&end={citation.quote_end}#chunk-{citation.chunk_id}")
