"""Conversations: the earlier questions and answers of a thread, read back from the answer records
of the person asking (a thread id is only ever one person's)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from assistant.records import AnswerLog
from core.db import AnswerRecord
from core.errors import ErrorCode, VraagbaakError

MAX_TURNS = 20
"""The most earlier turns read back (and shown above the newest answer)."""
_THREAD_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Turn:
    """One question of a thread and the answer it got."""

    record_id: str
    question: str
    standalone_question: str | None
    answer: str
    answered: bool
    language: str


def new_thread_id() -> str:
    return uuid.uuid4().hex


def checked_thread_id(thread_id: str | None) -> str | None:
    """A thread id as sent by a form or client: 32 hex digits, or nothing."""
    if not thread_id:
        return None
    if not _THREAD_ID.fullmatch(thread_id):
        raise VraagbaakError(ErrorCode.BAD_REQUEST, "The conversation id is not valid; start a new conversation.")
    return thread_id


class Threads:
    """Reads threads from the answer records."""

    def __init__(self, answer_log: AnswerLog) -> None:
        self.answer_log = answer_log

    def turns(self, thread_id: str, user_id: str | None) -> list[Turn]:
        """The thread's turns, oldest first (the newest MAX_TURNS). A thread that holds someone
        else's answers is NOT_FOUND: nobody reads or continues another person's conversation."""
        pseudonym = self.answer_log.pseudonym(user_id)
        with self.answer_log.database.session() as session:
            rows = session.scalars(select(AnswerRecord).where(AnswerRecord.thread_id == thread_id)
                                   .order_by(AnswerRecord.created_at.desc()).limit(MAX_TURNS)).all()
            if any(row.user_pseudonym != pseudonym for row in rows):
                raise VraagbaakError(ErrorCode.NOT_FOUND, "No such conversation.")
            return [Turn(row.record_id, row.question, row.standalone_question, row.answer, row.answered, row.language)
                    for row in reversed(rows)]

    @staticmethod
    def history(turns: list[Turn]) -> list[str]:
        """The earlier questions as the assistant reads a follow-up: each as it was understood."""
        return [turn.standalone_question or turn.question for turn in turns]
