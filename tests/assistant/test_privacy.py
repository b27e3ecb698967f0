"""Erasing one user's data (GDPR art. 17): their questions and answers leave the answer records while
the audit chain still verifies (and still catches tampering), their feedback, sessions, API tokens,
waiting questions and gap-topic mentions are deleted, the report counts what went where, and other
users' data stays. Retention removes what outlived its use. On SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from assistant.audit import verify_chain
from assistant.gaps import load_questions
from assistant.privacy import apply_privacy_retention, erase_user
from assistant.records import AnswerLog, record_hash
from assistant.redaction import ERASED
from core.accounts import Accounts
from core.db import (
    AnswerRecord,
    ApiTokenRow,
    Base,
    Database,
    FeedbackRow,
    GapTopicRow,
    PendingQuestionRow,
    SessionRow,
    UserRow,
    utcnow,
)
from core.settings import GapsSettings
from core.types import Answer, AnswerSentence, Citation
from vraagbaak.cli import main as cli

SECRET = "privacy-test-secret"
PHRASE = "zwangerschapsverlof van Eva Jansen"
"""A distinctive phrase only Eva's questions hold."""
EVA = "eva.jansen@example.org"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database.open(database_url)
    yield database
    database.close()


def answer(question: str, sentence: str) -> Answer:
    citation = Citation(number=1, chunk_id="c" * 32, doc_id="d" * 32, version="v" * 32, title="Verlofregeling",
                        uri="beleid/verlof.pdf", page=2, section="Verlof", passage=sentence, quote=sentence,
                        quote_start=0, quote_end=len(sentence), score=0.8, language="nl")
    return Answer(question=question, language="nl", answered=True, sentences=(AnswerSentence(sentence, (1,), 0.9, True),),
                  citations=(citation,), generator="extractive", confidence=0.7, support_rate=1.0,
                  standalone_question=f"{question} (zelfstandig)", timings_ms={"total": 10.0})


@pytest.fixture
def world(database: Database) -> dict:
    """Eva (an e-mail address as username) and Bob, each with records, feedback, a session, a token, a
    waiting question and gap topics; one topic holds only Eva's questions, one both."""
    accounts = Accounts(database)
    eva = accounts.create_user(EVA, PASSWORD, email=EVA).user_id
    bob = accounts.create_user("bob", PASSWORD).user_id
    log = AnswerLog(database, SECRET)
    eva_ids = [log.record(answer(f"Hoe lang duurt {PHRASE} nummer {n}?", f"Het {PHRASE} duurt {n} weken."), None, eva)
               for n in range(3)]
    bob_ids = [log.record(answer(f"Mag ik thuiswerken op dag {n}?", "Thuiswerken mag twee dagen."), None, bob)
               for n in range(2)]
    with database.session() as session:
        session.add(FeedbackRow(feedback_id="fe", record_id=eva_ids[0], user_pseudonym=log.pseudonym(eva), rating=-1,
                                comment=f"Klopt niet voor {PHRASE}"))
        session.add(FeedbackRow(feedback_id="fb", record_id=bob_ids[0], user_pseudonym=log.pseudonym(bob), rating=1,
                                comment="Duidelijk, dank"))
        check = [{"record_id": i, "question": f"vraag over {PHRASE}" if i in eva_ids else "thuiswerken?",
                  "answered": True} for i in (eva_ids[1], bob_ids[1])]
        session.add(GapTopicRow(topic_id="mixed", label="verlof thuiswerken", terms=["verlof"], status="open",
                                record_ids=[eva_ids[1], bob_ids[1]], centroid=[0.1, 0.2],
                                details={"kind": "gap", "recheck": {"questions": check, "answered": 2, "total": 2}}))
        session.add(GapTopicRow(topic_id="only-eva", label="zwangerschapsverlof", terms=["zwangerschapsverlof"],
                                status="in_progress", owner="HR", record_ids=[eva_ids[2]], centroid=[0.3, 0.1],
                                details={"kind": "gap"}))
        for owner, question in ((f"session:{eva}", f"wacht {PHRASE}"), (f"token:{bob}", "wacht thuiswerken")):
            session.add(PendingQuestionRow(stream_hash=uuid.uuid4().hex, owner=owner, question=question,
                                           thread_id="t" * 32, history=[]))
    for user_id in (eva, bob):
        accounts.start_session(user_id)
        accounts.create_token(user_id, "script")
    return {"eva": eva, "bob": bob, "log": log, "eva_ids": eva_ids, "bob_ids": bob_ids}


