"""The assistant as one service: a question (and the asker's groups) → a cited answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from assistant.conversation import standalone_question
from assistant.extractive import ExtractiveGenerator
from assistant.generate import Generator
from assistant.records import AnswerLog, GeneratorInfo
from assistant.rerank import build_reranker
from assistant.retrieve import Retrieval, Retriever
from assistant.verify import EvidenceJudge, SupportJudge, Verifier
from core.embedding import Embedder
from core.errors import ErrorCode, VraagbaakError
from core.language import detect_language
from core.logging import kv
from core.settings import Settings
from core.store import QdrantStore
from core.types import Answer, AnswerSentence, Citation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retrieved:
    """The passages are found; the answer is being written."""

    language: str
    passages: int
    standalone_question: str | None


@dataclass(frozen=True)
class Drafted:
    """One sentence of the answer as written, with the citations it points at (a draft: the
    finished answer is verified and may drop or flag it)."""

    sentence: AnswerSentence
    citations: tuple[Citation, ...]
    language: str


@dataclass(frozen=True)
class Finished:
    """The verified (and recorded) answer."""

    answer: Answer


StreamEvent = Retrieved | Drafted | Finished


class Assistant:
    """Retrieves and answers; built once per process and shared."""

    def __init__(self, retriever: Retriever, generator: Generator, max_question_chars: int = 1000,
                 verifier: Verifier | None = None, answer_log: AnswerLog | None = None,
                 generators: Mapping[str, GeneratorInfo] | None = None) -> None:
        self.retriever = retriever
        self.generator = generator
        self.max_question_chars = max_question_chars
        self.verifier = verifier
        self.answer_log = answer_log
        self.generators = dict(generators or {})
        """Model and prompt version per generator name (`extractive`, `llm`), for the answer records."""
        self.rewrite: Callable[[str, Sequence[str]], str] = standalone_question
        """Makes a follow-up stand on its own: the rule, or the LLM when one is configured (assistant/rewrite.py)."""

    @classmethod
    def build(cls, settings: Settings, store: QdrantStore, embedder: Embedder,
              answer_log: AnswerLog | None = None) -> Assistant:
        """Wire the configured retriever, generator and verifier (an LLM judges doubtful sentences
        when it writes the answers); with `answer_log`, every answer is recorded."""
        extractive = ExtractiveGenerator(embedder, settings.answer)
        generator: Generator = extractive
        judge: SupportJudge = EvidenceJudge(embedder)
        generators = {extractive.name: GeneratorInfo(model=settings.embedding.model)}
        if settings.answer.generator == "llm" or (settings.answer.generator == "auto" and settings.llm.base_url):
            from assistant.llm import PROMPT_VERSION, LLMGenerator
            from assistant.verify import LLMJudge

            generator = LLMGenerator(settings.llm, settings.answer, extractive)
            judge = LLMJudge(settings.llm, EvidenceJudge(embedder), settings.answer.min_support)
            generators[LLMGenerator.name] = GeneratorInfo(model=settings.llm.model, prompt_version=PROMPT_VERSION)
        elif settings.llm.base_url and settings.answer.llm_check:  # extractive answers, checked by the LLM
            from assistant.verify import ANSWERABLE_PROMPT_VERSION, LLMAnswerCheck

            extractive.check = LLMAnswerCheck(settings.llm, settings.answer.min_relevance,
                                              settings.answer.llm_check_margin, settings.answer.llm_check_weight,
                                              settings.answer.llm_check_bar, settings.answer.llm_check_floor)
            generators[extractive.name] = GeneratorInfo(model=f"{settings.embedding.model} + {settings.llm.model}",
                                                        prompt_version=ANSWERABLE_PROMPT_VERSION)
        verifier = Verifier(judge, settings.answer) if settings.answer.verify else None
        reranker = build_reranker(settings.retrieval, settings.llm)
        assistant = cls(Retriever(store, embedder, settings.retrieval, reranker), generator, settings.web.max_question_chars,
                        verifier, answer_log, generators)
        if settings.llm.base_url:
            from assistant.rewrite import LLMRewriter

            assistant.rewrite = LLMRewriter(settings.llm).rewrite
        return assistant

    def check_question(self, question: str) -> str:
        """The question with its white space normalised; VraagbaakError(BAD_REQUEST) when it is empty
        or too long. Callers that answer later (a stream) check it before they promise an answer."""
        question = " ".join((question or "").split())
        if not question:
            raise VraagbaakError(ErrorCode.BAD_REQUEST, "The question is empty.")
        if len(question) > self.max_question_chars:
            raise VraagbaakError(ErrorCode.BAD_REQUEST,
                                 f"The question is too long (at most {self.max_question_chars} characters).")
        return question

    def ask(self, question: str, groups: Sequence[str] | None, history: Sequence[str] = (),
            user: str | None = None, thread_id: str | None = None) -> Answer:
        """Answer one question for a user who may read `groups` (None: no restriction); `history`
        holds the thread's earlier questions, so a follow-up is understood in their context.
        With an answer log, the answer is recorded under `user`'s pseudonym (None: anonymous);
        a failed write is logged and the answer given anyway."""
        final: Answer | None = None
        for event in self.ask_stream(question, groups, history, user, thread_id):
            if isinstance(event, Finished):
                final = event.answer
        assert final is not None  # ask_stream always ends with Finished
        return final

    def ask_stream(self, question: str, groups: Sequence[str] | None, history: Sequence[str] = (),
                   user: str | None = None, thread_id: str | None = None) -> Iterator[StreamEvent]:
        """`ask`, step by step: `Retrieved` when the passages are found, a `Drafted` per answer
        sentence as soon as it is written (the extractive generator has them all at once; an LLM
        that can stream gives them while it writes), then `Finished` with the verified answer —
        which may differ from the drafts (verification removes or flags sentences) and is the
        only thing recorded, once. A bad question raises before anything is yielded."""
        question = self.check_question(question)
        started = time.perf_counter()
        language = detect_language(question, fallback="nl")
        standalone = self.rewrite(question, history)
        retrieval = self.retriever.retrieve(standalone, language=language, groups=groups)
        retrieved = time.perf_counter()
        yield Retrieved(language=retrieval.language, passages=len(retrieval.hits),
                        standalone_question=standalone if standalone != question else None)
        answer: Answer | None = None
        shown = 0
        first_ms: dict[str, float] = {}
        for draft in self._drafts(standalone, retrieval):
            answer = draft
            if not draft.answered:
                continue
            by_number = {c.number: c for c in draft.citations}
            for sentence in draft.sentences[shown:]:
                first_ms.setdefault("first_sentence", round((time.perf_counter() - started) * 1000, 1))
                yield Drafted(sentence, tuple(by_number[n] for n in sentence.citations if n in by_number),
                              draft.language)
            shown = max(shown, len(draft.sentences))
        assert answer is not None  # every generator ends with its answer
        verify_ms: dict[str, float] = {}
        if self.verifier is not None:
            generated = time.perf_counter()
            answer = self.verifier.verify(answer)
            verify_ms["verify"] = round((time.perf_counter() - generated) * 1000, 1)
        timings = {"retrieve": round((retrieved - started) * 1000, 1), **answer.timings_ms, **first_ms, **verify_ms,
                   "total": round((time.perf_counter() - started) * 1000, 1)}
        answer = Answer(**{**answer.__dict__, "question": question, "timings_ms": timings, "thread_id": thread_id,
                           "standalone_question": standalone if standalone != question else None})
        if self.answer_log is not None:
            info = self.generators.get(answer.generator.split(":", 1)[0], GeneratorInfo())
            try:
                record_id = self.answer_log.record(answer, retrieval, user, info)
                answer = Answer(**{**answer.__dict__, "record_id": record_id})
            except Exception as exc:  # the database is locked, full or gone: the user still gets the answer
                log.warning("answer not recorded", extra=kv(error=f"{type(exc).__name__}: {exc}"[:300],
                                                               verdict=answer.verdict))
        yield Finished(answer)

    def _drafts(self, question: str, retrieval: Retrieval) -> Iterator[Answer]:
        """The generator's answer as it grows (the last one is the answer): a generator with a
        `stream` method (the LLM) gives drafts while it writes; any other gives its answer at once.
        Citations of a merged passage are pointed at the real chunk that holds their quote."""
        stream = getattr(self.generator, "stream", None)
        if stream is None:
            yield retrieval.cite_chunks(self.generator.generate(question, retrieval))
        else:
            yield from (retrieval.cite_chunks(draft) for draft in stream(question, retrieval))
