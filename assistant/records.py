"""Answer records: every answer (and every refusal, with its reason) is stored in the application
database with what is needed to audit it later — who asked (pseudonymously), what was retrieved and
cited (with the version hash of each cited document), how it was generated and verified, and the
time per stage. The compliance and content-gap views are built on these records.

The records form a hash chain (tamper evidence for the audit log): each record gets the next `seq`,
the `record_hash` of the one before it as `prev_hash`, and its own `record_hash` — SHA-256 over a
canonical JSON of all its columns and `prev_hash` (since format 2 with the personal text as salted
digests, so that erasure keeps the chain verifiable: assistant/redaction.py). Appends are serialised across threads and
processes (SQLite: `BEGIN IMMEDIATE`; Postgres: a transaction-scoped advisory lock; the unique `seq`
is the backstop). `verify_chain` recomputes it; `apply_retention` deletes old records from the start
of the chain and leaves a checkpoint (seq and hash of the last deleted record) to verify from.

An answer never waits long for its record: the append waits at most `audit.record_wait_s` for the
chain's lock (another writer holds the database). A record that cannot be written then (locked, disk
full, read-only) is kept in a bounded queue in memory and written, in order, by a background thread
once the database takes writes again; while records wait there, new ones join the queue without
waiting. The answer itself is given at once, without a `record_id`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from assistant.redaction import field_digests, with_digests
from assistant.retrieve import Retrieval
from core.db import SQLITE_BUSY_TIMEOUT_MS, AnswerRecord, AuditCheckpointRow, Database, FeedbackRow, utcnow
from core.errors import ErrorCode, VraagbaakError
from core.logging import kv
from core.settings import Settings
from core.types import Answer

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
"""The user id of questions asked without signing in."""

_KEY_FILE = "pseudonym.key"

BACKLOG_LIMIT = 1000
"""Most answer records kept in memory while the database takes no writes; beyond it new ones are dropped (logged)."""
_RETRY_FIRST_S, _RETRY_MAX_S = 0.5, 30.0


def pseudonym(user_id: str, secret: str) -> str:
    """The user id as stored: HMAC-SHA256 under the installation's secret (hex). Stable for one user
    and one secret; without the secret it cannot be traced back, nor recomputed from a guessed id."""
    return hmac.new(secret.encode("utf-8"), user_id.encode("utf-8"), hashlib.sha256).hexdigest()


def installation_secret(data_dir: Path) -> str:
    """The per-installation pseudonym key kept in the data folder, created (random, readable by the
    owner only) on first use."""
    path = data_dir / _KEY_FILE
    if path.is_file():
        secret = path.read_text(encoding="utf-8").strip()
        if secret:
            return secret
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    log.info("pseudonym key created", extra=kv(path=str(path)))
    return secret


@dataclass(frozen=True)
class GeneratorInfo:
    """What wrote the answer beyond the generator's name: the model and the prompt template version."""

    model: str = ""
    prompt_version: str | None = None