def everything_as_text(database: Database) -> str:
    """Every row of every table, as text (what a copy of the database would show)."""
    found = []
    with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            found += [json.dumps([str(value) for value in row], ensure_ascii=False)
                      for row in connection.execute(table.select())]
    return "\n".join(found)


def count(database: Database, model: type, *where: object) -> int:
    with database.session() as session:
        return len(session.scalars(select(model).where(*where)).all())


def test_erasing_a_user_removes_their_text_everywhere_and_the_chain_still_verifies(
        database: Database, world: dict) -> None:
    eva, bob, log = world["eva"], world["bob"], world["log"]
    assert PHRASE in everything_as_text(database) and EVA in everything_as_text(database)

    report = erase_user(log, eva, delete_account=True)

    assert report.removed == {"answer_records": 3, "feedback": 1, "gap_topics": 3, "gap_topics_removed": 1,
                              "sessions": 1, "api_tokens": 1, "pending_questions": 1, "users": 1}
    assert report.erased_fields == 3 * 5  # question, standalone question, answer, one sentence, one quote
    assert report.username == EVA and report.pseudonym == log.pseudonym(eva) and not report.dry_run
    stored = everything_as_text(database)
    assert PHRASE not in stored and EVA not in stored  # no table keeps their words or their address
    assert count(database, UserRow, UserRow.user_id == eva) == 0
    # the records keep their place, pseudonym and evidence; their text is a marker
    with database.session() as session:
        erased = session.scalars(select(AnswerRecord).where(AnswerRecord.record_id.in_(world["eva_ids"]))).all()
    assert len(erased) == 3
    for row in erased:
        assert (row.question, row.standalone_question, row.answer) == (ERASED, ERASED, ERASED)
        assert row.support[0]["text"] == ERASED and row.cited[0]["quote"] == ERASED
        assert row.cited[0]["doc_id"] == "d" * 32 and row.cited[0]["version"] == "v" * 32
        assert row.user_pseudonym == log.pseudonym(eva) and row.salt is None
        assert row.redaction["erasure_id"] == report.erasure_id and row.redaction["intact_at_erasure"]
    # other users' data is untouched
    with database.session() as session:
        bobs = session.scalars(select(AnswerRecord).where(AnswerRecord.record_id.in_(world["bob_ids"]))).all()
        topic = session.get(GapTopicRow, "mixed")
        assert session.get(GapTopicRow, "only-eva") is None  # its label came from Eva's questions alone
    assert all(r.question.startswith("Mag ik thuiswerken") and r.redaction is None for r in bobs)
    assert topic.record_ids == [world["bob_ids"][1]]
    assert [q["record_id"] for q in topic.details["recheck"]["questions"]] == [world["bob_ids"][1]]
    assert topic.details["recheck"]["total"] == 1
    assert count(database, FeedbackRow) == 1 and count(database, SessionRow, SessionRow.user_id == bob) == 1
    assert count(database, ApiTokenRow, ApiTokenRow.user_id == bob) == 1
    assert count(database, PendingQuestionRow) == 1
    # the chain verifies and says how many records were redacted
    chain = verify_chain(database)
    assert chain.ok and chain.checked == 5 and chain.redacted == 3 and not chain.redacted_unchecked
    assert "3 record(s) redacted for erasure" in chain.summary()
    # the gap dashboard no longer reads the erased questions
    questions = load_questions(database, GapsSettings(), gaps_only=False)
    assert sorted(q.record_id for q in questions) == sorted(world["bob_ids"])


