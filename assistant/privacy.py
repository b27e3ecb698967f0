"""Privacy: erasing one person's data everywhere Vraagbaak keeps it (GDPR art. 17), with a report of
what was removed where, and retention of what outlives its use.

Erasure of a user (`erase_user`), in one transaction that holds the audit chain's write lock:
- their answer records keep their place in the chain, but the question, standalone question, answer,
  answer sentences and quoted spans are replaced by a marker (assistant/redaction.py) — the chain
  still verifies, and `vraagbaak audit verify` counts the records redacted for erasure;
- their feedback (ratings and comments) is deleted;
- content-gap topics lose every mention of their records (ids, re-asked questions); a topic left with
  no questions — its label and centroid came from theirs alone — is deleted;
- their sign-in sessions, API tokens and questions waiting for an answer stream are deleted;
- optionally the account itself. Then nothing links the records' pseudonym (HMAC of the user id)
  back to a person: no user row has that id any more.

Retention (`apply_privacy_retention`): answer records older than `audit.retention_days` go with their
feedback and their mentions in gap topics (assistant/records.py), expired sessions, questions left
waiting, API tokens that are revoked or expired and older than the retention, and gap-topic
mentions of records that no longer exist.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from assistant.records import AnswerLog, RetentionResult, apply_retention, chain_transaction, record_hash, timestamp
from assistant.redaction import redact
from core.db import (
    AnswerRecord,
    ApiTokenRow,
    Database,
    FeedbackRow,
    GapTopicRow,
    PendingQuestionRow,
    SessionRow,
    UserRow,
    utcnow,
)
from core.errors import ErrorCode, VraagbaakError
from core.logging import kv

log = logging.getLogger(__name__)

ERASURE_REASON = "erasure at the user's request (GDPR art. 17)"
PENDING_KEEP_S = 600
"""Questions waiting for their answer stream are useless after a minute (web/pending.py); retention
deletes those older than this."""
_BATCH = 500


# -- content-gap topics ---------------------------------------------------------------------------

@dataclass(frozen=True)
class GapScrub:
    """What dropping records from the content-gap topics changed."""

    topics_changed: int = 0
    topics_removed: int = 0
    entries: int = 0
    """Mentions removed: record ids, and re-asked questions (with their text)."""


def drop_gap_references(session: Session, record_ids: set[str]) -> GapScrub:
    """Remove the records from every gap topic: from `record_ids` and from the last re-check's questions.
    A topic that had questions and is left with none is deleted: its label, terms and centroid were
    derived from those questions alone (mixed topics are relabelled at the next clustering)."""
    if not record_ids:
        return GapScrub()
    changed = removed = entries = 0
    for topic in session.scalars(select(GapTopicRow)):
        before = list(topic.record_ids or ())
        kept = [i for i in before if i not in record_ids]
        details = dict(topic.details or {})
        recheck = details.get("recheck")
        dropped_checks = 0
        if isinstance(recheck, dict) and isinstance(recheck.get("questions"), list):
            questions = [q for q in recheck["questions"] if not (isinstance(q, dict) and q.get("record_id") in record_ids)]
            dropped_checks = len(recheck["questions"]) - len(questions)
            if dropped_checks:
                details["recheck"] = {**recheck, "questions": questions, "total": len(questions),
                                      "answered": sum(bool(q.get("answered")) for q in questions if isinstance(q, dict))}
        dropped = len(before) - len(kept) + dropped_checks
        if not dropped:
            continue
        entries += dropped
        if before and not kept:
            session.delete(topic)
            removed += 1
            continue
        topic.record_ids, topic.details, topic.updated_at = kept, details, utcnow()
        changed += 1
    return GapScrub(changed, removed, entries)


def _referenced_records(session: Session) -> set[str]:
    found: set[str] = set()
    for ids, details in session.execute(select(GapTopicRow.record_ids, GapTopicRow.details)):
        found.update(str(i) for i in ids or ())
        recheck = (details or {}).get("recheck")
        if isinstance(recheck, dict):
            found.update(str(q["record_id"]) for q in recheck.get("questions") or ()
                         if isinstance(q, dict) and q.get("record_id"))
    return found


def drop_dangling_gap_references(session: Session) -> GapScrub:
    """Drop gap-topic mentions of records that no longer exist (deleted by retention, or before this ran)."""
    referenced = sorted(_referenced_records(session))
    existing: set[str] = set()
    for begin in range(0, len(referenced), _BATCH):
        batch = referenced[begin:begin + _BATCH]
        existing.update(session.scalars(select(AnswerRecord.record_id).where(AnswerRecord.record_id.in_(batch))))
    return drop_gap_references(session, set(referenced) - existing)


# -- erasure of a user ----------------------------------------------------------------------------

WHERE = ("answer_records", "feedback", "gap_topics", "gap_topics_removed", "sessions", "api_tokens",
         "pending_questions", "users")
"""The report's rows, in order: table (or derived data) → how many rows or mentions."""


@dataclass(frozen=True)
class UserErasure:
    """What erasing one user's data removed (or, `dry_run`, would remove), where."""

    erasure_id: str
    user_id: str
    username: str
    pseudonym: str
    """The pseudonym their records keep: give it to a Learning Record Store that received xAPI statements."""
    at: datetime
    removed: dict[str, int]
    """Per table: answer_records (text erased), feedback (deleted), gap_topics (mentions dropped),
    gap_topics_removed, sessions, api_tokens, pending_questions, users (the account, when deleted)."""
    erased_fields: int
    already_erased: int
    """Records of theirs erased by an earlier request (left as they were)."""
    account_deleted: bool
    dry_run: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {"erasure_id": self.erasure_id, "user_id": self.user_id, "username": self.username,
                "pseudonym": self.pseudonym, "at": timestamp(self.at), "removed": dict(self.removed),
                "erased_fields": self.erased_fields, "already_erased": self.already_erased,
                "account_deleted": self.account_deleted, "dry_run": self.dry_run, "notes": list(self.notes)}


