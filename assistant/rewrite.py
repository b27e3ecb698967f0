"""Follow-up questions rewritten by the LLM when one is configured: "en voor parttimers?" after
"Hoeveel vakantiedagen heb ik?" becomes "Hoeveel vakantiedagen heb ik als parttimer?".

The model's line is accepted only when it looks like a rewrite of this question — one line, a
question-sized length, keeping at least half of the follow-up's own content words and not merely
repeating an earlier question (SmolLM2 turned "and for part-timers?" into the earlier "How many
vacation days do I get?", losing the point) — otherwise, and on
any server failure or timeout, the rule-based rewrite (`assistant/conversation.py`) is used. Only
questions that may lean on the thread are sent (short, or with a connective or back-reference), so
a standalone question costs no LLM call.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence

from assistant.conversation import is_follow_up, standalone_question
from assistant.llm import chat_client, load_prompt
from assistant.messages import language_name
from core.language import detect_language
from core.lexical import terms
from core.logging import kv
from core.settings import LLMSettings

log = logging.getLogger(__name__)

PROMPT_VERSION = "rewrite-v1"
_MAX_HISTORY = 4
_SHORT_WORDS = 8
_PREFIX = re.compile(r"^\s*(?:rewritten question|herschreven vraag|question|vraag)\s*:\s*", re.IGNORECASE)


def may_lean_on_history(question: str) -> bool:
    """Worth a rewrite: a connective or back-reference (the rule's test), or simply short."""
    return is_follow_up(question) or len(question.split()) <= _SHORT_WORDS


def acceptable(candidate: str, question: str, history: Sequence[str], language: str) -> str | None:
    """The model's rewrite, cleaned, if it can stand in for the question; None otherwise."""
    lines = [line.strip() for line in candidate.strip().splitlines() if line.strip()]
    if len(lines) != 1:
        return None
    line = _PREFIX.sub("", lines[0]).strip().strip('"“”\'')
    if not 3 <= len(line) <= 2 * (len(question) + max((len(h) for h in history), default=0)) + 40:
        return None
    own = set(terms(line, language))
    asked = set(terms(question, language))
    earlier = {t for h in history for t in terms(h, language)}
    if not own or not own & (asked | earlier):
        return None
    if asked and len(own & asked) * 2 < len(asked):  # the follow-up's own point must survive the rewrite
        return None
    if any(" ".join(line.lower().split()) == " ".join(h.lower().split()) for h in history):
        return None  # the earlier question again: the follow-up's point is lost
    return line


class LLMRewriter:
    """`rewrite(question, history)` with the configured OpenAI-compatible chat model."""

    def __init__(self, settings: LLMSettings, timeout_s: float = 15.0) -> None:
        self.template = load_prompt(PROMPT_VERSION)
        self.llm = chat_client(settings, max_tokens=80, timeout_s=min(timeout_s, settings.timeout_s))
        self.last_source = "none"
        """How the last question was made standalone: none (no history), rule, or llm (for tests and records)."""

    def rewrite(self, question: str, history: Sequence[str]) -> str:
        question = " ".join(question.split())
        earlier = [" ".join(h.split()) for h in history if h.strip()][-_MAX_HISTORY:]
        rule = standalone_question(question, earlier)
        if not earlier or not may_lean_on_history(question):
            self.last_source = "none" if not earlier else "rule"
            return rule
        language = detect_language(question, fallback="nl")
        prompt = self.template.format(language_name=language_name(language, "en"), question=question,
                                      history="\n".join(f"- {h}" for h in earlier))
        started = time.perf_counter()
        try:
            from llama_index.core.llms import ChatMessage

            response = self.llm.chat([ChatMessage(role="user", content=prompt)])
            line = acceptable(response.message.content or "", question, earlier, language)
        except Exception as exc:  # down, slow, garbage: the rule still gives a usable question
            log.warning("follow-up rewrite by the LLM failed; rule used",
                        extra=kv(error=f"{type(exc).__name__}"[:100]))
            line = None
        self.last_source = "llm" if line else "rule"
        log.info("follow-up rewritten", extra=kv(by=self.last_source,
                                                 ms=round((time.perf_counter() - started) * 1000, 1)))
        return line or rule