class AnswerLog:
    """Stores answer records in the application database, each appended to the audit hash chain."""

    def __init__(self, database: Database, secret: str, wait_s: float | None = None) -> None:
        if not secret:
            raise VraagbaakError(ErrorCode.CONFIG_INVALID, "The pseudonym secret must not be empty.")
        self.database = database
        self._secret = secret
        self.wait_s = wait_s
        """Longest a record's append waits for the chain's lock; None: the database's own busy timeout, retried."""
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        """Called with each record's content after it is stored (e.g. xAPI statements); a failing one is logged."""
        self._backlog: deque[tuple[dict[str, Any], float]] = deque()
        self._backlog_lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._closing = threading.Event()

    @classmethod
    def build(cls, settings: Settings, database: Database) -> AnswerLog:
        """With the configured pseudonym secret, or the installation's own key in the data folder."""
        configured = settings.answer.pseudonym_secret
        secret = configured.get_secret_value() if configured else installation_secret(settings.data_dir)
        return cls(database, secret, wait_s=settings.audit.record_wait_s)

    @property
    def waiting(self) -> int:
        """Records kept in memory, not yet written."""
        return len(self._backlog)

    def pseudonym(self, user_id: str | None) -> str:
        return pseudonym(user_id or ANONYMOUS, self._secret)

    def record(self, answer: Answer, retrieval: Retrieval | None, user: str | None,
               info: GeneratorInfo = GeneratorInfo()) -> str:
        """Store one answer at the end of the chain; returns the record id. When it cannot be written within
        `wait_s` (or earlier records still wait), it is kept for the background writer and `VraagbaakError`
        (STORE_UNAVAILABLE) is raised: the caller decides whether the answer may still be given."""
        hits = retrieval.hits if retrieval is not None else ()
        groups = {h.passage.doc_id: list(h.passage.groups) for h in hits}
        content: dict[str, Any] = dict(
            record_id=uuid.uuid4().hex,
            user_pseudonym=self.pseudonym(user),
            question=answer.question,
            standalone_question=answer.standalone_question,
            language=answer.language,
            answered=answer.answered,
            verdict=answer.verdict,
            refusal_reason=answer.refusal_reason,
            answer=answer.text,
            confidence=float(answer.confidence),
            support_rate=answer.support_rate,
            support=[{"sentence": i, "text": s.text, "support": s.support, "supported": s.supported,
                      "citations": list(s.citations)}
                     for i, s in enumerate(answer.sentences)] if answer.answered else [],
            retrieved=[{"chunk_id": h.passage.chunk_id, "doc_id": h.passage.doc_id, "version": h.passage.version,
                        "score": float(h.score), "dense_score": float(h.dense_score)} for h in hits],
            cited=[{"number": c.number, "chunk_id": c.chunk_id, "doc_id": c.doc_id, "version": c.version,
                    "uri": c.uri, "title": c.title, "page": c.page, "section": c.section, "quote": c.quote,
                    "quote_start": c.quote_start, "quote_end": c.quote_end, "score": float(c.score),
                    "groups": groups.get(c.doc_id, [])}
                   for c in answer.citations],
            generator=answer.generator,
            model=info.model,
            prompt_version=info.prompt_version,
            timings_ms=dict(answer.timings_ms),
            llm_check=dict(answer.llm_outcome) if answer.llm_outcome is not None else None,
            thread_id=answer.thread_id,
        )
        with self._backlog_lock:
            queued = bool(self._backlog)
            kept = queued and self._defer(content)  # the database refuses writes: keep the order, do not wait
        if queued:
            raise VraagbaakError(ErrorCode.STORE_UNAVAILABLE, f"The answer could not be recorded now ({_later(kept)}): "
                                                              "earlier records are still waiting.")
        try:
            append(self.database, content, wait_s=self.wait_s)
        except Exception as exc:
            with self._backlog_lock:
                kept = self._defer(content)
            raise VraagbaakError(ErrorCode.STORE_UNAVAILABLE, f"The answer could not be recorded now ({_later(kept)}): "
                                                              f"{type(exc).__name__}: {str(exc)[:200]}") from exc
        self._notify(content)
        return content["record_id"]

    def close(self, wait_s: float = 5.0) -> None:
        """Stop the background writer after one last try at what is waiting; log what is lost."""
        self._closing.set()
        writer = self._writer
        if writer is not None:
            writer.join(timeout=wait_s)
        while self._backlog:
            content, since = self._backlog[0]
            try:
                append(self.database, _late(content, since), wait_s=self.wait_s)
            except Exception as exc:
                log.error("answer records lost at shutdown", extra=kv(
                    records=len(self._backlog), error=f"{type(exc).__name__}: {exc}"[:300]))
                return
            with self._backlog_lock:
                self._backlog.popleft()
            self._notify(content)

    def _notify(self, content: dict[str, Any]) -> None:
        for listener in self.listeners:
            try:
                listener(content)
            except Exception as exc:
                log.warning("answer listener failed", extra=kv(error=f"{type(exc).__name__}: {exc}"[:300]))

    def _defer(self, content: dict[str, Any]) -> bool:
        """Queue a record for the background writer (caller holds `_backlog_lock`); False when the queue is full."""
        if len(self._backlog) >= BACKLOG_LIMIT:
            log.error("answer record dropped: too many records waiting", extra=kv(
                record_id=content["record_id"], waiting=len(self._backlog)))
            return False
        self._backlog.append((content, time.monotonic()))
        if self._writer is None and not self._closing.is_set():
            self._writer = threading.Thread(target=self._write_later, name="answer-records", daemon=True)
            self._writer.start()
        return True

    def _write_later(self) -> None:
        """Write the waiting records oldest first, retrying with a growing pause while the database refuses."""
        pause = _RETRY_FIRST_S
        while not self._closing.is_set():
            with self._backlog_lock:
                if not self._backlog:
                    self._writer = None
                    return
                content, since = self._backlog[0]
            try:
                append(self.database, _late(content, since), wait_s=self.wait_s)
            except Exception as exc:
                log.debug("answer record still not written", extra=kv(error=type(exc).__name__, waiting=self.waiting))
                self._closing.wait(pause)
                pause = min(pause * 2, _RETRY_MAX_S)
                continue
            with self._backlog_lock:
                self._backlog.popleft()
                left = len(self._backlog)
            pause = _RETRY_FIRST_S
            log.info("answer recorded late", extra=kv(record_id=content["record_id"],
                                                      late_s=round(time.monotonic() - since, 1), waiting=left))
            self._notify(content)
        with self._backlog_lock:
            self._writer = None


