"""The application database on SQLite (default) and on a real PostgreSQL server: the same
migrations and the same registry operations on both."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.db import Database
from core.settings import Settings
from ingest.jobs import Jobs
from ingest.registry import Registry


def _exercise(database: Database) -> None:
    assert {"documents", "jobs", "sources", "alembic_version"} <= set(database.tables())
    registry = Registry(database)
    registry.record("d1", source_id="s", uri="a.pdf", status="indexed", version="v1", content_hash="v1",
                    chunk_count=3, groups=("hr",), lifecycle={"expires": "2000-01-01"}, parser="pypdfium2")
    registry.record("d2", source_id="s", uri="b.bin", status="skipped", reason="unsupported file type '.bin'")
    registry.record("d1", chunk_count=4)
    entry = registry.get("d1")
    assert entry is not None and entry.chunk_count == 4 and entry.groups == ("hr",) and entry.last_seen is not None
    assert entry.last_seen.tzinfo is not None
    assert registry.counts("s") == {"indexed": 1, "failed": 0, "skipped": 1, "erased": 0, "stale": 1}
    assert [e.stale for e in registry.stale("s")] == ["expired"]
    registry.save_source("s", "folder", {"id": "s", "kind": "folder", "path": "/x"}, origin="api")
    assert registry.sources()["s"].config["path"] == "/x"
    jobs = Jobs(database)
    job_id = jobs.create("s")
    assert jobs.get(job_id)["status"] == "queued" and jobs.interrupted() == 1
    assert jobs.get(job_id)["status"] == "interrupted"
    registry.remove(["d1", "d2"])
    assert registry.entries("s") == {}


def test_sqlite_database_in_the_data_folder_is_the_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{(tmp_path / 'vraagbaak.db').resolve()}"
    database = Database.open(settings.database_url)
    _exercise(database)
    database.close()
    Database.open(settings.database_url).close()  # upgrading an up-to-date schema is a no-op


def test_postgres_url_runs_the_same_migrations_and_registry(postgres_url: str) -> None:
    database = Database.open(postgres_url)
    _exercise(database)
    database.close()
    Database.open(postgres_url).close()


def test_unreachable_database_is_a_clear_error() -> None:
    from core.errors import VraagbaakError

    with pytest.raises(VraagbaakError, match="application database"):
        Database.open("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_the_migrations_form_one_line() -> None:
    """One head, no branches: every migration follows the one before (work on parallel branches is linearised)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from core.db import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1
    revisions = list(script.walk_revisions())
    assert all(r.down_revision is None or isinstance(r.down_revision, str) for r in revisions)  # no merges
