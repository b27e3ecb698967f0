"""xAPI statements to a Learning Record Store, so learning analytics see the questions people ask beside
their course data. Off unless `xapi.endpoint` is set.

Per recorded answer: "<pseudonym> asked <question>" (ADL verb `asked`), and for every cited e-learning
lesson "<pseudonym> experienced <lesson>" — the question was answered from that lesson — with the
course as parent and the asked statement as context. The actor is an xAPI account whose name is the
answer record's pseudonym (HMAC of the user id), never a name or e-mail address.

Statements are sent by one background thread from a bounded queue: a full queue drops statements, a
failing LRS is logged, and neither ever delays or changes an answer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from core.db import Database, DocumentRow
from core.logging import kv
from core.settings import XAPISettings

log = logging.getLogger(__name__)

VERSION = "1.0.3"
ASKED = "http://adlnet.gov/expapi/verbs/asked"
EXPERIENCED = "http://adlnet.gov/expapi/verbs/experienced"
QUESTION = "http://adlnet.gov/expapi/activities/question"
LESSON = "http://adlnet.gov/expapi/activities/lesson"
COURSE = "http://adlnet.gov/expapi/activities/course"
LESSON_MARK = "!/"
"""An e-learning lesson's URI is `package!/launch-file` (ingest/packages.py)."""
_LANGUAGE_TAGS = {"nl": "nl-NL", "en": "en-US", "de": "de-DE", "fr": "fr-FR"}
_STOP = object()


class XAPIEmitter:
    """Turns recorded answers into xAPI statements and posts them to the LRS in the background."""

    def __init__(self, settings: XAPISettings, site: str, database: Database | None = None) -> None:
        if not settings.endpoint:
            raise ValueError("xapi.endpoint is not set")
        self.settings = settings
        self.site = site.rstrip("/")
        self.database = database
        self.url = settings.endpoint.rstrip("/") + "/statements"
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=settings.queue_size)
        auth = (settings.username or "", settings.password.get_secret_value() if settings.password else "")
        self._client = httpx.Client(timeout=settings.timeout_s, auth=auth if settings.username else None,
                                    headers={"X-Experience-API-Version": VERSION})
        self._thread = threading.Thread(target=self._work, name="xapi", daemon=True)
        self._thread.start()

    def answer_recorded(self, record: Mapping[str, Any]) -> None:
        """AnswerLog listener (called with the stored record's columns): queue its statements; never
        blocks, never raises."""
        snapshot = {"record_id": record["record_id"], "pseudonym": record["user_pseudonym"],
                    "question": record["question"], "language": record.get("language") or "",
                    "answered": record["answered"], "verdict": record.get("verdict") or "",
                    "confidence": record.get("confidence") or 0.0, "cited": list(record.get("cited") or []),
                    "created_at": record.get("created_at") or datetime.now(UTC)}
        try:
            self._queue.put_nowait(snapshot)
        except queue.Full:
            self.dropped += 1
            log.warning("xAPI queue full: statements dropped", extra=kv(record_id=record["record_id"]))

    def statements(self, snapshot: dict[str, Any]) -> list[dict[str, Any]]:
        """The statements of one recorded answer: `asked`, then `experienced` per cited lesson."""
        tag = _LANGUAGE_TAGS.get(snapshot["language"], "en-US")
        actor = {"objectType": "Agent", "account": {"homePage": self.site, "name": snapshot["pseudonym"]}}
        moment = snapshot["created_at"]
        stamp = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
        question = {"objectType": "Activity", "id": f"{self.site}/xapi/questions/{snapshot['record_id']}",
                    "definition": {"type": QUESTION, "name": {tag: snapshot["question"][:1000]}}}
        context = {"platform": "Vraagbaak", "language": tag}
        asked_id = str(uuid.uuid4())
        statements = [{
            "id": asked_id, "actor": actor, "timestamp": stamp, "context": context, "object": question,
            "verb": {"id": ASKED, "display": {"en-US": "asked", "nl-NL": "vroeg"}},
            "result": {"success": bool(snapshot["answered"]) and snapshot["verdict"] != "refused",
                       "extensions": {f"{self.site}/xapi/extensions/confidence": round(float(snapshot["confidence"]), 3)}},
        }]
        for lesson, course in self._lessons(snapshot["cited"]):
            activity = {"objectType": "Activity", "id": f"{self.site}/documents/{lesson.doc_id}",
                        "definition": {"type": LESSON, "name": {tag: lesson.title or lesson.uri}}}
            parents = [{"objectType": "Activity", "id": f"{self.site}/documents/{course.doc_id}",
                        "definition": {"type": COURSE, "name": {tag: course.title or course.uri}}}] if course else []
            statements.append({
                "id": str(uuid.uuid4()), "actor": actor, "timestamp": stamp, "object": activity,
                "verb": {"id": EXPERIENCED, "display": {"en-US": "was answered from", "nl-NL": "kreeg antwoord uit"}},
                "context": {**context, "statement": {"objectType": "StatementRef", "id": asked_id},
                            "contextActivities": {"other": [question], **({"parent": parents} if parents else {})}},
            })
        return statements

    def _lessons(self, cited: list[dict[str, Any]]) -> list[tuple[DocumentRow, DocumentRow | None]]:
        """The cited documents that are e-learning lessons (once each), with their course's registry row."""
        ids = list(dict.fromkeys(c.get("doc_id") for c in cited if LESSON_MARK in (c.get("uri") or "")))
        if not ids or self.database is None:
            return []
        with self.database.session() as session:
            lessons = {r.doc_id: r for r in session.scalars(select(DocumentRow).where(DocumentRow.doc_id.in_(ids)))}
            found = []
            for doc_id in ids:
                lesson = lessons.get(doc_id)
                if lesson is None:
                    continue
                package_uri = lesson.uri.split(LESSON_MARK, 1)[0]
                course = session.scalars(select(DocumentRow).where(
                    DocumentRow.source_id == lesson.source_id, DocumentRow.uri == package_uri,
                    DocumentRow.media_type == "package")).first()
                found.append((lesson, course))
            return found

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                self._send(item)
            finally:
                self._queue.task_done()

    def _send(self, snapshot: dict[str, Any]) -> None:
        try:
            statements = self.statements(snapshot)
            response = self._client.post(self.url, json=statements)
            if response.status_code >= 300:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
            self.sent += len(statements)
        except Exception as exc:
            self.failed += 1
            log.warning("xAPI statements not sent", extra=kv(record_id=snapshot["record_id"],
                                                             error=f"{type(exc).__name__}: {exc}"[:300]))

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until the queue is empty (True) or the time is up (False)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (within `timeout_s`), then stop the thread."""
        self.flush(timeout_s)
        try:
            self._queue.put(_STOP, timeout=1)
        except queue.Full:
            pass
        self._thread.join(timeout_s)
        self._client.close()
