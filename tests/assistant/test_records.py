"""Answer records: every answer and refusal is stored in the application database (real SQLite file,
migrated by Alembic) with the pseudonymous user, what was retrieved and cited, and the time per
stage; a database that cannot be written never costs the user the answer."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from assistant.records import ANONYMOUS, AnswerLog, installation_secret, pseudonym
from assistant.service import Assistant
from core.db import AnswerRecord, Database
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from ingest.pipeline import content_version
from tests.conftest import DEMO_CORPUS

SECRET = "test-pseudonym-secret"


@pytest.fixture
def database(tmp_path: Path) -> Database:
    database = Database.open(f"sqlite:///{tmp_path / 'app.db'}")
    yield database
    database.close()


@pytest.fixture
def assistant(base_settings: Settings, demo_store: QdrantStore, embedder: Embedder, database: Database) -> Assistant:
    return Assistant.build(base_settings, demo_store, embedder, AnswerLog(database, SECRET))


def records(database: Database) -> list[AnswerRecord]:
    with database.session() as session:
        return list(session.scalars(select(AnswerRecord).order_by(AnswerRecord.created_at)))


@pytest.mark.parametrize("question,language,user", [
    ("Hoeveel vakantiedagen heb ik?", "nl", "j.jansen@example.nl"),
    ("How many vacation days does a full-time employee get per year?", "en", "a.smith@example.com"),
])
def test_dutch_and_english_answers_are_recorded_with_all_fields(assistant: Assistant, database: Database,
                                                               question: str, language: str, user: str) -> None:
    answer = assistant.ask(question, groups=(), user=user)
    assert answer.answered
    [record] = records(database)
    assert record.question == question and record.language == language
    assert record.user_pseudonym == pseudonym(user, SECRET) and user not in record.user_pseudonym
    assert record.answered and record.verdict == "answered" and record.refusal_reason is None
    assert record.answer == answer.text and record.confidence == pytest.approx(answer.confidence)
    assert record.generator == "extractive" and record.model == "multilingual-e5-small"
    assert record.prompt_version is None  # extractive answers use no prompt
    # retrieved passages, in rank order, with their scores
    assert len(record.retrieved) >= 3
    assert all(r["chunk_id"] and r["doc_id"] and isinstance(r["score"], float) and 0 < r["dense_score"] <= 1
               for r in record.retrieved)
    assert [r["score"] for r in record.retrieved] == sorted((r["score"] for r in record.retrieved), reverse=True)
    # each cited chunk with the version of its document: the hash of the file's bytes as ingested
    assert [c["chunk_id"] for c in record.cited] == [c.chunk_id for c in answer.citations]
    retrieved_ids = {r["chunk_id"] for r in record.retrieved}
    for cited in record.cited:
        assert cited["chunk_id"] in retrieved_ids
        assert cited["version"] == content_version((DEMO_CORPUS / cited["uri"]).read_bytes())
    assert record.cited[0]["uri"] == "beleid/verlofregeling.pdf"
    # support per sentence and the time per stage
    assert [s["support"] for s in record.support] == [s.support for s in answer.sentences]
    assert record.support_rate == answer.support_rate == 1.0
    assert {"retrieve", "generate", "verify", "total"} <= set(record.timings_ms)
    assert record.timings_ms["total"] >= record.timings_ms["retrieve"] > 0


def test_refusal_is_recorded_with_its_reason_and_the_same_pseudonym(assistant: Assistant,
                                                                    database: Database) -> None:
    user = "j.jansen@example.nl"
    refused = assistant.ask("Kan ik via de zaak een leaseauto rijden?", groups=(), user=user)
    assert not refused.answered
    assistant.ask("Hoeveel vakantiedagen heb ik?", groups=(), user=user)
    assistant.ask("Hoeveel vakantiedagen heb ik?", groups=())  # not signed in
    first, second, anonymous = records(database)
    assert not first.answered and first.verdict == "refused" and first.refusal_reason == "low_evidence"
    assert first.cited == [] and first.retrieved  # what was looked at is kept: the content-gap view needs it
    assert second.answered
    assert first.user_pseudonym == second.user_pseudonym == pseudonym(user, SECRET)
    assert anonymous.user_pseudonym == pseudonym(ANONYMOUS, SECRET) != first.user_pseudonym
    assert pseudonym(user, "another-secret") != first.user_pseudonym  # not recomputable without the secret
    assert len(first.user_pseudonym) == 64 and "jansen" not in first.user_pseudonym


def test_without_a_configured_secret_each_installation_keeps_its_own_key(tmp_path: Path, database: Database) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    log = AnswerLog.build(settings, database)
    key = tmp_path / "data" / "pseudonym.key"
    assert key.is_file() and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert AnswerLog.build(settings, database).pseudonym("u1") == log.pseudonym("u1") != "u1"
    assert installation_secret(tmp_path / "other").strip() != key.read_text().strip()
    configured = Settings(data_dir=tmp_path / "data", answer={"pseudonym_secret": SECRET})
    assert AnswerLog.build(configured, database).pseudonym("u1") == pseudonym("u1", SECRET)


def test_a_database_that_cannot_be_written_does_not_cost_the_answer(
        base_settings: Settings, demo_store: QdrantStore, embedder: Embedder, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "readonly.db"
    Database.open(f"sqlite:///{path}").close()  # a real, migrated database file ...
    readonly = Database.open(f"sqlite:///file:{path}?mode=ro&uri=true", migrate=False)  # ... opened read-only
    answer_log = AnswerLog(readonly, SECRET)
    try:
        assistant = Assistant.build(base_settings, demo_store, embedder, answer_log)
        with caplog.at_level(logging.WARNING, logger="assistant.service"):
            answer = assistant.ask("Hoeveel vakantiedagen heb ik?", groups=(), user="u1")
        assert answer.answered and "25 vakantiedagen" in answer.text
        assert any(r.message == "answer not recorded" and "readonly" in str(r.ctx) for r in caplog.records)
        assert records(readonly) == [] and answer_log.waiting == 1  # kept for when the database takes writes
    finally:
        answer_log.close(wait_s=1)  # stops the writer thread: it would retry for as long as the process lives
        readonly.close()
