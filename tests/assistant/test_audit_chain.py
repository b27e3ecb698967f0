"""The audit hash chain over answer records: it verifies, and it names the record that was edited,
deleted or moved; appends from several threads and processes still form one unbroken chain;
retention shortens it from the start and it still verifies. On SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from assistant.audit import verify_chain
from assistant.records import (
    CHAINED_COLUMNS,
    HASH_FORMAT,
    AnswerLog,
    apply_retention,
    canonical,
    record_hash,
    retention_status,
    seal,
)
from core.db import AnswerRecord, Database, FeedbackRow
from core.types import Answer, AnswerSentence, Citation
from vraagbaak.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database.open(database_url)
    yield database
    database.close()


def answer(number: int) -> Answer:
    citation = Citation(number=1, chunk_id=f"chunk{number}", doc_id="d" * 32, version="v" * 32, title="Verlofregeling",
                        uri="beleid/verlof.pdf", page=2, section="Vakantiedagen", passage="Je hebt 25 dagen.",
                        quote="25 dagen", quote_start=8, quote_end=16, score=0.8, language="nl")
    return Answer(question=f"Vraag {number}: hoeveel vakantiedagen?", language="nl", answered=True,
                  sentences=(AnswerSentence("Je hebt 25 vakantiedagen.", (1,), 0.91, True),),
                  citations=(citation,), generator="extractive", confidence=0.7, support_rate=1.0,
                  timings_ms={"total": 12.5})


def fill(database: Database, count: int, start: int = 1) -> None:
    log = AnswerLog(database, "chain-test-secret")
    for number in range(start, start + count):
        log.record(answer(number), None, f"user{number % 3}")


def rows(database: Database) -> list[AnswerRecord]:
    with database.session() as session:
        return list(session.scalars(select(AnswerRecord).order_by(AnswerRecord.seq)))


def test_an_untouched_chain_verifies_and_links_every_record(database: Database) -> None:
    fill(database, 6)
    records = rows(database)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[0].prev_hash == "0" * 64
    assert all(later.prev_hash == earlier.record_hash for earlier, later in zip(records, records[1:], strict=False))
    assert all(r.record_hash == record_hash(r) for r in records)
    report = verify_chain(database)
    assert report.ok and report.checked == 6 and report.head_seq == 6 and report.head_hash == records[-1].record_hash
    assert "OK: 6 record(s)" in report.summary()


def test_an_edited_answer_is_named_by_its_seq(database: Database) -> None:
    fill(database, 5)
    with database.engine.begin() as connection:
        connection.execute(update(AnswerRecord).where(AnswerRecord.seq == 3).values(answer="Je hebt 40 vakantiedagen."))
    report = verify_chain(database)
    assert not report.ok
    assert [(p.seq, p.kind) for p in report.problems] == [(3, "edited")]
    assert "BROKEN at seq 3: edited" in report.summary()


def test_an_edit_that_recomputes_its_own_hash_breaks_the_next_link(database: Database) -> None:
    fill(database, 4)
    with database.session() as session:
        row = session.scalars(select(AnswerRecord).where(AnswerRecord.seq == 2)).one()
        row.verdict = "refused"
        row.record_hash = record_hash(row)
    report = verify_chain(database)
    assert [(p.seq, p.kind) for p in report.problems] == [(3, "relinked")]


def test_a_deleted_middle_record_is_detected(database: Database) -> None:
    fill(database, 5)
    with database.engine.begin() as connection:
        connection.execute(AnswerRecord.__table__.delete().where(AnswerRecord.seq == 3))
    report = verify_chain(database)
    assert [(p.seq, p.kind) for p in report.problems] == [(3, "deleted")]
    assert "1 record(s) missing (seq 3)" in report.problems[0].detail


def test_reordered_records_are_detected(database: Database) -> None:
    fill(database, 5)
    with database.engine.begin() as connection:  # swap the places of records 2 and 3
        for old, new in ((2, -2), (3, 2), (-2, 3)):
            connection.execute(update(AnswerRecord).where(AnswerRecord.seq == old).values(seq=new))
    report = verify_chain(database)
    assert report.problems[0].seq == 2 and report.problems[0].kind == "reordered"
    assert "written as seq 3" in report.problems[0].detail
    assert (3, "reordered") in [(p.seq, p.kind) for p in report.problems]


def test_appends_from_four_threads_form_one_unbroken_chain(database: Database) -> None:
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            fill(database, 15, start=offset * 100)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    report = verify_chain(database)
    assert report.ok and report.checked == 60 and report.head_seq == 60


APPENDER = """
import sys
from assistant.records import AnswerLog
from core.db import Database
from tests.assistant.test_audit_chain import answer
database = Database.open(sys.argv[1])
log = AnswerLog(database, "chain-test-secret")
for number in range(int(sys.argv[2]), int(sys.argv[2]) + 20):
    log.record(answer(number), None, "process-user")
