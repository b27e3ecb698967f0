"""What the content-gap dashboard shows, read from the stored topics and answer records: topics with
their volume, weekly trend, examples and languages; the closest documents a viewer may read; the
e-learning lessons and courses cited most. Everything a viewer sees of a document is filtered by
that viewer's access groups here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from assistant.gaps import KIND_ASKED, KIND_GAP, GapQuestion, load_questions, weekly_counts
from core.db import AnswerRecord, Database, DocumentRow, GapTopicRow, utcnow
from core.settings import GapsSettings
from core.store import QdrantStore
from core.types import EVERYONE

LESSON_MARK = "!/"
"""An e-learning lesson's URI is `package!/launch-file` (ingest/packages.py)."""


@dataclass(frozen=True)
class TopicView:
    topic_id: str
    label: str
    terms: tuple[str, ...]
    status: str
    owner: str | None
    questions: tuple[GapQuestion, ...]
    """Newest first."""
    trend: tuple[int, ...]
    languages: dict[str, int]
    reasons: dict[str, int]
    centroid: tuple[float, ...]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def volume(self) -> int:
        return len(self.questions)

    @property
    def answered(self) -> int:
        return sum(q.answered and "refused" not in q.reasons for q in self.questions)

    @property
    def recheck(self) -> dict[str, Any] | None:
        return self.details.get("recheck")

    @property
    def since_resolved(self) -> int:
        """Questions asked after the topic was marked resolved (a sign it is not)."""
        resolved = self.details.get("resolved_at")
        if self.status != "resolved" or not resolved:
            return 0
        moment = datetime.fromisoformat(resolved)
        return sum(q.asked_at > moment for q in self.questions)


def topics(database: Database, settings: GapsSettings, *, kind: str = KIND_GAP, status: str | None = None,
           topic_id: str | None = None, now: datetime | None = None) -> list[TopicView]:
    """The stored topics of a kind (gaps, or "most asked"), largest first, with their questions."""
    with database.session() as session:
        query = select(GapTopicRow)
        if topic_id:
            query = query.where(GapTopicRow.topic_id == topic_id)
        rows = [r for r in session.scalars(query) if (r.details or {}).get("kind", KIND_GAP) == kind
                and (status is None or r.status == status)]
    if not rows:
        return []
    questions = {q.record_id: q for q in load_questions(database, settings, gaps_only=False, now=now)}
    views = []
    for row in rows:
        members = sorted((questions[i] for i in row.record_ids if i in questions), key=lambda q: q.asked_at,
                         reverse=True)
        details = dict(row.details or {})
        views.append(TopicView(
            row.topic_id, row.label, tuple(row.terms or ()), row.status, row.owner, tuple(members),
            tuple(weekly_counts((q.asked_at for q in members), settings.trend_weeks, now)),
            dict(Counter(q.language or "?" for q in members).most_common()),
            dict(Counter(r for q in members for r in q.reasons).most_common()), tuple(row.centroid or ()), details))
    return sorted(views, key=lambda v: (-v.volume, v.label))


def readable(database: Database, doc_ids: Iterable[str], groups: Sequence[str]) -> dict[str, DocumentRow]:
    """The documents among `doc_ids` that a user of `groups` may read (by the registry), by id."""
    ids = list(dict.fromkeys(doc_ids))
    if not ids:
        return {}
    allowed = {EVERYONE, *groups}
    with database.session() as session:
        rows = session.scalars(select(DocumentRow).where(DocumentRow.doc_id.in_(ids)))
        return {r.doc_id: r for r in rows if r.status == "indexed" and set(r.groups or [EVERYONE]) & allowed}


def closest_documents(store: QdrantStore, centroid: Sequence[float], groups: Sequence[str],
                      limit: int = 3) -> list[dict[str, str]]:
    """The documents nearest a topic's centroid that `groups` may read: id, title, URI and the section."""
    if not centroid:
        return []
    hits = store.search(dense=list(centroid), sparse=None, mode="dense", limit=limit * 5, groups=list(groups))
    found: dict[str, dict[str, str]] = {}
    for hit in hits:
        passage = hit.passage
        if passage.doc_id not in found and len(found) < limit:
            found[passage.doc_id] = {"doc_id": passage.doc_id, "title": passage.title or passage.uri,
                                     "uri": passage.uri, "section": " › ".join(passage.section_path),
                                     "score": f"{hit.dense_score:.2f}"}
    return list(found.values())


def visible_recheck(database: Database, recheck: dict[str, Any] | None, groups: Sequence[str]) -> dict[str, Any] | None:
    """A topic's last re-check as a viewer may see it: sources they may not read are only counted, and an
    answer's text is shown only when the viewer may read every document it came from."""
    if not recheck:
        return None
    ids = [s["doc_id"] for q in recheck.get("questions", []) for s in q.get("sources", [])]
    allowed = readable(database, ids, groups)
    questions = []
    for item in recheck.get("questions", []):
        sources = item.get("sources", [])
        shown = [{**s, "title": allowed[s["doc_id"]].title or s.get("title") or s["doc_id"]}
                 for s in sources if s["doc_id"] in allowed]
        questions.append({**item, "sources": shown, "hidden_sources": len(sources) - len(shown),
                          "answer": item.get("answer", "") if len(shown) == len(sources) else ""})
    return {**recheck, "questions": questions}


@dataclass(frozen=True)
class LessonCount:
    doc_id: str
    title: str
    count: int


@dataclass(frozen=True)
class CourseCount:
    title: str
    count: int
    lessons: tuple[LessonCount, ...]


def cited_lessons(database: Database, settings: GapsSettings, groups: Sequence[str], *, limit: int = 10,
                  now: datetime | None = None) -> list[CourseCount]:
    """E-learning courses and their lessons by how often answers of the last `window_days` cited them;
    only those a user of `groups` may read."""
    since = (now or utcnow()) - timedelta(days=settings.window_days)
    counts: Counter[str] = Counter()
    with database.session() as session:
        for (cited,) in session.execute(select(AnswerRecord.cited).where(AnswerRecord.created_at >= since)):
            counts.update({c["doc_id"] for c in cited or [] if LESSON_MARK in (c.get("uri") or "")})
    lessons = readable(database, counts, groups)
    if not lessons:
        return []
    with database.session() as session:
        packages = {(r.source_id, r.uri): r.title or r.uri for r in session.scalars(
            select(DocumentRow).where(DocumentRow.media_type == "package",
                                      DocumentRow.source_id.in_({r.source_id for r in lessons.values()})))}
    courses: dict[str, list[LessonCount]] = {}
    for doc_id, row in lessons.items():
        package_uri = row.uri.split(LESSON_MARK, 1)[0]
        course = packages.get((row.source_id, package_uri), package_uri)
        courses.setdefault(course, []).append(LessonCount(doc_id, row.title or row.uri, counts[doc_id]))
    result = [CourseCount(title, sum(lesson.count for lesson in items),
                          tuple(sorted(items, key=lambda item: (-item.count, item.title))))
              for title, items in courses.items()]
    return sorted(result, key=lambda c: (-c.count, c.title))[:limit]


def asked_topics(database: Database, settings: GapsSettings, limit: int = 10,
                 now: datetime | None = None) -> list[TopicView]:
    """The most asked topics over all questions (answered or not)."""
    return topics(database, settings, kind=KIND_ASKED, now=now)[:limit]

