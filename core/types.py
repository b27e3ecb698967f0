"""Domain types that cross package boundaries. Frozen: once made, a value never changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EVERYONE = "everyone"
"""The access group of a document that names none: every user may read it."""


@dataclass(frozen=True)
class Document:
    """One source document at one version (the version is the hash of its bytes)."""

    doc_id: str
    version: str
    source_id: str
    uri: str
    title: str
    media_type: str
    language: str
    groups: tuple[str, ...] = (EVERYONE,)
    path: str | None = None
    link: str | None = None
    lifecycle: dict[str, str] = field(default_factory=dict)
    """Policy lifecycle: owner, doc_version, effective, review, expires (ISO dates), superseded_by."""


@dataclass(frozen=True)
class Chunk:
    """A passage cut from a document.

    `text` is the original text, as quoted and highlighted in citations; `embed_text` is what is
    embedded (title and section path prepended). `start`/`end` are offsets in the document's text.
    """

    chunk_id: str
    doc_id: str
    version: str
    ordinal: int
    text: str
    embed_text: str
    section_path: tuple[str, ...]
    page: int | None
    start: int
    end: int
    language: str


@dataclass(frozen=True)
class Window:
    """Consecutive chunks of one document (ordinals `first`..`last`) embedded together: the
    document-level dense signal of hybrid retrieval (a chunk's window ranks it, too). `embed_text`
    is empty for a window of one chunk, whose vector is that chunk's own. `whole`: the window is
    the whole document (a short one), and does not vote (core.store.QdrantStore.search)."""

    window_id: str
    doc_id: str
    version: str
    first: int
    last: int
    embed_text: str
    whole: bool = False


@dataclass(frozen=True)
class Passage:
    """A chunk as retrieved from the store, with what a citation and a deep link need."""

    chunk_id: str
    doc_id: str
    version: str
    title: str
    uri: str
    media_type: str
    source_id: str
    section_path: tuple[str, ...]
    page: int | None
    text: str
    language: str
    start: int
    end: int
    ordinal: int
    groups: tuple[str, ...]
    link: str | None = None
    """Where the original lives when it is not a local file (a web page's URL)."""

    @property
    def location(self) -> str:
        """Where in the document: page and/or section, for display."""
        parts = []
        if self.page:
            parts.append(f"p. {self.page}")
        if self.section_path:
            parts.append(" › ".join(self.section_path))
        return ", ".join(parts)


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its scores: fused rank score and dense cosine similarity."""

    passage: Passage
    score: float
    dense_score: float = 0.0
    rank: int = 0


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer: the passage and the exact span that supports the answer."""

    number: int
    chunk_id: str
    doc_id: str
    version: str
    title: str
    uri: str
    page: int | None
    section: str
    passage: str
    quote: str
    quote_start: int
    quote_end: int
    score: float
    language: str


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer and the citation numbers that support it; `support` (0..1) is how
    well its cited passages support it (assistant/verify.py), `supported` whether that passed."""

    text: str
    citations: tuple[int, ...]
    support: float = 0.0
    supported: bool = True


@dataclass(frozen=True)
class Answer:
    """What the assistant says to one question, with everything needed to show and audit it."""

    question: str
    language: str
    answered: bool
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    generator: str
    refusal_reason: str | None = None
    notice: str | None = None
    suggestions: tuple[Citation, ...] = ()
    confidence: float = 0.0
    standalone_question: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    verdict: str = ""
    """`answered`, `partly_supported` (unsupported sentences removed or flagged) or `refused`."""
    support_rate: float | None = None
    """Share of the generated sentences that their citations support (None: not verified)."""
    record_id: str | None = None
    """The answer record it was stored as (None: not recorded)."""
    thread_id: str | None = None
    """The conversation it belongs to (follow-ups share it)."""
    llm_outcome: dict[str, Any] | None = None
    """The LLM answer check as the answer record keeps it (None: not asked): what the model said, P(YES),
    the checked score, weight and bar, and whether the answer stood (`LLMAnswerCheck.outcome`)."""

    @property
    def llm_check(self) -> float | None:
        """The LLM answer check's probability that the quoted passages answer the question (None: not asked,
        no judgement, or a server without token probabilities; docs/assistant.md, "LLM answer check")."""
        return None if self.llm_outcome is None else self.llm_outcome.get("p_yes")

    def __post_init__(self) -> None:
        if not self.verdict:
            object.__setattr__(self, "verdict", "answered" if self.answered else "refused")

    @property
    def text(self) -> str:
        """The answer as plain text with [n] citation markers."""
        return " ".join(
            s.text + "".join(f" [{n}]" for n in s.citations) for s in self.sentences
        )


@dataclass(frozen=True)
class FailedFile:
    """A file that could not be indexed, and why."""

    uri: str
    reason: str


@dataclass(frozen=True)
class IngestReport:
    """The outcome of one ingestion run."""

    source_id: str
    new: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    failed: tuple[FailedFile, ...] = ()
    warnings: tuple[str, ...] = ()
    chunks: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    skipped: tuple[FailedFile, ...] = ()
    """Files of a type Vraagbaak does not read, with the reason."""
    pages: int = 0
    complete: bool = True
    """False when the source could not list everything (a crawl limit, an unreachable listing):
    nothing was removed in that run."""

    @property
    def changed(self) -> bool:
        """Whether the run changed the store."""
        return bool(self.new or self.updated or self.removed)
