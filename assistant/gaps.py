"""Content gaps: the questions Vraagbaak could not answer well, grouped into topics for the learning team.

A gap question is an answer record that was refused, answered with confidence below
`gaps.low_confidence`, or got a thumbs down. Their questions are embedded with the app's model,
centred on a fixed set of everyday workplace questions (e5 vectors all point roughly the same way;
taking that common direction out spreads topics apart), and clustered agglomeratively with average
linkage under a cosine distance threshold, so the number of topics follows the data and a question
unlike any other stays a topic of its own. Each topic is labelled with its top terms by class-based
TF-IDF. Re-clustering matches new clusters to the stored topics by centroid similarity, so a topic
keeps its id, owner and status as questions come and go.

After new content is ingested, `GapTopics.recheck` asks each open topic's questions again (with an
assistant that writes no answer records) and stores per question whether it is answered now.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select

from assistant.gap_clusters import QuestionSpace, cluster, label, match_topics, topic_terms, unit
from core.db import AnswerRecord, Database, FeedbackRow, GapTopicRow, utcnow
from core.embedding import Embedder
from core.logging import kv
from core.settings import GapsSettings

if TYPE_CHECKING:
    from assistant.service import Assistant

log = logging.getLogger(__name__)

STATUSES = ("open", "in_progress", "resolved")
KIND_GAP, KIND_ASKED = "gap", "asked"
"""`details["kind"]` of a gap topic, and of a "most asked" topic (all questions, kept in the same table)."""


@dataclass(frozen=True)
class GapQuestion:
    """One asked question as the dashboard sees it."""

    record_id: str
    question: str
    text: str
    """What is embedded and clustered: the standalone question (a follow-up made self-contained) or the question."""
    language: str
    asked_at: datetime
    answered: bool
    confidence: float
    reasons: tuple[str, ...] = ()
    """Why it is a gap: `refused`, `low_confidence`, `thumbs_down` (empty for a question that is no gap)."""
    comments: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterReport:
    questions: int
    topics: int
    new: int
    kept: int
    removed: int
    asked_topics: int
    seconds: float


@dataclass(frozen=True)
class RecheckReport:
    topics: int
    questions: int
    answered: int
    seconds: float


@dataclass
class _Cluster:
    members: list[GapQuestion]
    centroid: np.ndarray
    """Mean of the members' model vectors (unit length): what closest-document search uses."""
    centred: np.ndarray
    """The centroid centred like the questions: what topics are matched by."""
    terms: list[str] = field(default_factory=list)


# -- reading the answer records ------------------------------------------------------------------

def load_questions(database: Database, settings: GapsSettings, *, gaps_only: bool,
                   now: datetime | None = None) -> list[GapQuestion]:
    """The questions of the last `window_days`, newest first, at most `max_questions`: only the gaps
    (refused, low confidence, thumbs down) or all."""
    since = (now or utcnow()) - timedelta(days=settings.window_days)
    with database.session() as session:
        down: dict[str, list[str]] = {}
        for row in session.scalars(select(FeedbackRow).where(FeedbackRow.rating < 0)):
            down.setdefault(row.record_id, []).append((row.comment or "").strip())
        query = (select(AnswerRecord.record_id, AnswerRecord.question, AnswerRecord.standalone_question,
                        AnswerRecord.language, AnswerRecord.created_at, AnswerRecord.answered,
                        AnswerRecord.verdict, AnswerRecord.confidence)
                 .where(AnswerRecord.created_at >= since, AnswerRecord.redaction.is_(None))  # erased: not a question
                 .order_by(AnswerRecord.created_at.desc()))
        rows = session.execute(query).all()
    found: list[GapQuestion] = []
    for record_id, question, standalone, language, created, answered, verdict, confidence in rows:
        reasons = tuple(reason for reason, applies in (
            ("refused", not answered or verdict == "refused"),
            ("low_confidence", answered and verdict != "refused" and confidence < settings.low_confidence),
            ("thumbs_down", record_id in down)) if applies)
        if gaps_only and not reasons:
            continue
        found.append(GapQuestion(record_id, question, standalone or question, language or "", _aware(created),
                                 bool(answered), float(confidence), reasons,
                                 tuple(c for c in down.get(record_id, ()) if c)))
        if len(found) >= settings.max_questions:
            break
    return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def weekly_counts(moments: Iterable[datetime], weeks: int, now: datetime | None = None) -> list[int]:
    """Questions per week for the last `weeks` weeks, oldest first (the last is the current week)."""
    now = now or utcnow()
    counts = [0] * weeks
    for moment in moments:
        age = (now - _aware(moment)).days // 7
        if 0 <= age < weeks:
            counts[weeks - 1 - age] += 1
    return counts