def _late(content: dict[str, Any], since: float) -> dict[str, Any]:
    """The record as written late: its time is the time of writing (so time order follows chain
    order), and `timings_ms.recorded_late` says how long after the answer that was."""
    late_ms = round((time.monotonic() - since) * 1000, 1)
    return {**content, "timings_ms": {**content.get("timings_ms", {}), "recorded_late": late_ms}}


def _later(kept: bool) -> str:
    return "it is kept to be written later" if kept else "too many records are waiting: it is lost"


# -- the hash chain ---------------------------------------------------------------------------------

GENESIS = "0" * 64
"""The `prev_hash` of the first record of a chain that no retention has shortened."""

HASH_FORMAT = 3
"""Version of the canonical form below; part of every hash, so a future change is detectable. Stored per
record (`hash_format`; empty = 1). 1: the personal text as written; 2: each personal text replaced by
its salted digest (assistant/redaction.py), which erasure keeps; 3: as 2, and the LLM answer check's
outcome (`llm_check`) is chained too."""

CHAINED_COLUMNS = (
    "record_id", "created_at", "user_pseudonym", "question", "standalone_question", "language", "answered",
    "verdict", "refusal_reason", "answer", "confidence", "support_rate", "support", "retrieved", "cited",
    "generator", "model", "prompt_version", "timings_ms", "thread_id", "seq",
)
"""Every column of a record except its own `record_hash` (and `prev_hash`, which is hashed beside them),
as of format 1; later formats add `SINCE_FORMAT`'s columns."""

SINCE_FORMAT = {"llm_check": 3}
"""Columns chained from a hash format on: a record of an older format is hashed without them."""

_APPEND_ATTEMPTS = 8
_ADVISORY_LOCK = 0x7662_6B61_7564_6974  # "vbkaudit": one lock key for the chain on Postgres
_process_lock = threading.Lock()