def test_a_redacted_record_that_is_tampered_with_is_still_detected(database: Database, world: dict) -> None:
    erase_user(world["log"], world["eva"])
    target = world["eva_ids"][1]  # seq 2
    cases = [
        ({"verdict": "refused"}, "its content no longer matches"),  # evidence changed
        ({"question": "Iets heel anders?"}, "holds text again"),  # text put back
    ]
    for change, detail in cases:
        with database.session() as session:
            original = session.get(AnswerRecord, target)
            before = {name: getattr(original, name) for name in change}
        with database.engine.begin() as connection:
            connection.execute(update(AnswerRecord).where(AnswerRecord.record_id == target).values(**change))
        report = verify_chain(database)
        assert [(p.seq, p.kind) for p in report.problems] == [(2, "edited")], change
        assert detail in report.problems[0].detail
        with database.engine.begin() as connection:
            connection.execute(update(AnswerRecord).where(AnswerRecord.record_id == target).values(**before))
        assert verify_chain(database).ok
    with database.session() as session:  # a kept digest swapped
        row = session.get(AnswerRecord, target)
        digests = dict(row.redaction["digests"])
        digests["question"] = "0" * 64
        row.redaction = {**row.redaction, "digests": digests}
    assert [p.kind for p in verify_chain(database).problems] == ["edited"]


def test_records_hashed_before_format_2_still_verify_and_keep_their_links_after_erasure(database: Database) -> None:
    accounts = Accounts(database)
    eva = accounts.create_user(EVA, PASSWORD).user_id
    log = AnswerLog(database, SECRET)
    first = log.record(answer(f"Oude vraag over {PHRASE}?", "Oud antwoord."), None, eva)
    with database.session() as session:  # as written before this version: format 1, no salt
        row = session.get(AnswerRecord, first)
        row.hash_format, row.salt = None, None
        row.record_hash = record_hash(row)
    log.record(answer(f"Nieuwe vraag over {PHRASE}?", "Nieuw antwoord."), None, eva)
    assert verify_chain(database).ok  # an existing chain keeps verifying

    erase_user(log, eva)

    report = verify_chain(database)
    assert report.ok and report.redacted == 2 and report.redacted_unchecked == (1,)
    assert "1 of them written before format 2, so only their links are checked (seq 1)" in report.summary()
    assert PHRASE not in everything_as_text(database)
    with database.engine.begin() as connection:  # a forged link is still caught
        connection.execute(update(AnswerRecord).where(AnswerRecord.seq == 1).values(record_hash="f" * 64))
    assert [(p.seq, p.kind) for p in verify_chain(database).problems] == [(2, "relinked")]


def test_a_dry_run_reports_the_same_counts_and_changes_nothing(database: Database, world: dict) -> None:
    before = everything_as_text(database)
    planned = erase_user(world["log"], world["eva"], delete_account=True, dry_run=True)
    assert planned.dry_run and planned.removed["answer_records"] == 3 and planned.removed["users"] == 1
    assert everything_as_text(database) == before
    done = erase_user(world["log"], world["eva"], delete_account=True)
    assert done.removed == planned.removed


def test_erasing_again_finds_nothing_new_and_an_unknown_user_is_not_found(database: Database, world: dict) -> None:
    erase_user(world["log"], world["eva"])
    again = erase_user(world["log"], world["eva"])
    assert again.already_erased == 3 and again.removed["answer_records"] == 0 and again.erased_fields == 0
    assert verify_chain(database).redacted == 3
    with pytest.raises(Exception, match="No such user"):
        erase_user(world["log"], "0" * 32)


