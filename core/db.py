"""The application database: the document registry, sources, ingestion jobs and answer records
(the web issue adds users and feedback). SQLite in the data folder by default, Postgres by URL, through
SQLAlchemy; the schema is created and upgraded by Alembic migrations in `core/migrations`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, MetaData, String, Text, create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool

from core.errors import ErrorCode, VraagbaakError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long an SQLite statement waits for another connection's write lock before it fails."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    })


class SourceRow(Base):
    """A configured source: from the sources file (`origin='file'`) or added through the API."""

    __tablename__ = "sources"

    source_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    config: Mapped[dict] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(10), default="api")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DocumentRow(Base):
    """One document of a source as the registry knows it: what was indexed, what failed and why."""

    __tablename__ = "documents"

    doc_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(100), index=True)
    uri: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    media_type: Mapped[str] = mapped_column(String(40), default="")
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The indexed version (content hash of what is searchable now); None when nothing is."""
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """Hash of the version plus access groups and lifecycle metadata: a change re-labels the chunks."""
    status: Mapped[str] = mapped_column(String(20), index=True)  # indexed | failed | skipped | erased
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    parser: Mapped[str] = mapped_column(String(60), default="")
    ocr: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(10), default="")
    groups: Mapped[list] = mapped_column(JSON, default=list)
    lifecycle: Mapped[dict] = mapped_column(JSON, default=dict)
    stale: Mapped[str | None] = mapped_column(String(20), nullable=True)  # expired | superseded | not_yet_effective
    link: Mapped[str | None] = mapped_column(Text, nullable=True)
    modified: Mapped[float | None] = mapped_column(Float, nullable=True)
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_indexed: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class JobRow(Base):
    """An ingestion job and its live progress."""

    __tablename__ = "jobs"

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued | running | succeeded | failed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    files_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    files_done: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    current: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    report: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    params: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    """What a queued job is to do (`force`, `only`), for the worker process that claims it."""
    worker: Mapped[str | None] = mapped_column(String(100), nullable=True)
    """The worker process that claimed the job (`host:pid`)."""
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """Last sign of life of that worker; a stale one means it died (ingest/jobs.py)."""


class PendingQuestionRow(Base):
    """A question waiting for its answer stream (web/pending.py), in the database so that any app
    process can open the stream."""

    __tablename__ = "pending_questions"

    stream_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 of the stream id (the id itself only travels to the asker's browser)."""
    owner: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    thread_id: Mapped[str] = mapped_column(String(64))
    history: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class AnswerRecord(Base):
    """One answer as it was given: what was asked (by whom, pseudonymously), what was retrieved and
    cited (with each cited document's version), how it was generated and verified, and how long each
    stage took. Refusals are stored with their reason; the compliance views are built on these."""

    __tablename__ = "answer_records"

    record_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user_pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    """HMAC-SHA256 pseudonym of the user id (assistant/records.py), never the id itself."""
    question: Mapped[str] = mapped_column(Text)
    standalone_question: Mapped[str | None] = mapped_column(Text, nullable=True)
    language: Mapped[str] = mapped_column(String(10))
    answered: Mapped[bool] = mapped_column(Boolean)
    verdict: Mapped[str] = mapped_column(String(20), index=True)  # answered | partly_supported | refused
    refusal_reason: Mapped[str | None] = mapped_column(String(30), nullable=True, index=True)
    """no_results | low_evidence | unsupported | model_declined."""
    answer: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    support_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    support: Mapped[list] = mapped_column(JSON, default=list)
    """Per answer sentence: its support score, whether it counts as supported, the citations it has."""
    retrieved: Mapped[list] = mapped_column(JSON, default=list)
    """Per retrieved passage, in rank order: chunk id, document id and version, fused and dense score."""
    cited: Mapped[list] = mapped_column(JSON, default=list)
    """Per citation: chunk id, document id and the version hash of the cited document, the quoted span."""
    generator: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(200), default="")
    prompt_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    timings_ms: Mapped[dict] = mapped_column(JSON, default=dict)
    llm_check: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    """The LLM answer check (None: not asked): what the model said, P(YES), the checked score with its
    weight and bar, whether the answer stood. Chained since hash format 3."""
    thread_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    """The conversation the question belongs to (follow-ups share it)."""
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    """Position in the audit hash chain (1, 2, …)."""
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    record_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """SHA-256 over the record's canonical content and `prev_hash`: `vraagbaak audit verify` recomputes the chain."""
    hash_format: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """Canonical form the hash was taken over (None: 1, plain text; 2: salted digests of the personal text;
    3: also `llm_check`)."""
    salt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """Format 2: the key of the personal text's digests; erasure deletes it (assistant/privacy.py)."""
    redaction: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    """Set when the personal text was erased: when, why, and the digests that stand in for it."""


