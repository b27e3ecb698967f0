"""Asking through the real app over HTTP leaves an answer record in the application database —
answered and refused alike — under a pseudonym, never the raw user id."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from core.db import AnswerRecord, Database
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from tests.web.support import api_token, make_user, serve
from web.app import create_app


def test_every_answer_through_the_api_is_recorded(settings: Settings, demo_store: QdrantStore,
                                                   embedder: Embedder) -> None:
    user_id = make_user(settings.database_url, "asker")
    with serve(create_app(settings, store=demo_store, embedder=embedder)) as url:
        token = {"Authorization": f"Bearer {api_token(settings.database_url, 'asker')}"}
        answered = httpx.post(f"{url}/api/ask", json={"question": "Hoeveel vakantiedagen heb ik?"}, timeout=120,
                              headers=token)
        refused = httpx.post(f"{url}/api/ask", json={"question": "Kan ik een leaseauto krijgen?"}, timeout=120,
                             headers=token)
    assert answered.status_code == 200 and answered.json()["answered"]
    assert refused.status_code == 200 and not refused.json()["answered"]
    database = Database.open(settings.database_url)
    with database.session() as session:
        records = {r.question: r for r in session.scalars(select(AnswerRecord))}
    database.close()
    assert set(records) == {"Hoeveel vakantiedagen heb ik?", "Kan ik een leaseauto krijgen?"}
    good, bad = records["Hoeveel vakantiedagen heb ik?"], records["Kan ik een leaseauto krijgen?"]
    assert good.answered and good.verdict != "refused" and good.language == "nl"
    cited = answered.json()["citations"]
    assert [(c["chunk_id"], c["document_version"]) for c in cited] == \
        [(c["chunk_id"], c["version"]) for c in good.cited]
    assert good.retrieved and good.timings_ms.get("total", 0) > 0
    assert not bad.answered and bad.refusal_reason and bad.verdict == "refused"
    assert good.user_pseudonym == bad.user_pseudonym  # one user, pseudonymised: never the user id itself
    assert user_id not in good.user_pseudonym and len(good.user_pseudonym) == 64