def timestamp(moment: datetime) -> str:
    """A moment as hashed and exported: UTC with microseconds and a Z (SQLite hands back naive UTC)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: AnswerRecord, seq: int | None = None) -> bytes:
    """The bytes a record's hash is taken over: sorted-key, compact, UTF-8 JSON of
    `{"format": F, "record": {every chained column}, "prev_hash": …}` (`seq`: as if it stood there);
    in format 2 and later each personal text is replaced by its digest; from format 3 `llm_check` is in it."""
    form = row.hash_format or 1
    record = {name: getattr(row, name) for name in CHAINED_COLUMNS}
    record.update({name: getattr(row, name) for name, since in SINCE_FORMAT.items() if form >= since})
    if seq is not None:
        record["seq"] = seq
    record["created_at"] = timestamp(row.created_at)
    if form >= 2:
        record = with_digests(record, field_digests(row))
    return json.dumps({"format": form, "record": record, "prev_hash": row.prev_hash}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(row: AnswerRecord, seq: int | None = None) -> str:
    return hashlib.sha256(canonical(row, seq)).hexdigest()


@contextmanager
def chain_transaction(database: Database, wait_s: float | None = None) -> Iterator[Session]:
    """A session that holds the chain's write lock until it commits: appends, sealing and retention
    never interleave, across threads and processes. `wait_s`: wait at most this long for the lock
    (TimeoutError in this process; the database's lock error otherwise); None: the database's busy timeout."""
    started = time.monotonic()
    if not _process_lock.acquire(timeout=-1 if wait_s is None else wait_s):
        raise TimeoutError(f"the audit chain stayed busy in this process for {wait_s} s")
    try:
        with database.session() as session:
            connection = session.connection()
            dialect = connection.dialect.name
            left_ms = None if wait_s is None else max(1, int((wait_s - (time.monotonic() - started)) * 1000))
            if dialect == "sqlite":
                raw = connection.connection.dbapi_connection
                if not getattr(raw, "in_transaction", False):
                    if left_ms is not None:
                        connection.exec_driver_sql(f"PRAGMA busy_timeout={left_ms}")
                    try:
                        connection.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock before reading the head
                    finally:
                        if left_ms is not None:
                            connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            elif dialect == "postgresql":
                if left_ms is not None:  # only for this transaction; the advisory lock's wait counts
                    connection.exec_driver_sql(f"SET LOCAL lock_timeout = {left_ms}")
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
            yield session
    finally:
        _process_lock.release()


def _head(session: Session, *, for_update: bool = False) -> tuple[int, str]:
    """(seq, record_hash) of the chain's last link: the newest record, else the newest checkpoint, else (0, GENESIS)."""
    query = (select(AnswerRecord.seq, AnswerRecord.record_hash).where(AnswerRecord.seq.is_not(None))
             .order_by(AnswerRecord.seq.desc()).limit(1))
    if for_update and session.get_bind().dialect.name not in ("sqlite", "postgresql"):
        query = query.with_for_update()
    last = session.execute(query).first()
    if last is not None:
        return int(last.seq), str(last.record_hash)
    checkpoint = latest_checkpoint(session)
    return (checkpoint.seq, checkpoint.record_hash) if checkpoint else (0, GENESIS)


def _link(session: Session, row: AnswerRecord) -> None:
    seq, prev = _head(session, for_update=True)
    row.seq, row.prev_hash = seq + 1, prev
    row.hash_format, row.salt = HASH_FORMAT, secrets.token_hex(16)
    row.record_hash = record_hash(row)


def append(database: Database, content: dict[str, Any], wait_s: float | None = None) -> AnswerRecord:
    """Insert one record as the chain's next link. A lost race on the unique `seq` (a database
    without a lock we know) is retried. `wait_s`: give up after about this long (the lock's wait
    and the retries together) with the last error."""
    deadline = None if wait_s is None else time.monotonic() + wait_s
    for attempt in range(_APPEND_ATTEMPTS):
        row = AnswerRecord(**content)
        try:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
            with chain_transaction(database, left) as session:
                row.created_at = utcnow()  # under the lock: time order follows chain order
                _link(session, row)
                session.add(row)
            return row
        except (IntegrityError, OperationalError, TimeoutError) as exc:
            if attempt == _APPEND_ATTEMPTS - 1 or (deadline is not None and time.monotonic() >= deadline):
                raise
            log.info("audit chain append retried", extra=kv(attempt=attempt + 1, error=type(exc).__name__))
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def seal(database: Database) -> int:
    """Chain the records that have no `seq` yet (written before the chain existed), oldest first;
    returns how many."""
    sealed = 0
    with chain_transaction(database) as session:
        rows = session.scalars(select(AnswerRecord).where(AnswerRecord.seq.is_(None))
                               .order_by(AnswerRecord.created_at, AnswerRecord.record_id)).all()
        for row in rows:
            _link(session, row)
            session.flush()
            sealed += 1
    if sealed:
        log.info("audit chain: older records sealed", extra=kv(records=sealed))
    return sealed


def latest_checkpoint(session: Session) -> AuditCheckpointRow | None:
    return session.scalars(select(AuditCheckpointRow).order_by(AuditCheckpointRow.seq.desc()).limit(1)).first()


# -- retention --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetentionResult:
    removed: int
    removed_total: int
    checkpoint_seq: int | None
    cutoff: datetime | None
    feedback_removed: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    gap_references_removed: int = 0
    """Mentions of the deleted records in content-gap topics (their ids, re-asked questions) dropped with them."""


def apply_retention(database: Database, days: int | None, *, now: datetime | None = None) -> RetentionResult:
    """Delete the records older than `days` from the start of the chain (with their feedback and what
    content-gap topics keep of them), and leave a checkpoint so that the rest still verifies. `None`
    days: nothing is deleted."""
    from assistant.privacy import drop_gap_references  # privacy builds on this module

    with chain_transaction(database) as session:
        checkpoint = latest_checkpoint(session)
        total = checkpoint.removed_total if checkpoint else 0
        if days is None:
            return RetentionResult(0, total, checkpoint.seq if checkpoint else None, None)
        cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
        first_young = session.scalar(select(func.min(AnswerRecord.seq)).where(AnswerRecord.created_at >= cutoff))
        head = session.scalar(select(func.max(AnswerRecord.seq)))
        last = (first_young - 1) if first_young is not None else head
        start = checkpoint.seq if checkpoint else 0
        if last is None or last <= start:
            return RetentionResult(0, total, checkpoint.seq if checkpoint else None, cutoff)
        last_hash = session.scalar(select(AnswerRecord.record_hash).where(AnswerRecord.seq == last))
        if last_hash is None:
            raise VraagbaakError(ErrorCode.CONFLICT, f"The audit chain has no record at seq {last}; run "
                                                     "`vraagbaak audit verify` before applying retention.")
        ids = list(session.scalars(select(AnswerRecord.record_id).where(AnswerRecord.seq <= last)))
        feedback = 0
        for begin in range(0, len(ids), 500):
            feedback += session.execute(delete(FeedbackRow).where(FeedbackRow.record_id.in_(ids[begin:begin + 500]))
                                        ).rowcount or 0
        removed = session.execute(delete(AnswerRecord).where(AnswerRecord.seq <= last)).rowcount or 0
        gaps = drop_gap_references(session, set(ids))
        session.add(AuditCheckpointRow(seq=last, record_hash=last_hash, removed=removed, removed_total=total + removed,
                                       cutoff=cutoff, created_at=utcnow()))
    log.info("audit retention applied", extra=kv(removed=removed, checkpoint_seq=last, days=days,
                                                 gap_references=gaps.entries))
    return RetentionResult(removed, total + removed, last, cutoff, feedback, gap_references_removed=gaps.entries)


def retention_status(database: Database) -> dict[str, Any]:
    """Records removed by retention so far, the checkpoint, and the oldest record kept."""
    with database.session() as session:
        checkpoint = latest_checkpoint(session)
        oldest = session.scalar(select(func.min(AnswerRecord.created_at)))
        count = session.scalar(select(func.count()).select_from(AnswerRecord)) or 0
    return {"removed_total": checkpoint.removed_total if checkpoint else 0,
            "checkpoint_seq": checkpoint.seq if checkpoint else None,
            "last_run": timestamp(checkpoint.created_at) if checkpoint else None,
            "oldest_record": timestamp(oldest) if oldest else None, "records": count}


def prepare_chain(database: Database, retention_days: int | None) -> None:
    """At start-up: seal records written before the chain existed, then apply retention. Failures are
    logged, never fatal: answering questions matters more."""
    try:
        seal(database)
        if retention_days is not None:
            apply_retention(database, retention_days)
    except Exception as exc:
        log.warning("audit chain not prepared", extra=kv(error=f"{type(exc).__name__}: {exc}"[:300]))