# -- the service ----------------------------------------------------------------------------------

class GapTopics:
    """Clusters gap questions into stored topics and re-checks them; one per process (app or CLI).
    `assistant` answers re-checked questions and must write no answer records (None: no re-check)."""

    def __init__(self, database: Database, embedder: Embedder, settings: GapsSettings,
                 assistant: Assistant | None = None) -> None:
        self.database = database
        self.settings = settings
        self.space = QuestionSpace(embedder)
        self.assistant = assistant
        self._lock = threading.Lock()
        self.running: str | None = None
        """What runs now (`cluster`, `recheck`), for the dashboard; None when idle."""
        self.last_error: str | None = None

    # clustering

    def recluster(self) -> ClusterReport:
        """Cluster the gap questions (and, for "most asked", all questions) and store the topics."""
        with self._busy("cluster"):
            return self._recluster()

    def _recluster(self) -> ClusterReport:
        started = time.perf_counter()
        gaps = load_questions(self.database, self.settings, gaps_only=True)
        clusters = self._clusters(gaps)
        asked = self._clusters(load_questions(self.database, self.settings, gaps_only=False))
        now = utcnow()
        with self.database.session() as session:
            rows = list(session.scalars(select(GapTopicRow)))
            old = [r for r in rows if (r.details or {}).get("kind", KIND_GAP) == KIND_GAP]
            old_centred = np.array([self.space.centre(np.asarray(r.centroid, dtype=np.float32)) for r in old]
                                   ) if old else np.zeros((0, 1))
            matches = match_topics(np.array([c.centred for c in clusters]) if clusters else np.zeros((0, 1)),
                                   old_centred, self.settings.match_similarity)
            kept_rows = set()
            for index, item in enumerate(clusters):
                row = old[matches[index]] if index in matches else None
                if row is None:
                    row = GapTopicRow(topic_id=uuid.uuid4().hex, status="open", created_at=now, details={})
                    session.add(row)
                kept_rows.add(row.topic_id)
                self._fill(row, item, now, KIND_GAP)
            removed = 0
            for row in old:
                if row.topic_id in kept_rows:
                    continue
                if row.status == "open" and not row.owner:
                    session.delete(row)
                    removed += 1
                else:  # someone works on it: keep it, with no current questions
                    row.record_ids, row.updated_at = [], now
            for row in rows:
                if (row.details or {}).get("kind") == KIND_ASKED:
                    session.delete(row)
            for item in asked:
                row = GapTopicRow(topic_id=uuid.uuid4().hex, status="open", created_at=now, details={})
                self._fill(row, item, now, KIND_ASKED)
                session.add(row)
        report = ClusterReport(len(gaps), len(clusters), len(clusters) - len(matches), len(matches), removed,
                               len(asked), round(time.perf_counter() - started, 2))
        log.info("gap topics clustered", extra=kv(**report.__dict__))
        return report

    def _clusters(self, questions: Sequence[GapQuestion]) -> list[_Cluster]:
        if not questions:
            return []
        vectors = self.space.vectors([q.text for q in questions])
        centred = self.space.centre(vectors)
        labels = cluster(centred, self.settings.distance_threshold)
        clusters = []
        for number in sorted(set(labels.tolist())):
            index = np.flatnonzero(labels == number)
            centroid = unit(vectors[index].mean(axis=0))
            clusters.append(_Cluster([questions[i] for i in index], centroid, self.space.centre(centroid)))
        terms = topic_terms([[(q.text, q.language) for q in c.members] for c in clusters])
        for item, chosen in zip(clusters, terms, strict=True):
            item.terms = chosen
        return sorted(clusters, key=lambda c: -len(c.members))

    @staticmethod
    def _fill(row: GapTopicRow, item: _Cluster, now: datetime, kind: str) -> None:
        row.label = label(item.terms)
        row.terms = list(item.terms)
        row.record_ids = [q.record_id for q in item.members]
        row.centroid = [round(float(x), 6) for x in item.centroid]
        details = dict(row.details or {})
        details.update({
            "kind": kind, "clustered_at": now.isoformat(),
            "languages": dict(Counter(q.language or "?" for q in item.members).most_common()),
            "reasons": dict(Counter(r for q in item.members for r in q.reasons).most_common()),
            "answered": sum(q.answered for q in item.members),
        })
        row.details = details
        row.updated_at = now

    # re-checking

    def recheck(self, topic_ids: Sequence[str] | None = None, job_id: str | None = None) -> RecheckReport:
        """Ask the questions of every topic not resolved (or of `topic_ids`) again, without recording the
        answers, and store per question whether it is answered now and from which documents."""
        if self.assistant is None:
            raise RuntimeError("no assistant to re-check with")
        with self._busy("recheck"):
            return self._recheck(topic_ids, job_id)

    def after_job(self, job_id: str, report: object) -> None:
        """Jobs listener: new content may answer open topics — cluster what came in, then re-check."""
        if not getattr(report, "changed", True):
            return
        with self._busy("recheck"):
            self._recluster()
            self._recheck(None, job_id)

    def _recheck(self, topic_ids: Sequence[str] | None, job_id: str | None) -> RecheckReport:
        started = time.perf_counter()
        with self.database.session() as session:
            topics = [r for r in session.scalars(select(GapTopicRow))
                      if (r.details or {}).get("kind", KIND_GAP) == KIND_GAP
                      and (r.topic_id in topic_ids if topic_ids is not None else r.status != "resolved")]
            wanted = {r.topic_id: list(r.record_ids) for r in topics}
            ids = [i for v in wanted.values() for i in v]
            questions = dict(session.execute(select(AnswerRecord.record_id, AnswerRecord.question)
                                             .where(AnswerRecord.record_id.in_(ids))).all()) if ids else {}
        results: dict[str, list[dict]] = {}
        asked = answered = 0
        for topic_id, record_ids in wanted.items():
            seen: dict[str, dict] = {}
            for record_id in record_ids:
                question = questions.get(record_id)
                key = " ".join((question or "").lower().split())
                if not question or key in seen or len(seen) >= self.settings.recheck_limit:
                    continue
                seen[key] = self._ask(question, record_id)
                asked += 1
                answered += seen[key]["answered"]
            results[topic_id] = list(seen.values())
        now = utcnow().isoformat()
        with self.database.session() as session:
            for topic_id, checked in results.items():
                row = session.get(GapTopicRow, topic_id)
                if row is None:
                    continue
                row.details = {**(row.details or {}), "recheck": {
                    "at": now, "job_id": job_id, "questions": checked,
                    "answered": sum(c["answered"] for c in checked), "total": len(checked)}}
        report = RecheckReport(len(results), asked, answered, round(time.perf_counter() - started, 2))
        log.info("gap topics re-checked", extra=kv(job_id=job_id, **report.__dict__))
        return report

    def _ask(self, question: str, record_id: str) -> dict:
        """One question asked again with no group restriction: the dashboard shows each viewer only the
        sources (and answer text) of documents they may read."""
        try:
            answer = self.assistant.ask(question, groups=None)  # type: ignore[union-attr]
        except Exception as exc:
            log.warning("re-check failed", extra=kv(record_id=record_id, error=f"{type(exc).__name__}: {exc}"[:200]))
            return {"record_id": record_id, "question": question, "answered": False, "error": type(exc).__name__,
                    "answer": "", "confidence": 0.0, "sources": []}
        ok = answer.answered and answer.verdict != "refused" and answer.confidence >= self.settings.low_confidence
        sources: dict[str, dict] = {}
        for citation in answer.citations:
            sources.setdefault(citation.doc_id, {"doc_id": citation.doc_id, "title": citation.title,
                                                 "uri": citation.uri})
        return {"record_id": record_id, "question": question, "answered": bool(ok), "verdict": answer.verdict,
                "confidence": round(float(answer.confidence), 3), "answer": answer.text if ok else "",
                "sources": list(sources.values()) if ok else []}

    # editing

    def update(self, topic_id: str, *, status: str | None = None, owner: str | None = None) -> GapTopicRow | None:
        """Set a topic's status and/or owner ("" clears the owner); None when there is no such topic."""
        if status is not None and status not in STATUSES:
            raise ValueError(status)
        with self.database.session() as session:
            row = session.get(GapTopicRow, topic_id)
            if row is None or (row.details or {}).get("kind", KIND_GAP) != KIND_GAP:
                return None
            if status is not None:
                row.status = status
                if status == "resolved":
                    row.details = {**(row.details or {}), "resolved_at": utcnow().isoformat()}
            if owner is not None:
                row.owner = owner.strip() or None
            row.updated_at = utcnow()
            return row

    def _busy(self, what: str) -> _Busy:
        return _Busy(self, what)


class _Busy:
    """Holds the service's lock while one clustering or re-check runs, and says what runs."""

    def __init__(self, service: GapTopics, what: str) -> None:
        self.service, self.what = service, what

    def __enter__(self) -> None:
        self.service._lock.acquire()
        self.service.running = self.what
        self.service.last_error = None

    def __exit__(self, kind, value, _traceback) -> None:  # type: ignore[no-untyped-def]
        if value is not None:
            self.service.last_error = f"{kind.__name__}: {value}"[:300]
        self.service.running = None
        self.service._lock.release()
