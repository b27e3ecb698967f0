"""Schemathesis against the app's own OpenAPI spec (`/openapi.json`), the real app served on loopback: every
operation is called with generated valid and invalid input — no answer may be a 5xx, every response must
match its documented schema, and every status must be one the spec lists.

Two runs: an employee's API token (also on the compliance team, so the audit API is reached, not only
refused) for every operation outside the admin API, and the operator's admin token for the admin API.
Left out: `POST /api/admin/sources` (it would register folder sources on arbitrary paths, with schedules
that start ingestion jobs) and schemathesis's stateful phase (it follows the spec's links, and revoking
the test's own token ends the run). Bounded (`MAX_EXAMPLES` per operation, a fixed seed, no shrinking)
to a few minutes on a small CPU."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from core.db import Database
from core.embedding import Embedder
from core.settings import LimitsSettings, Settings
from core.store import QdrantStore
from ingest.pipeline import Ingestor
from ingest.registry import Registry
from tests.web.support import api_token, make_user, serve
from web.app import create_app

ADMIN_TOKEN = "admin-token-for-schemathesis"
MAX_EXAMPLES = 25
SEED = 20260707
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"


@pytest.fixture(scope="module")
def site(base_settings: Settings, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    settings = base_settings.model_copy(update={
        "store": base_settings.store.model_copy(update={"path": tmp / "qdrant", "url": None}), "data_dir": tmp,
        "embedding": base_settings.embedding.model_copy(update={"models_dir": base_settings.models_dir}),
        "limits": LimitsSettings(per_user=0, per_ip=0, sign_in_per_ip=0),  # fuzz the routes, not the limiter
        "web": base_settings.web.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)}),
    })
    corpus = tmp / "docs"
    corpus.mkdir()
    (corpus / "verlof.md").write_text("# Verlof\n\n## Vakantiedagen\n\nEen medewerker met een volledig "
                                      "dienstverband heeft recht op 27 vakantiedagen per jaar.\n")
    (corpus / "kantine.md").write_text("# Kantine\n\nDe kantine is op werkdagen open van 11.30 tot 14.00 uur.\n")
    store = QdrantStore.open(settings)
    database = Database.open(settings.database_url)
    assert not Ingestor(store, embedder, settings.ingest, Registry(database)).ingest_folder(corpus, "docs").failed
    database.close()
    make_user(settings.database_url, "emma", roles=("employee", "compliance"))
    app = create_app(settings, store=store, embedder=embedder)
    with serve(app) as url:
        yield {"url": url, "token": api_token(settings.database_url, "emma"), "tmp": tmp}
    store.close()


def schemathesis(url: str, token: str, workdir: Path, *selection: str) -> tuple[int, str]:
    """One schemathesis CLI run against the served spec; returns its exit status and output."""
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
               "--header", f"Authorization: Bearer {token}", "--checks", CHECKS,
               "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--no-shrink",
               "--phases", "examples,coverage,fuzzing", "--generation-database", "none",
               "--request-timeout", "60", "--warnings", "off", *selection]
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"}
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    print(output[output.find("SUMMARY"):])  # the figures, with `pytest -s`
    return done.returncode, output


def _tested(output: str) -> int:
    found = re.search(r"Tested:\s+(\d+)", output)
    return int(found.group(1)) if found else 0


def test_the_employee_api_answers_generated_requests_without_5xx_and_as_documented(site: dict[str, Any]) -> None:
    status, output = schemathesis(site["url"], site["token"], site["tmp"], "--exclude-path-regex", "^/api/admin")
    assert status == 0, output[-6000:]
    assert _tested(output) >= 10, output[-3000:]  # the account, ask, feedback, health and audit operations


def test_the_admin_api_answers_generated_requests_without_5xx_and_as_documented(site: dict[str, Any]) -> None:
    status, output = schemathesis(site["url"], ADMIN_TOKEN, site["tmp"], "--include-path-regex", "^/api/admin",
                                  "--exclude-operation-id", "add_source_api_admin_sources_post")
    assert status == 0, output[-6000:]
    assert _tested(output) >= 9, output[-3000:]
