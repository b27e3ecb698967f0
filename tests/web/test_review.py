"""The gold-set review page: thumbs-up answers and refusals from real use are proposed, an expert accepts or
rejects them, the accepted ones download as a valid answer set (the CLI builds the same), and answers that
cite documents the reviewer may not read are withheld."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.db import Database
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from eval.validate import validate
from ingest.pipeline import Ingestor
from ingest.registry import Registry
from tests.fixtures import HR_SECRET, hr_corpus
from tests.web.support import make_user, serve, sign_in
from vraagbaak.cli import main
from web.app import create_app

SECRET = HR_SECRET


@pytest.fixture
def url(settings: Settings, store: QdrantStore, embedder: Embedder, tmp_path: Path) -> Iterator[str]:
    corpus = hr_corpus(tmp_path / "intranet")
    database = Database.open(settings.database_url)
    assert not Ingestor(store, embedder, settings.ingest, Registry(database)).ingest_folder(corpus, "intranet").failed
    database.close()
    make_user(settings.database_url, "hanna", groups=("hr",))
    make_user(settings.database_url, "lars", roles=("employee", "learning"))
    with serve(create_app(settings, store=store, embedder=embedder)) as served:
        yield served


def _rate(client: httpx.Client, question: str, rating: int) -> dict[str, Any]:
    answer = client.post("/api/ask", json={"question": question}).json()
    client.post("/api/feedback", json={"record_id": answer["record_id"], "rating": rating})
    return answer


def test_experts_accept_and_reject_proposals_and_download_the_accepted_set(
        url: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with httpx.Client(base_url=url, timeout=120) as hanna, httpx.Client(base_url=url, timeout=120) as lars:
        sign_in(hanna, "hanna")
        canteen = _rate(hanna, "Hoe laat is de kantine open?", +1)
        salary = _rate(hanna, "Wat verdient een senior adviseur?", +1)
        disliked = _rate(hanna, "Wat kost een broodje in de kantine?", -1)
        refused = hanna.post("/api/ask", json={"question": "Mag mijn hond mee naar kantoor?"}).json()
        assert canteen["answered"] and salary["answered"] and not refused["answered"]
        assert hanna.get("/review").status_code == 403  # an employee is no reviewer

        sign_in(lars, "lars")
        page = lars.get("/review")
        assert page.status_code == 200
        for proposed in (canteen, salary, refused):
            assert f'id="rev-{proposed["record_id"]}"' in page.text
        assert f'id="rev-{disliked["record_id"]}"' not in page.text  # thumbs down is no gold
        assert "11.30 tot 14.00" in page.text and SECRET not in page.text and "Salarisschalen" not in page.text
        assert "documenten die je niet mag lezen" in page.text  # lars is not in hr

        accepted = lars.post(f"/review/{canteen['record_id']}", data={"decision": "accepted", "note": "klopt"},
                             headers={"HX-Request": "true"})
        assert accepted.status_code == 200 and 'data-review="accepted"' in accepted.text
        assert lars.post(f"/review/{refused['record_id']}", data={"decision": "accepted"}).status_code == 303
        assert lars.post(f"/review/{salary['record_id']}", data={"decision": "rejected"}).status_code == 303
        assert lars.post(f"/review/{salary['record_id']}", data={"decision": "maybe"}).status_code == 400
        assert lars.post(f"/review/{'0' * 32}", data={"decision": "accepted"}).status_code == 404
        assert lars.post(f"/review/{canteen['record_id']}", data={"decision": "accepted"},
                         headers={"X-CSRF-Token": "forged"}).status_code == 403
        assert "(0)" in lars.get("/review").text.split("Te beoordelen")[1][:10]

        exported = lars.get("/review/export.jsonl")
        lines = [json.loads(line) for line in exported.text.splitlines()]
        assert {line["record_id"] for line in lines} == {canteen["record_id"], refused["record_id"]}
        answerable = next(line for line in lines if line["answerable"])
        assert answerable["expected_documents"] == ["algemeen/kantine.md"] and "11.30" in answerable["reference_answer"]
        saved = tmp_path / "gold.jsonl"
        saved.write_text(exported.text, encoding="utf-8")
        assert validate(saved) == []

    # the CLI builds the same accepted set from the database
    out = tmp_path / "cli.jsonl"
    monkeypatch.setenv("VRAAGBAAK_DATA_DIR", str(settings.data_dir))
    assert main(["eval", "build", "--from-db", "--accepted-only", "--out", str(out)]) == 0
    assert [json.loads(line)["record_id"] for line in out.read_text().splitlines()] == \
        [line["record_id"] for line in lines]