class UserRow(Base):
    """A person who signs in: a local account (password hash) or one from single sign-on."""

    __tablename__ = "users"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """argon2id hash; None for single-sign-on users."""
    auth: Mapped[str] = mapped_column(String(10), default="local")  # local | oidc
    oidc_subject: Mapped[str | None] = mapped_column(String(300), nullable=True, unique=True)
    """`issuer|sub` of a single-sign-on user."""
    roles: Mapped[list] = mapped_column(JSON, default=list)
    groups: Mapped[list] = mapped_column(JSON, default=list)
    language: Mapped[str | None] = mapped_column(String(5), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[list] = mapped_column(JSON, default=list)
    """Times (epoch seconds) of recent failed sign-ins, for holding back password guessing."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SessionRow(Base):
    """A signed-in browser. Only the SHA-256 of the cookie's token is stored."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ApiTokenRow(Base):
    """A token for the JSON API (`Authorization: Bearer vbk_…`). Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class FeedbackRow(Base):
    """Thumbs up or down on one answer, with an optional comment."""

    __tablename__ = "feedback"

    feedback_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(32), index=True)
    user_pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    rating: Mapped[int] = mapped_column(Integer)  # +1 | -1
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class GapTopicRow(Base):
    """A content-gap topic: unanswered, low-confidence and thumbs-down questions that cluster together."""

    __tablename__ = "gap_topics"

    topic_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(Text)
    terms: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)  # open | in_progress | resolved
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    record_ids: Mapped[list] = mapped_column(JSON, default=list)
    centroid: Mapped[list] = mapped_column(JSON, default=list)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    """Derived figures kept for the dashboard: languages, closest documents, the last re-check of its questions."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Database:
    """An engine and a session factory for the application database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Database:
        """Connect, and bring the schema to the newest migration."""
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///file:"):  # file: = a URI, opened as is
            Path(url.removeprefix("sqlite:///").split("?", 1)[0]).parent.mkdir(parents=True, exist_ok=True)
        if url in ("sqlite://", "sqlite:///:memory:"):
            engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False},
                                   hide_parameters=True)
        else:
            engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)  # no user text in errors or logs
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        database = cls(engine)
        if migrate:
            database.migrate()
        return database

    def migrate(self) -> None:
        """Run the Alembic migrations up to head (idempotent)."""
        logging.getLogger("alembic").setLevel(logging.WARNING)  # before the import: it logs its plugins at INFO
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                if connection.dialect.name == "postgresql":  # several processes start at once: one migrates
                    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7261386915)")
                config.attributes["connection"] = connection
                command.upgrade(config, "heads")
        except Exception as exc:
            raise VraagbaakError(ErrorCode.STORE_UNAVAILABLE,
                                 f"The application database cannot be opened or upgraded: {type(exc).__name__}: "
                                 f"{str(exc)[:200]}") from exc

    def tables(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends without error and rolls back otherwise."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(connection, _record) -> None:  # type: ignore[no-untyped-def]
    """WAL lets the web app read while an ingestion job writes; wait instead of failing on a lock."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class AuditCheckpointRow(Base):
    """Where the audit hash chain now starts: retention deleted the records up to `seq`, the last of which
    had `record_hash`; `vraagbaak audit verify` starts from the newest checkpoint (assistant/records.py)."""

    __tablename__ = "audit_checkpoints"

    checkpoint_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    record_hash: Mapped[str] = mapped_column(String(64))
    removed: Mapped[int] = mapped_column(Integer)
    """Records deleted by this run."""
    removed_total: Mapped[int] = mapped_column(Integer)
    """Records deleted by retention so far, this run included."""
    cutoff: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GoldReviewRow(Base):
    """A subject-matter expert's decision on one proposed gold-set item (`vraagbaak eval build`, /review):
    a thumbs-up answer (answerable, with the documents it cited) or a refusal (unanswerable)."""

    __tablename__ = "gold_reviews"

    record_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    decision: Mapped[str] = mapped_column(String(20), index=True)  # accepted | rejected
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewer_pseudonym: Mapped[str] = mapped_column(String(64))
    reviewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