database.close()
"""


def test_appends_from_two_processes_and_a_thread_form_one_unbroken_chain(database: Database,
                                                                        database_url: str) -> None:
    processes = [subprocess.Popen([sys.executable, "-c", APPENDER, database_url, str(start)], cwd=ROOT,
                                  stderr=subprocess.PIPE, text=True) for start in (1000, 2000)]
    fill(database, 20, start=3000)  # and this process at the same time
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-2000:]
    report = verify_chain(database)
    assert report.ok, report.summary()
    assert report.checked == 60 and [r.seq for r in rows(database)] == list(range(1, 61))


def test_retention_removes_old_records_and_the_chain_still_verifies(database: Database) -> None:
    fill(database, 8)
    records = rows(database)
    with database.session() as session:
        session.add(FeedbackRow(feedback_id="f1", record_id=records[0].record_id, user_pseudonym="p", rating=-1))
        session.add(FeedbackRow(feedback_id="f2", record_id=records[7].record_id, user_pseudonym="p", rating=1))
    # "now" is 30 days after record 5 was written: with 30 days' retention records 1–5 are too old
    now = records[4].created_at + timedelta(days=30, microseconds=1)
    result = apply_retention(database, 30, now=now)
    assert (result.removed, result.removed_total, result.checkpoint_seq, result.feedback_removed) == (5, 5, 5, 1)
    assert [r.seq for r in rows(database)] == [6, 7, 8]
    report = verify_chain(database)
    assert report.ok and report.checked == 3 and report.removed_by_retention == 5 and report.checkpoint_seq == 5
    assert "5 older record(s) removed by retention" in report.summary()
    fill(database, 2, start=50)  # the chain goes on after the checkpoint
    assert apply_retention(database, 30, now=now).removed == 0  # nothing more is old enough
    assert verify_chain(database).ok and retention_status(database)["removed_total"] == 5
    everything = apply_retention(database, 1, now=now + timedelta(days=400))
    assert everything.removed == 5 and everything.removed_total == 10 and rows(database) == []
    fill(database, 1, start=60)  # a new record links to the checkpoint's hash
    report = verify_chain(database)
    assert report.ok and report.first_seq == 11 and report.removed_by_retention == 10
    head = (report.head_seq, report.head_hash)
    with database.engine.begin() as connection:  # the newest record removed: only a noted head shows it
        connection.execute(AnswerRecord.__table__.delete().where(AnswerRecord.seq == 11))
    assert verify_chain(database).ok
    truncated = verify_chain(database, anchor=head)
    assert [(p.seq, p.kind) for p in truncated.problems] == [(11, "truncated")]


def test_records_written_before_the_chain_are_sealed_into_it(database: Database) -> None:
    fill(database, 2)
    with database.session() as session:
        base = rows(database)[0]
        session.add(AnswerRecord(**{c: getattr(base, c) for c in ("user_pseudonym", "question", "language", "answered",
                                                                 "verdict", "answer", "confidence", "support",
                                                                 "retrieved", "cited", "generator", "model",
                                                                 "timings_ms")}, record_id="legacy"))
    report = verify_chain(database)
    assert [p.kind for p in report.problems] == ["unchained"]
    assert seal(database) == 1
    assert verify_chain(database).ok and rows(database)[-1].record_id == "legacy"


OUTCOME = {"said": "YES", "p_yes": 0.97, "graded": True, "score": 1.213, "weight": 0.2, "bar": 0.7, "threshold": 0.52,
           "prompt_version": "answerable-v2", "stands": True}


def test_the_llm_checks_outcome_is_recorded_and_part_of_the_hash(database: Database) -> None:
    log = AnswerLog(database, "chain-test-secret")
    log.record(replace(answer(1), llm_outcome=OUTCOME), None, "user1")
    log.record(answer(2), None, "user2")  # not checked
    checked, unchecked = rows(database)
    assert checked.llm_check == OUTCOME and unchecked.llm_check is None
    assert checked.hash_format == HASH_FORMAT == 3 and json.loads(canonical(checked))["record"]["llm_check"] == OUTCOME
    assert verify_chain(database).ok
    with database.engine.begin() as connection:  # a judgement changed afterwards is caught
        connection.execute(update(AnswerRecord).where(AnswerRecord.seq == 1)
                           .values(llm_check={**OUTCOME, "p_yes": 0.4, "stands": False}))
    assert [(p.seq, p.kind) for p in verify_chain(database).problems] == [(1, "edited")]


def test_records_hashed_in_format_2_keep_verifying_without_the_llm_check(database: Database) -> None:
    fill(database, 1)
    with database.session() as session:  # as written before format 3: the same columns, no llm_check
        row = session.scalars(select(AnswerRecord)).one()
        row.hash_format = 2
        row.record_hash = record_hash(row)
        assert set(json.loads(canonical(row))["record"]) == set(CHAINED_COLUMNS)
    fill(database, 1, start=2)
    old, new = rows(database)
    assert (old.hash_format, new.hash_format) == (2, 3) and new.prev_hash == old.record_hash
    assert set(json.loads(canonical(new))["record"]) == set(CHAINED_COLUMNS) | {"llm_check"}
    assert verify_chain(database).ok


def test_the_audit_command_reports_ok_or_the_broken_seq_with_exit_code(
        database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VRAAGBAAK_DATABASE__URL", database_url)
    fill(database, 3)
    assert cli(["audit", "verify"]) == 0
    assert "audit chain OK: 3 record(s) (seq 1–3)" in capsys.readouterr().out
    with database.engine.begin() as connection:
        connection.execute(update(AnswerRecord).where(AnswerRecord.seq == 2).values(question="Iets anders?"))
    assert cli(["audit", "verify"]) == 1
    assert "BROKEN at seq 2: edited" in capsys.readouterr().out
    with database.engine.begin() as connection:
        connection.execute(AnswerRecord.__table__.delete().where(AnswerRecord.seq == 2))
    assert cli(["audit", "retention", "--days", "1"]) == 0  # nothing older than a day
    assert "removed 0 record(s)" in capsys.readouterr().out
    assert cli(["audit", "verify", "--json"]) == 1
    assert '"kind": "deleted"' in capsys.readouterr().out
    assert cli(["audit", "verify", "--head", "zz"]) == 2
    assert "--head" in capsys.readouterr().err
