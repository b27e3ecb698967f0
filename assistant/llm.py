"""The LLM generator: any OpenAI-compatible server (vLLM, Ollama, llama.cpp, a hosted API) through
LlamaIndex's OpenAI-like client. The model sees numbered passages and may cite only those numbers;
a sentence without a valid citation is dropped, and when nothing cited remains the assistant
refuses. When the server fails, the extractive answer is given instead, with a notice."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from importlib import resources
from typing import TYPE_CHECKING

from assistant.cite import citation
from assistant.extractive import ExtractiveGenerator, refusal
from assistant.messages import language_name, message
from assistant.retrieve import Retrieval
from core.errors import ErrorCode, VraagbaakError
from core.lexical import terms
from core.logging import kv
from core.sentences import split_sentences
from core.settings import AnswerSettings, LLMSettings
from core.types import Answer, AnswerSentence, Citation

if TYPE_CHECKING:
    from llama_index.llms.openai_like import OpenAILike

log = logging.getLogger(__name__)

PROMPT_VERSION = "answer-v1"
# [1], [1, 2] and [1; 2]; [1][2] is two markers.
_MARKER = re.compile(r"\[\s*(\d{1,2}(?:\s*[,;]\s*\d{1,2})*)\s*\]")
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\s*\d{1,2}(?:\s*[,;]\s*\d{1,2})*\s*\])+")
_BULLET = re.compile(r"^\s*(?:[-*•–]|\d{1,2}[.)])\s+")
_THINKING = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL)
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,;:!?])")
_MAX_PASSAGES = 5


def chat_client(settings: LLMSettings, *, max_tokens: int, temperature: float = 0.0,
                timeout_s: float | None = None, top_logprobs: int = 0) -> OpenAILike:
    """LlamaIndex's client for the configured OpenAI-compatible server: the chat endpoint (the server
    applies the model's chat template), no function calling, one try only (a retry would double the
    wait before a fallback), one reused HTTP client. `timeout_s` (default the settings') bounds
    connecting and each wait for data; `top_logprobs` > 0 asks for the likeliest alternatives of
    each token (a server that has none answers without them)."""
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(
        model=settings.model, api_base=(settings.base_url or "").rstrip("/"),
        api_key=settings.api_key.get_secret_value() if settings.api_key else "not-needed",
        is_chat_model=True, is_function_calling_model=False,
        timeout=settings.timeout_s if timeout_s is None else timeout_s, max_retries=0,
        temperature=temperature, max_tokens=max_tokens, reuse_client=True,
        **({"logprobs": True, "top_logprobs": top_logprobs} if top_logprobs else {}),
    )


def load_prompt(version: str = PROMPT_VERSION) -> str:
    """A versioned prompt template from assistant/prompts."""
    return resources.files("assistant").joinpath("prompts", f"{version}.txt").read_text(encoding="utf-8")


class LLMGenerator:
    """Answers with an OpenAI-compatible chat model, keeping only citations of given passages."""

    name = "llm"

    def __init__(self, settings: LLMSettings, answer: AnswerSettings, fallback: ExtractiveGenerator) -> None:
        if not settings.base_url:
            raise VraagbaakError(ErrorCode.CONFIG_INVALID, "The LLM generator needs LLM_BASE_URL.")
        self.settings = settings
        self.answer_settings = answer
        self.fallback = fallback
        self.template = load_prompt()
        # `generate` waits for the whole answer, so there the timeout bounds the whole generation too
        # (`stream` checks the total itself).
        self.llm = chat_client(settings, max_tokens=settings.max_tokens, temperature=settings.temperature)

    def prompt(self, question: str, retrieval: Retrieval) -> str:
        passages = "\n\n".join(f"[{i}] {hit.passage.title}: {hit.passage.text}"
                               for i, hit in enumerate(retrieval.hits[:_MAX_PASSAGES], start=1))
        return self.template.format(language_name=language_name(retrieval.language, "en"),
                                    max_sentences=self.answer_settings.max_sentences,
                                    passages=passages, question=question)

    def generate(self, question: str, retrieval: Retrieval) -> Answer:
        started = time.perf_counter()
        if not retrieval.hits:
            return refusal(question, retrieval.language, retrieval, "no_results", self.name, {})
        try:
            from llama_index.core.llms import ChatMessage

            response = self.llm.chat([ChatMessage(role="user", content=self.prompt(question, retrieval))])
            text = (response.message.content or "").strip()
        except Exception as exc:  # the server is down, slow or answers garbage: quote instead
            return self._fallback(question, retrieval, exc, started)
        timings = {"generate": round((time.perf_counter() - started) * 1000, 1)}
        return self.parse(question, retrieval, text, timings)

    def stream(self, question: str, retrieval: Retrieval) -> Iterator[Answer]:
        """`generate` while the model writes (the server streams tokens): a draft answer each time
        a sentence is complete, the parsed answer last. A sentence is held back until the next one
        has begun, since its citation markers may follow its full stop. `timeout_s` bounds the whole
        generation here too; a failure at any point gives the extractive answer, as `generate` does."""
        started = time.perf_counter()
        if not retrieval.hits:
            yield refusal(question, retrieval.language, retrieval, "no_results", self.name, {})
            return
        text, stable = "", 0
        try:
            from llama_index.core.llms import ChatMessage

            for chunk in self.llm.stream_chat([ChatMessage(role="user", content=self.prompt(question, retrieval))]):
                if time.perf_counter() - started > self.settings.timeout_s:
                    raise TimeoutError(f"the answer took longer than {self.settings.timeout_s} s")
                text += chunk.delta or ""
                claims = _claims(_THINKING.sub("", text))
                if len(claims) - 1 > stable:
                    stable = len(claims) - 1
                    draft = self.parse(question, retrieval, "\n".join(claims[:stable]), {}, quiet=True)
                    if draft.answered:
                        yield draft
        except Exception as exc:  # the server is down, slow or breaks off: quote instead
            yield self._fallback(question, retrieval, exc, started)
            return
        timings = {"generate": round((time.perf_counter() - started) * 1000, 1)}
        yield self.parse(question, retrieval, text.strip(), timings)

    def _fallback(self, question: str, retrieval: Retrieval, exc: Exception, started: float) -> Answer:
        log.warning("llm failed; extractive fallback", extra=kv(error=type(exc).__name__,
                                                                seconds=round(time.perf_counter() - started, 2)))
        answer = self.fallback.generate(question, retrieval)
        notice = message("llm_fallback", retrieval.language)
        if answer.notice:  # e.g. the sources are in another language
            notice = f"{notice} {answer.notice}"
        return Answer(**{**answer.__dict__, "notice": notice})

    def parse(self, question: str, retrieval: Retrieval, text: str, timings: dict[str, float],
              quiet: bool = False) -> Answer:
        """Turn the model's text into cited sentences; drop sentences that cite nothing valid.

        Only passages 1..n that the model was given may be cited: other numbers are removed, and a
        sentence left without a valid citation is dropped. Markers are renumbered in order of first
        use. `NOT_FOUND` (or no text) is the model declining; nothing left is "unsupported".
        """
        available = min(len(retrieval.hits), _MAX_PASSAGES)
        text = _THINKING.sub("", text or "").strip()
        if not text or "NOT_FOUND" in text:
            return refusal(question, retrieval.language, retrieval, "model_declined", self.name, timings)
        renumber: dict[int, int] = {}
        citations: list[Citation] = []
        sentences: list[AnswerSentence] = []
        dropped = 0
        for claim in _claims(text):
            cited = [n for n in _cited_numbers(claim) if 1 <= n <= available]
            clean = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(_MARKER.sub(" ", claim).split())).strip()
            if not cited or not any(c.isalnum() for c in clean):
                dropped += 1
                continue
            numbers = []
            for n in dict.fromkeys(cited):
                if n not in renumber:
                    renumber[n] = len(renumber) + 1
                    hit = retrieval.hits[n - 1]
                    start, end = _supporting_span(clean, hit.passage.text, retrieval.language)
                    citations.append(citation(renumber[n], hit, start, end))
                numbers.append(renumber[n])
            sentences.append(AnswerSentence(clean, tuple(numbers)))
        if dropped and not quiet:
            log.info("llm sentences without a valid citation dropped", extra=kv(dropped=dropped, kept=len(sentences)))
        if not sentences:
            return refusal(question, retrieval.language, retrieval, "unsupported", self.name, timings)
        return Answer(question=question, language=retrieval.language, answered=True, sentences=tuple(sentences),
                      citations=tuple(citations), generator=f"{self.name}:{self.settings.model}",
                      timings_ms=timings)


def _claims(text: str) -> list[str]:
    """The model's sentences, each with the citation markers that belong to it.

    Lines are split separately (models answer in lists) and bullets are removed. Markers that open
    a sentence inside a line ("... at 8. [1] It closes ...") belong to the sentence before them,
    as do markers alone on a line; markers that open a line ("[2] The canteen ...") are its own.
    """
    claims: list[str] = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip()
        for index, sentence in enumerate(split_sentences(line)):
            chunk = sentence.text.strip()
            leading = _LEADING_MARKERS.match(chunk)
            rest = chunk[leading.end():].strip() if leading else chunk
            if leading and claims and (index > 0 or not rest):
                claims[-1] = f"{claims[-1]} {leading.group(0).strip()}"
                chunk = rest
            if chunk:
                claims.append(chunk)
    return claims


def _cited_numbers(claim: str) -> list[int]:
    return [int(n) for group in _MARKER.findall(claim) for n in re.split(r"[,;]", group)]


def _supporting_span(claim: str, passage: str, language: str) -> tuple[int, int]:
    """The passage sentence that shares the most terms with the claim."""
    claim_terms = set(terms(claim, language))
    best, best_overlap = None, -1
    for sentence in split_sentences(passage):
        overlap = len(claim_terms & set(terms(sentence.text, language)))
        if overlap > best_overlap:
            best, best_overlap = sentence, overlap
    return (best.start, best.end) if best else (0, len(passage))
