"""The database locked or the disk full while an answer record is written, through the real app over
HTTP: the user gets the answer promptly (without a record id), the failure is logged plainly, the
record is written once the database takes writes again, and nothing stored before is touched — the
audit hash chain verifies throughout."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, select, text

from assistant import records
from assistant.audit import verify_chain
from assistant.records import AnswerLog
from core.db import AnswerRecord, Database
from core.embedding import Embedder
from core.errors import VraagbaakError
from core.settings import Settings
from core.store import QdrantStore
from core.types import Answer, AnswerSentence
from tests.web.support import api_token, make_user, serve
from web.app import create_app

EARLIER = ("Hoeveel vakantiedagen heb ik?", "How many vacation days does a full-time employee get per year?")
PHRASE = "zonnebloemveld"
"""In every question asked during the fault: it must not reach the log."""
QUESTION = f"Hoeveel vakantiedagen heb ik als {PHRASE} medewerker?"


def ask(url: str, token: str, question: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(f"{url}/api/ask", json={"question": question}, timeout=120,
                          headers={"Authorization": f"Bearer {token}"})
    return response, time.monotonic() - started


def chain(path: Path) -> list[tuple[str, int, str, str]]:
    """(record_id, seq, record_hash, question) of every record, in chain order, read with sqlite3 itself."""
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute("SELECT record_id, seq, record_hash, question FROM answer_records ORDER BY seq"
                                  ).fetchall()


def integrity(path: Path) -> str:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


def chain_verifies(database_url: str) -> int:
    database = Database.open(database_url, migrate=False)
    try:
        report = verify_chain(database)
    finally:
        database.close()
    assert report.ok, report.summary()
    return report.checked


def wait_until_written(app: object, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while app.state.answer_log.waiting:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the kept records were not written after the database came back"
        time.sleep(0.2)


def assert_logged_plainly(caplog: pytest.LogCaptureFixture, error_words: tuple[str, ...]) -> None:
    """A warning names the failure, without a traceback; no log record holds the question."""
    [failed, *_] = [r for r in caplog.records if r.getMessage() == "answer not recorded"]
    assert failed.levelno == logging.WARNING and failed.exc_info is None
    assert "kept to be written later" in failed.ctx["error"]  # type: ignore[attr-defined]
    assert any(word in failed.ctx["error"] for word in error_words), failed.ctx  # type: ignore[attr-defined]
    assert any(r.getMessage() == "answer recorded late" for r in caplog.records)
    for record in caplog.records:
        text = " ".join(map(str, (record.getMessage(), getattr(record, "ctx", ""), record.exc_text or "")))
        assert PHRASE not in text, text


@pytest.fixture
def asker(settings: Settings) -> Iterator[tuple[Settings, str]]:
    """Settings with a short wait for the record (1 s), an employee and their API token."""
    settings = settings.model_copy(update={"audit": settings.audit.model_copy(update={"record_wait_s": 1.0})})
    make_user(settings.database_url, "asker")
    yield settings, api_token(settings.database_url, "asker")


def test_a_locked_database_delays_no_answer_and_the_record_follows_when_the_lock_goes(
        asker: tuple[Settings, str], demo_store: QdrantStore, embedder: Embedder,
        caplog: pytest.LogCaptureFixture) -> None:
    settings, token = asker
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    app = create_app(settings, store=demo_store, embedder=embedder)
    with caplog.at_level(logging.INFO), serve(app) as url:
        for question in EARLIER:  # (the first request also marks the token used: no write left in the way)
            assert ask(url, token, question)[0].json()["record_id"]
        before = chain(path)
        locker = sqlite3.connect(path, timeout=0, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # another writer holds the database's write lock
        try:
            during, seconds = ask(url, token, QUESTION)
            second, _ = ask(url, token, f"Can I carry over {PHRASE} vacation days?")
            assert app.state.answer_log.waiting == 2
            assert chain(path) == before  # readers still see everything stored (WAL)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        # the answers came at once (SQLite's busy timeout alone is 10 s; the append retried it 8 times before)
        assert during.status_code == 200 and during.json()["answered"] and "25" in during.json()["answer"]
        assert during.json()["record_id"] is None and seconds < 8, seconds
        assert second.status_code == 200 and second.json()["record_id"] is None
        wait_until_written(app)
        after, _ = ask(url, token, EARLIER[0])
        assert after.json()["record_id"]  # written at once again
    records = chain(path)
    assert records[:2] == before  # untouched
    assert [r[3] for r in records] == [*EARLIER, QUESTION, f"Can I carry over {PHRASE} vacation days?", EARLIER[0]]
    assert [r[1] for r in records] == [1, 2, 3, 4, 5]
    assert chain_verifies(settings.database_url) == 5
    assert integrity(path) == "ok"
    assert_logged_plainly(caplog, ("database is locked", "busy"))
    verified = subprocess.run([sys.executable, "-m", "vraagbaak", "audit", "verify"], capture_output=True, text=True,
                              env={**os.environ, "VRAAGBAAK_DATABASE__URL": settings.database_url}, timeout=120)
    assert verified.returncode == 0 and "audit chain OK: 5 record(s)" in verified.stdout, verified.stderr


@contextmanager
def small_disk(folder: Path, size_kb: int) -> Iterator[Path]:
    """A real tmpfs of `size_kb` mounted at `folder` (needs root and permission to mount), or a skip."""
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root; the page-limit variant covers the logic")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the file system is full (a real ENOSPC); returns it."""
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(descriptor, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(descriptor)
    return filler


@pytest.mark.parametrize("full", ["tmpfs", "page-limit"])
def test_a_full_disk_costs_no_answer_and_no_stored_record(
        full: str, asker: tuple[Settings, str], demo_store: QdrantStore, embedder: Embedder, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """`tmpfs`: the database on a real 2 MB file system, filled to the last byte (ENOSPC). `page-limit`: an
    emulation that runs anywhere — SQLite's `max_page_count` set to the database's current size on the
    app's connections, so that a write fails with the same SQLITE_FULL error ("database or disk is full")."""
    settings, _ = asker
    with small_disk(tmp_path / "disk", 2048) if full == "tmpfs" else _nothing(tmp_path / "disk") as disk:
        path = disk / "app.db"
        settings = settings.model_copy(update={"database": settings.database.model_copy(
            update={"url": f"sqlite:///{path}"})})
        make_user(settings.database_url, "asker")
        token = api_token(settings.database_url, "asker")
        app = create_app(settings, store=demo_store, embedder=embedder)
        with caplog.at_level(logging.INFO), serve(app) as url:
            for question in EARLIER:
                assert ask(url, token, question)[0].json()["record_id"]
            before = chain(path)
            engine = app.state.database.engine
            if full == "tmpfs":
                with closing(sqlite3.connect(path)) as connection:  # an empty WAL: the next write needs new space
                    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                filler = fill(disk)
            else:
                with closing(sqlite3.connect(path)) as connection:
                    pages = connection.execute("PRAGMA page_count").fetchone()[0]

                def limit(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
                    dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

                event.listen(engine, "connect", limit)
                engine.dispose()  # new connections, each with the limit
            during, seconds = ask(url, token, QUESTION)
            assert during.status_code == 200 and during.json()["answered"] and during.json()["record_id"] is None
            assert seconds < 30, seconds
            assert app.state.answer_log.waiting == 1
            assert chain(path) == before and integrity(path) == "ok"
            assert chain_verifies(settings.database_url) == 2
            if full == "tmpfs":  # space returns
                filler.unlink()
            else:
                event.remove(engine, "connect", limit)
                engine.dispose()
            wait_until_written(app)
            after, _ = ask(url, token, EARLIER[1])
            assert after.json()["record_id"]
        records = chain(path)
        assert records[:2] == before
        assert [r[3] for r in records] == [*EARLIER, QUESTION, EARLIER[1]]
        assert chain_verifies(settings.database_url) == 4 and integrity(path) == "ok"
    assert_logged_plainly(caplog, ("database or disk is full",))


@contextmanager
def _nothing(folder: Path) -> Iterator[Path]:
    folder.mkdir()
    yield folder


@contextmanager
def chain_lock_held_elsewhere(database_url: str) -> Iterator[None]:
    """Another connection holds what an append needs: SQLite's write lock, or Postgres's advisory chain lock."""
    if database_url.startswith("sqlite"):
        locker = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        return
    other = Database.open(database_url, migrate=False)
    try:
        with other.engine.connect() as connection, connection.begin():
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": records._ADVISORY_LOCK})
            yield
    finally:
        other.close()


def test_the_wait_for_the_chain_lock_is_bounded_and_the_record_follows(database_url: str) -> None:
    """On SQLite (busy timeout) and on a real Postgres (`lock_timeout` on the advisory lock)."""
    database = Database.open(database_url)
    log = AnswerLog(database, "fault-test-secret", wait_s=0.5)
    answer = Answer(question="Hoeveel vakantiedagen heb ik?", language="nl", answered=True,
                    sentences=(AnswerSentence("Je hebt 25 vakantiedagen.", ()),), citations=(),
                    generator="extractive", timings_ms={"total": 1.0})
    try:
        log.record(answer, None, "u1")
        with chain_lock_held_elsewhere(database_url):
            started = time.monotonic()
            with pytest.raises(VraagbaakError, match="kept to be written later"):
                log.record(answer, None, "u2")
            assert time.monotonic() - started < 5  # 0.5 s asked; never the 10 s busy timeout, 8 times
            with pytest.raises(VraagbaakError, match="earlier records are still waiting"):
                log.record(answer, None, "u3")  # queued at once behind it, in order
            assert log.waiting == 2
        deadline = time.monotonic() + 30
        while log.waiting:
            assert time.monotonic() < deadline, "the kept records were not written"
            time.sleep(0.1)
        report = verify_chain(database)
        assert report.ok and report.checked == 3, report.summary()
        with database.session() as session:  # a late record says how late: its answer's time is recoverable
            late = [r.timings_ms.get("recorded_late") for r in session.scalars(select(AnswerRecord)
                                                                               .order_by(AnswerRecord.seq))]
        assert late[0] is None and all(ms is not None and ms > 0 for ms in late[1:]), late
    finally:
        log.close()
        database.close()
