"""Questions waiting for their answer stream: the ask form posts the question, the page then opens
`GET /ask/stream/{id}`. The question waits in the application database under a random id bound
to the person who asked — so it never appears in a URL or an access log, only its owner can open
the stream, and only once, within `ttl_s`. In the database (not in one process's memory) because
with several app processes (`uvicorn --workers N`, several machines) the stream may be opened at
another process than the one that took the question."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select

from core.db import Database, PendingQuestionRow, utcnow


@dataclass(frozen=True)
class PendingQuestion:
    question: str
    owner: str
    """Who may open the stream (`owner_key` of the asker)."""
    thread_id: str
    history: tuple[str, ...]


class PendingQuestions:
    """A small, bounded waiting room for questions, shared by every app process on one database."""

    def __init__(self, database: Database, ttl_s: float = 60.0, limit: int = 1000) -> None:
        self.database = database
        self.ttl_s = ttl_s
        self.limit = limit

    def add(self, question: str, owner: str, thread_id: str, history: tuple[str, ...]) -> str:
        """Park a question; returns the stream id. Expired questions go; the oldest go when `limit` is reached."""
        stream_id = secrets.token_urlsafe(18)
        now = utcnow()
        with self.database.session() as session:
            session.execute(delete(PendingQuestionRow).where(
                PendingQuestionRow.created_at < now - timedelta(seconds=self.ttl_s)))
            waiting = session.scalar(select(func.count()).select_from(PendingQuestionRow)) or 0
            if waiting >= self.limit:
                oldest = select(PendingQuestionRow.stream_hash).order_by(PendingQuestionRow.created_at).limit(
                    waiting - self.limit + 1)
                session.execute(delete(PendingQuestionRow).where(PendingQuestionRow.stream_hash.in_(oldest)))
            session.add(PendingQuestionRow(stream_hash=_hash(stream_id), owner=owner, question=question,
                                           thread_id=thread_id, history=list(history), created_at=now))
        return stream_id

    def take(self, stream_id: str, owner: str) -> PendingQuestion | None:
        """The question, removed, when `owner` asked it and it has not expired; else None (and a
        stranger's attempt leaves it for its owner). One atomic delete: of two processes opening the
        same stream at once, one gets the question."""
        cutoff = utcnow() - timedelta(seconds=self.ttl_s)
        with self.database.session() as session:
            row = session.execute(
                delete(PendingQuestionRow)
                .where(PendingQuestionRow.stream_hash == _hash(stream_id), PendingQuestionRow.owner == owner,
                       PendingQuestionRow.created_at >= cutoff)
                .returning(PendingQuestionRow.question, PendingQuestionRow.owner, PendingQuestionRow.thread_id,
                           PendingQuestionRow.history)).first()
        if row is None:
            return None
        return PendingQuestion(row.question, row.owner, row.thread_id, tuple(row.history or ()))


def _hash(stream_id: str) -> str:
    return hashlib.sha256(stream_id.encode()).hexdigest()
