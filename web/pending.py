"""Questions waiting for their answer stream: the ask form posts the question, the page then opens
`GET /ask/stream/{id}`. The question waits here, in the process's memory, under a random id bound
to the person who asked — so it never appears in a URL or an access log, only its owner can open
the stream, and only once, within `ttl_s`."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class PendingQuestion:
    question: str
    owner: str
    """Who may open the stream (`owner_key` of the asker)."""
    thread_id: str
    history: tuple[str, ...]
    created: float


class PendingQuestions:
    """A small, bounded, thread-safe waiting room for questions."""

    def __init__(self, ttl_s: float = 60.0, limit: int = 1000) -> None:
        self.ttl_s = ttl_s
        self.limit = limit
        self._waiting: OrderedDict[str, PendingQuestion] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, question: str, owner: str, thread_id: str, history: tuple[str, ...]) -> str:
        """Park a question; returns the stream id. The oldest questions go when `limit` is reached."""
        stream_id = secrets.token_urlsafe(18)
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            while len(self._waiting) >= self.limit:
                self._waiting.popitem(last=False)
            self._waiting[stream_id] = PendingQuestion(question, owner, thread_id, history, now)
        return stream_id

    def take(self, stream_id: str, owner: str) -> PendingQuestion | None:
        """The question, removed, when `owner` asked it and it has not expired; else None (and a
        stranger's attempt leaves it for its owner)."""
        with self._lock:
            self._expire(time.monotonic())
            pending = self._waiting.get(stream_id)
            if pending is None or not secrets.compare_digest(pending.owner.encode(), owner.encode()):
                return None
            del self._waiting[stream_id]
            return pending

    def _expire(self, now: float) -> None:
        while self._waiting:
            stream_id, oldest = next(iter(self._waiting.items()))
            if now - oldest.created <= self.ttl_s:
                break
            del self._waiting[stream_id]