NOTES = (
    "Answer records keep their place in the audit chain, their pseudonym, scores, cited document ids and "
    "versions; their text is replaced by a marker. `vraagbaak audit verify` still passes and counts them.",
    "xAPI statements already sent to a Learning Record Store name only the pseudonym above; erase them there.",
    "Topics of mixed questions are relabelled at the next clustering (after an ingestion job, or "
    "`vraagbaak gaps cluster`).",
    "Backups of the database made before now still hold the text until they expire.",
)


def erase_user(answer_log: AnswerLog, user_id: str, *, delete_account: bool = False, dry_run: bool = False,
               reason: str = ERASURE_REASON) -> UserErasure:
    """Erase everything Vraagbaak keeps of one user (NOT_FOUND when there is no such account). With
    `dry_run` the same work is done and rolled back, so the report says exactly what would go."""
    database = answer_log.database
    pseudonym = answer_log.pseudonym(user_id)
    erasure_id, now = uuid.uuid4().hex, utcnow()
    with chain_transaction(database) as session:
        user = session.get(UserRow, user_id)
        if user is None:
            raise VraagbaakError(ErrorCode.NOT_FOUND, "No such user.")
        username = user.username
        rows = list(session.scalars(select(AnswerRecord).where(AnswerRecord.user_pseudonym == pseudonym)
                                    .order_by(AnswerRecord.seq)))
        ids = [row.record_id for row in rows]
        fresh = [row for row in rows if row.redaction is None]
        fields = 0
        for row in fresh:
            intact = row.record_hash is None or record_hash(row) == row.record_hash
            fields += redact(row, at=now, reason=reason, erasure_id=erasure_id, intact=intact)
        feedback = session.execute(delete(FeedbackRow).where(FeedbackRow.user_pseudonym == pseudonym)).rowcount or 0
        for begin in range(0, len(ids), _BATCH):  # feedback on their answers by anyone (only they can rate them)
            feedback += session.execute(delete(FeedbackRow).where(FeedbackRow.record_id.in_(ids[begin:begin + _BATCH]))
                                        ).rowcount or 0
        gaps = drop_gap_references(session, set(ids))
        removed = {
            "answer_records": len(fresh), "feedback": feedback, "gap_topics": gaps.entries,
            "gap_topics_removed": gaps.topics_removed,
            "sessions": session.execute(delete(SessionRow).where(SessionRow.user_id == user_id)).rowcount or 0,
            "api_tokens": session.execute(delete(ApiTokenRow).where(ApiTokenRow.user_id == user_id)).rowcount or 0,
            "pending_questions": session.execute(delete(PendingQuestionRow).where(
                or_(*[PendingQuestionRow.owner == f"{via}:{user_id}" for via in ("session", "token")]))).rowcount or 0,
            "users": 0,
        }
        if delete_account:
            session.delete(user)
            removed["users"] = 1
        if dry_run:
            session.rollback()
    report = UserErasure(erasure_id, user_id, username, pseudonym, now, removed, fields, len(rows) - len(fresh),
                         delete_account, dry_run, NOTES)
    if not dry_run:
        log.info("user data erased", extra=kv(erasure_id=erasure_id, **removed))
    return report


# -- retention ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PrivacyRetention:
    """What one retention run removed."""

    records: RetentionResult
    sessions: int
    api_tokens: int
    pending_questions: int
    gap_references: int
    """Gap-topic mentions of records that no longer exist (besides those dropped with the records)."""

    def as_dict(self) -> dict[str, Any]:
        cutoff = self.records.cutoff
        return {"cutoff": timestamp(cutoff) if cutoff else None,
                "answer_records": self.records.removed, "feedback": self.records.feedback_removed,
                "gap_references": self.records.gap_references_removed + self.gap_references,
                "sessions": self.sessions, "api_tokens": self.api_tokens, "pending_questions": self.pending_questions,
                "answer_records_removed_total": self.records.removed_total}


def purge_expired(database: Database, days: int | None = None, *, now: datetime | None = None) -> dict[str, int]:
    """Delete expired sessions, questions left waiting, gap-topic mentions of records that are gone and
    (with `days`) API tokens that are revoked or expired and were made more than `days` ago."""
    now = now or datetime.now(UTC)
    with database.session() as session:
        removed = {
            "sessions": session.execute(delete(SessionRow).where(SessionRow.expires_at < now)).rowcount or 0,
            "pending_questions": session.execute(delete(PendingQuestionRow).where(
                PendingQuestionRow.created_at < now - timedelta(seconds=PENDING_KEEP_S))).rowcount or 0,
            "api_tokens": 0,
        }
        if days is not None:
            dead = or_(ApiTokenRow.revoked.is_(True), ApiTokenRow.expires_at < now)
            removed["api_tokens"] = session.execute(delete(ApiTokenRow).where(
                dead, ApiTokenRow.created_at < now - timedelta(days=days))).rowcount or 0
        removed["gap_references"] = drop_dangling_gap_references(session).entries
    if any(removed.values()):
        log.info("privacy retention applied", extra=kv(days=days, **removed))
    return removed


def apply_privacy_retention(database: Database, days: int | None, *, now: datetime | None = None) -> PrivacyRetention:
    """Answer records older than `days` (with their feedback and gap mentions; None: kept), then `purge_expired`."""
    records = apply_retention(database, days, now=now)
    purged = purge_expired(database, days, now=now)
    return PrivacyRetention(records, purged["sessions"], purged["api_tokens"], purged["pending_questions"],
                            purged["gap_references"])