def test_retention_removes_old_records_with_their_gap_mentions_expired_sessions_and_dead_tokens(
        database: Database, world: dict) -> None:
    accounts = Accounts(database)
    with database.session() as session:
        rows = session.scalars(select(AnswerRecord).order_by(AnswerRecord.seq)).all()
        old = rows[2].created_at  # records 1–3 (Eva's) are old
        for token in session.scalars(select(ApiTokenRow).where(ApiTokenRow.user_id == world["bob"])):
            token.revoked = True
        session.execute(update(SessionRow).where(SessionRow.user_id == world["eva"])
                        .values(expires_at=utcnow() - timedelta(hours=1)))
        session.execute(update(PendingQuestionRow).values(created_at=utcnow() - timedelta(hours=1)))
    live_token = accounts.create_token(world["eva"], "new")[0].token_id
    now = old + timedelta(days=30, microseconds=1)
    with database.session() as session:  # tokens made long before "now" (created_at is in the past already)
        session.execute(update(ApiTokenRow).values(created_at=old - timedelta(days=60)))
    result = apply_privacy_retention(database, 30, now=now)
    assert (result.records.removed, result.records.feedback_removed) == (3, 1)
    assert result.records.gap_references_removed == 3  # the mixed topic's id and re-check, the only-Eva topic's id
    assert (result.sessions, result.pending_questions) == (2, 2)  # "now" is weeks ahead: every session expired
    assert result.api_tokens == 1  # Bob's revoked token; Eva's live ones stay
    assert count(database, ApiTokenRow, ApiTokenRow.token_id == live_token) == 1
    with database.session() as session:
        assert session.get(GapTopicRow, "only-eva") is None
        assert session.get(GapTopicRow, "mixed").record_ids == [world["bob_ids"][1]]
    assert PHRASE not in everything_as_text(database)
    assert verify_chain(database).ok
    # a mention left behind by an earlier run (records gone, topic not updated) is found and dropped
    with database.session() as session:
        session.add(GapTopicRow(topic_id="stale", label="oud", terms=[], status="open",
                                record_ids=["a" * 32, world["bob_ids"][0]], centroid=[], details={"kind": "gap"}))
    again = apply_privacy_retention(database, None, now=now)
    assert again.gap_references == 1 and again.records.removed == 0
    with database.session() as session:
        assert session.get(GapTopicRow, "stale").record_ids == [world["bob_ids"][0]]


def test_the_privacy_command_erases_a_user_and_prints_the_report(
        database: Database, database_url: str, world: dict, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("VRAAGBAAK_DATABASE__URL", database_url)
    monkeypatch.setenv("VRAAGBAAK_ANSWER__PSEUDONYM_SECRET", SECRET)
    monkeypatch.setenv("VRAAGBAAK_DATA_DIR", str(tmp_path))
    assert cli(["privacy", "erase-user", EVA, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dry run: ") and "answer_records" in out and "would be removed" in out
    assert PHRASE in everything_as_text(database)
    assert cli(["privacy", "erase-user", EVA, "--delete-account", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["removed"]["answer_records"] == 3 and report["removed"]["users"] == 1
    assert report["removed"]["feedback"] == 1 and report["removed"]["sessions"] == 1
    assert PHRASE not in everything_as_text(database)
    assert cli(["audit", "verify"]) == 0
    assert "3 record(s) redacted for erasure" in capsys.readouterr().out
    assert cli(["privacy", "erase-user", EVA]) == 2  # the account is gone now
    assert "No user named" in capsys.readouterr().err
    assert cli(["privacy", "retention", "--days", "0"]) == 2
    assert cli(["privacy", "retention", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["answer_records"] == 0


def test_a_failed_write_does_not_repeat_the_text_in_its_error(database: Database) -> None:
    """Database errors end up in logs ("answer not recorded"): they name the statement, never the values."""
    for attempt in range(2):
        try:
            with database.session() as session:
                session.add(FeedbackRow(feedback_id="same", record_id="r" * 32, user_pseudonym="p", rating=-1,
                                        comment=f"Over {PHRASE}"))
        except IntegrityError as exc:
            assert attempt == 1 and "INSERT INTO feedback" in str(exc)
            assert PHRASE not in str(exc) and "hidden" in str(exc)
            return
    pytest.fail("the second insert of the same key did not fail")
