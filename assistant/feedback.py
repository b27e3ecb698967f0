"""Feedback on answers: thumbs up or down with an optional comment, from the person who got the
answer. Rating again replaces the earlier rating. The content-gap dashboard reads these rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from assistant.records import AnswerLog
from core.db import AnswerRecord, FeedbackRow, utcnow
from core.errors import ErrorCode, VraagbaakError

MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True)
class Feedback:
    """One person's rating of one answer."""

    feedback_id: str
    record_id: str
    rating: int
    comment: str | None
    created_at: datetime


class FeedbackLog:
    """Stores ratings in the application database, under the rater's pseudonym."""

    def __init__(self, answer_log: AnswerLog) -> None:
        self.answer_log = answer_log
        self.database = answer_log.database

    def rate(self, record_id: str, user_id: str | None, rating: int, comment: str | None = None) -> Feedback:
        """Rate answer `record_id` (+1 or -1) as `user_id`. Only the one who got the answer may rate it:
        anyone else — and an unknown record — gets NOT_FOUND (so record ids cannot be probed)."""
        if rating not in (1, -1):
            raise VraagbaakError(ErrorCode.BAD_REQUEST, "The rating must be 1 (thumbs up) or -1 (thumbs down).")
        comment = (comment or "").strip() or None
        if comment is not None and len(comment) > MAX_COMMENT_CHARS:
            raise VraagbaakError(ErrorCode.BAD_REQUEST, f"The comment is too long (at most {MAX_COMMENT_CHARS} "
                                                        "characters).")
        pseudonym = self.answer_log.pseudonym(user_id)
        with self.database.session() as session:
            owner = session.scalar(select(AnswerRecord.user_pseudonym).where(AnswerRecord.record_id == record_id))
            if owner is None or owner != pseudonym:
                raise VraagbaakError(ErrorCode.NOT_FOUND, "No such answer.")
            row = session.scalar(select(FeedbackRow).where(FeedbackRow.record_id == record_id,
                                                           FeedbackRow.user_pseudonym == pseudonym))
            if row is None:
                row = FeedbackRow(feedback_id=uuid.uuid4().hex, record_id=record_id, user_pseudonym=pseudonym)
                session.add(row)
            row.rating, row.comment, row.created_at = rating, comment, utcnow()
            session.flush()
            return Feedback(row.feedback_id, record_id, rating, comment, row.created_at)

    def rating(self, record_id: str, user_id: str | None) -> Feedback | None:
        """The rating `user_id` gave answer `record_id`, if any."""
        pseudonym = self.answer_log.pseudonym(user_id)
        with self.database.session() as session:
            row = session.scalar(select(FeedbackRow).where(FeedbackRow.record_id == record_id,
                                                           FeedbackRow.user_pseudonym == pseudonym))
            return None if row is None else Feedback(row.feedback_id, record_id, row.rating, row.comment,
                                                     row.created_at)
