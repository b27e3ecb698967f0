"""The audit log as compliance reads it: verifying the hash chain, searching and filtering answer
records, one record in full, the most cited documents, the answers that quoted a document version,
and exports. Text quoted from documents the reader may not read is withheld (`DocumentAccess`).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Text, cast, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from assistant.audit_view import DocumentAccess
from assistant.records import GENESIS, latest_checkpoint, record_hash
from assistant.redaction import redaction_problem
from core.db import AnswerRecord, Database, FeedbackRow
from core.errors import ErrorCode, VraagbaakError

log = logging.getLogger(__name__)


# -- verifying the chain ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainProblem:
    """One place where the chain does not hold: the seq and what is wrong there."""

    seq: int | None
    kind: str
    """`edited` | `deleted` | `reordered` | `relinked` | `truncated` | `unchained` | `checkpoint`."""
    detail: str


@dataclass(frozen=True)
class ChainReport:
    """The outcome of recomputing the chain."""

    checked: int
    first_seq: int | None
    head_seq: int
    head_hash: str
    removed_by_retention: int
    checkpoint_seq: int | None
    problems: tuple[ChainProblem, ...] = ()
    redacted: int = 0
    """Records whose personal text was erased at the user's request (they still verify)."""
    redacted_unchecked: tuple[int, ...] = ()
    """Seqs of erased records hashed in format 1: their links are checked, their content cannot be."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "first_seq": self.first_seq, "head_seq": self.head_seq,
                "head_hash": self.head_hash, "removed_by_retention": self.removed_by_retention,
                "checkpoint_seq": self.checkpoint_seq, "redacted": self.redacted,
                "redacted_unchecked": list(self.redacted_unchecked),
                "problems": [{"seq": p.seq, "kind": p.kind, "detail": p.detail} for p in self.problems]}

    def summary(self) -> str:
        removed = (f"; {self.removed_by_retention} older record(s) removed by retention (checkpoint at seq "
                   f"{self.checkpoint_seq})" if self.checkpoint_seq else "")
        if self.redacted:
            unchecked = (f", {len(self.redacted_unchecked)} of them written before format 2, so only their links "
                         f"are checked (seq {', '.join(map(str, self.redacted_unchecked[:10]))})"
                         if self.redacted_unchecked else "")
            removed += f"; {self.redacted} record(s) redacted for erasure{unchecked}"
        if self.ok:
            span = f" (seq {self.first_seq}–{self.head_seq})" if self.checked else ""
            return f"audit chain OK: {self.checked} record(s){span}{removed}; head {self.head_seq}:{self.head_hash} (note it; `verify --head` checks it later)"
        first = self.problems[0]
        where = f"seq {first.seq}" if first.seq is not None else "records outside the chain"
        return (f"audit chain BROKEN at {where}: {first.kind}: {first.detail} ({len(self.problems)} problem(s), "
                f"{self.checked} record(s) checked{removed})")


_VERIFY_BATCH = 1000
_MAX_PROBLEMS = 100


def verify_chain(database: Database, anchor: tuple[int, str] | None = None) -> ChainReport:
    """Recompute every record's hash and every link, from the newest retention checkpoint (or the
    genesis) to the head. Names each place where a record was edited, deleted, reordered or re-linked.
    `anchor`: a (seq, record_hash) noted earlier (an older head): the chain must still hold it — that
    shows the newest records were not cut off, which links alone cannot."""
    problems: list[ChainProblem] = []
    with database.session() as session:
        checkpoint = latest_checkpoint(session)
        start_seq = checkpoint.seq if checkpoint else 0
        expected_seq, prev_hash = start_seq + 1, checkpoint.record_hash if checkpoint else GENESIS
        checked, first_seq, last = 0, None, start_seq
        redacted, unchecked = 0, []
        stale = session.scalar(select(func.count()).select_from(AnswerRecord)
                               .where(AnswerRecord.seq <= start_seq)) if checkpoint else 0
        if stale:
            problems.append(ChainProblem(start_seq, "checkpoint", f"{stale} record(s) at or before the retention "
                                                                  f"checkpoint (seq {start_seq}) are still present"))
        while len(problems) < _MAX_PROBLEMS:
            rows = session.scalars(select(AnswerRecord).where(AnswerRecord.seq > last)
                                   .order_by(AnswerRecord.seq).limit(_VERIFY_BATCH)).all()
            if not rows:
                break
            for row in rows:
                problems += _check(row, expected_seq, prev_hash)
                if row.redaction is not None:
                    redacted += 1
                    if (row.hash_format or 1) < 2:
                        unchecked.append(row.seq)
                first_seq = row.seq if first_seq is None else first_seq
                checked += 1
                prev_hash, expected_seq, last = row.record_hash or "", row.seq + 1, row.seq
            session.expunge_all()
        if anchor is not None and anchor[0] > start_seq:
            held = session.scalar(select(AnswerRecord.record_hash).where(AnswerRecord.seq == anchor[0]))
            if held is None:
                problems.append(ChainProblem(anchor[0], "truncated", f"the noted record at seq {anchor[0]} is gone: "
                                                                     "the newest records were removed"))
            elif held != anchor[1]:
                problems.append(ChainProblem(anchor[0], "edited", f"the record at seq {anchor[0]} no longer has "
                                                                  "the noted hash"))
        unchained = session.scalar(select(func.count()).select_from(AnswerRecord).where(AnswerRecord.seq.is_(None)))
        if unchained:
            problems.append(ChainProblem(None, "unchained", f"{unchained} record(s) have no place in the chain "
                                                            "(no seq): written around it, or older than it"))
    return ChainReport(checked=checked, first_seq=first_seq, head_seq=last, head_hash=prev_hash,
                       removed_by_retention=checkpoint.removed_total if checkpoint else 0,
                       checkpoint_seq=checkpoint.seq if checkpoint else None, problems=tuple(problems),
                       redacted=redacted, redacted_unchecked=tuple(unchecked))


def _check(row: AnswerRecord, expected_seq: int, prev_hash: str) -> list[ChainProblem]:
    found: list[ChainProblem] = []
    if row.seq > expected_seq:
        missing = row.seq - expected_seq
        span = f"seq {expected_seq}" if missing == 1 else f"seq {expected_seq}–{row.seq - 1}"
        found.append(ChainProblem(expected_seq, "deleted", f"{missing} record(s) missing ({span}): deleted "
                                                           "outside retention"))
    erased_problem = redaction_problem(row) if row.redaction is not None else None
    # a format-1 record's hash covered the erased text itself: after erasure only its link can be checked
    content_checkable = row.redaction is None or (row.hash_format or 1) >= 2
    if erased_problem is not None:
        found.append(ChainProblem(row.seq, "edited", f"{erased_problem}: the record was changed after its erasure"))
    elif content_checkable and record_hash(row) != row.record_hash:
        written_as = _written_as(row)
        if written_as is not None:
            found.append(ChainProblem(row.seq, "reordered", f"this record was written as seq {written_as} and "
                                                            "has been moved"))
        else:
            found.append(ChainProblem(row.seq, "edited", "its content no longer matches its record_hash: the "
                                                         "record was changed after it was written"))
    elif row.prev_hash != prev_hash and row.seq == expected_seq:
        found.append(ChainProblem(row.seq, "relinked", "its prev_hash is not the hash of the record before it: "
                                                       "that record was changed and re-hashed, moved, or inserted"))
    return found


_MOVE_WINDOW = 50


def _written_as(row: AnswerRecord) -> int | None:
    """The seq a record's hash was computed with, if it is near its present one (a moved record)."""
    for distance in range(1, _MOVE_WINDOW + 1):
        for candidate in (row.seq - distance, row.seq + distance):
            if candidate > 0 and record_hash(row, candidate) == row.record_hash:
                return candidate
    return None




# -- filters ----------------------------------------------------------------------------------------

VERDICTS = ("answered", "partly_supported", "refused")
_HEX = re.compile(r"[0-9a-f]+")
_MAX_DOCUMENTS = 200


def _bad(message: str) -> VraagbaakError:
    return VraagbaakError(ErrorCode.BAD_REQUEST, message)


def _date(name: str, value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(f"'{name}' must be a date written as YYYY-MM-DD, not {value[:40]!r}.") from None


def _hex(name: str, value: str, low: int, high: int, what: str) -> str:
    value = value.lower()
    if value and not (low <= len(value) <= high and _HEX.fullmatch(value)):
        raise _bad(f"'{name}' is {what}: {low} to {high} hexadecimal characters, not {value[:70]!r}.")
    return value


@dataclass(frozen=True)
class AuditFilter:
    """Which answer records to show or export. Parsed from query parameters (all optional):
    `from`/`to` (dates, UTC, both inclusive), `user` (pseudonym or its first characters),
    `document` (a document id, its first characters, or a fragment of a title the reader may read),
    `version` (a document version hash, or its first characters), `verdict`, `refused` (yes/no),
    `q` (text in the question) and `thread`."""

    PARAMS = ("from", "to", "user", "document", "version", "verdict", "refused", "q", "thread")

    start: date | None = None
    end: date | None = None
    user: str = ""
    document: str = ""
    doc_ids: tuple[str, ...] | None = None
    """The documents `document` stands for (None: no document filter)."""
    version: str = ""
    verdict: str = ""
    refused: bool | None = None
    text: str = ""
    thread: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, str], resolve: Callable[[str], tuple[str, ...]]) -> AuditFilter:
        """From query parameters; a bad value raises BAD_REQUEST naming the parameter. `resolve` turns
        the document parameter into document ids."""
        get = {name: str(params.get(name) or "").strip() for name in cls.PARAMS}
        start, end = _date("from", get["from"]), _date("to", get["to"])
        if start and end and start > end:
            raise _bad(f"'from' ({start}) is after 'to' ({end}).")
        if get["verdict"] and get["verdict"] not in VERDICTS:
            raise _bad(f"'verdict' must be one of {', '.join(VERDICTS)}, not {get['verdict'][:40]!r}.")
        refused = {"": None, "yes": True, "no": False}.get(get["refused"].lower(), ...)
        if refused is ...:
            raise _bad(f"'refused' must be yes or no, not {get['refused'][:40]!r}.")
        if len(get["q"]) > 500 or len(get["document"]) > 200:
            raise _bad("'q' may be at most 500 characters and 'document' at most 200.")
        document = get["document"]
        return cls(start=start, end=end, user=_hex("user", get["user"], 6, 64, "a pseudonym"),
                   document=document, doc_ids=resolve(document) if document else None,
                   version=_hex("version", get["version"], 6, 64, "a document version"),
                   verdict=get["verdict"], refused=refused, text=get["q"],
                   thread=_hex("thread", get["thread"], 6, 32, "a thread id"))

    def params(self) -> dict[str, str]:
        """The non-empty parameters, as given (for links that keep the filter)."""
        values = {"from": self.start.isoformat() if self.start else "", "to": self.end.isoformat() if self.end else "",
                  "user": self.user, "document": self.document, "version": self.version, "verdict": self.verdict,
                  "refused": {None: "", True: "yes", False: "no"}[self.refused], "q": self.text,
                  "thread": self.thread}
        return {k: v for k, v in values.items() if v}

    def query(self, **extra: object) -> str:
        return urlencode({**self.params(), **{k: str(v) for k, v in extra.items() if v not in (None, "")}})

    @property
    def active(self) -> bool:
        return bool(self.params())

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.start:
            found.append(AnswerRecord.created_at >= datetime.combine(self.start, time.min, UTC))
        if self.end:
            found.append(AnswerRecord.created_at < datetime.combine(self.end + timedelta(days=1), time.min, UTC))
        if self.user:
            found.append(AnswerRecord.user_pseudonym.like(f"{self.user}%"))
        if self.verdict:
            found.append(AnswerRecord.verdict == self.verdict)
        if self.refused is not None:
            found.append(AnswerRecord.answered == (not self.refused))
        if self.text:
            pattern = "%" + _escape_like(self.text) + "%"
            found.append(or_(AnswerRecord.question.ilike(pattern, escape="\\"),
                             AnswerRecord.standalone_question.ilike(pattern, escape="\\")))
        if self.thread:
            found.append(AnswerRecord.thread_id == self.thread)
        # `cited` is stored as JSON text whose entries begin `{"number": …, "chunk_id": …, "doc_id": "…",
        # "version": "…"`, in that order (assistant/records.py): a LIKE on that text finds an exact citation.
        cited = cast(AnswerRecord.cited, Text)
        if self.doc_ids is not None:
            # a shorter id is a prefix: `_` matches one character, so the version still follows that id
            after = f', "version": "{self.version}%' if self.version else "%"
            found.append(or_(*[cited.like(f'%"doc_id": "{doc_id}{"_" * (32 - len(doc_id))}"{after}')
                               for doc_id in self.doc_ids]) if self.doc_ids else false())
        elif self.version:
            found.append(cited.like(f'%"version": "{self.version}%'))
        return found


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- queries ----------------------------------------------------------------------------------------

@dataclass
class CitedDocument:
    """A document with how often answers in a period cited it."""

    doc_id: str
    title: str | None
    """None: withheld (the reader may not read the document)."""
    records: int = 0
    citations: int = 0
    versions: Counter[str] = field(default_factory=Counter)
    last_cited: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        from assistant.records import timestamp

        return {"doc_id": self.doc_id, "title": self.title, "withheld": self.title is None, "records": self.records,
                "citations": self.citations, "versions": dict(self.versions.most_common()),
                "last_cited": timestamp(self.last_cited) if self.last_cited else None}


class AuditLog:
    """Reads answer records for the compliance views and exports."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def resolver(self, access: DocumentAccess) -> Callable[[str], tuple[str, ...]]:
        """Document parameter → document ids: an id (or its first 6+ characters) as given, plus every
        document whose title contains the text — among the documents the reader may read only."""

        def resolve(fragment: str) -> tuple[str, ...]:
            wanted = fragment.strip().lower()
            found: list[str] = []
            if len(wanted) >= 6 and _HEX.fullmatch(wanted):
                found.append(wanted[:32])
            for doc_id, title in access.known_documents():
                if doc_id not in found and wanted in title.lower() and access.readable(doc_id):
                    found.append(doc_id)
            if len(found) > _MAX_DOCUMENTS:
                raise _bad(f"{len(found)} documents match {fragment[:60]!r}; give more of the title or the document id.")
            return tuple(found)

        return resolve

    def page(self, flt: AuditFilter, page: int = 1, per_page: int = 50) -> tuple[list[AnswerRecord], int]:
        """One page of matching records, newest first, and how many match in all."""
        conditions = flt.conditions()
        with self.database.session() as session:
            total = session.scalar(select(func.count()).select_from(AnswerRecord).where(*conditions)) or 0
            rows = session.scalars(select(AnswerRecord).where(*conditions)
                                   .order_by(AnswerRecord.created_at.desc(), AnswerRecord.record_id)
                                   .offset((page - 1) * per_page).limit(per_page)).all()
        return list(rows), total

    def iterate(self, flt: AuditFilter, batch: int = 500) -> Iterator[AnswerRecord]:
        """Every matching record in chain order, read in batches (for streamed exports)."""
        conditions = flt.conditions()
        offset = 0
        while True:
            with self.database.session() as session:
                rows = session.scalars(select(AnswerRecord).where(*conditions)
                                       .order_by(AnswerRecord.seq, AnswerRecord.created_at, AnswerRecord.record_id)
                                       .offset(offset).limit(batch)).all()
            yield from rows
            if len(rows) < batch:
                return
            offset += batch

    def get(self, record_id: str) -> AnswerRecord:
        with self.database.session() as session:
            row = session.get(AnswerRecord, record_id) if len(record_id) <= 32 else None
        if row is None:
            raise VraagbaakError(ErrorCode.NOT_FOUND, f"No answer record {record_id[:40]!r}.")
        return row

    def feedback(self, record_id: str) -> list[FeedbackRow]:
        with self.database.session() as session:
            return list(session.scalars(select(FeedbackRow).where(FeedbackRow.record_id == record_id)
                                        .order_by(FeedbackRow.created_at)))

    def most_cited(self, flt: AuditFilter, access: DocumentAccess, limit: int = 50) -> list[CitedDocument]:
        """The documents cited by the most answers among the matching records, with citation and per-version counts."""
        documents: dict[str, CitedDocument] = {}
        titles: dict[str, str] = {}
        conditions = flt.conditions()
        with self.database.session() as session:
            for created_at, cited in session.execute(select(AnswerRecord.created_at, AnswerRecord.cited)
                                                     .where(*conditions)):
                for doc_id in dict.fromkeys(c.get("doc_id", "") for c in cited or ()):
                    documents.setdefault(doc_id, CitedDocument(doc_id, None)).records += 1
                for citation in cited or ():
                    entry = documents[citation.get("doc_id", "")]
                    entry.citations += 1
                    entry.versions[citation.get("version", "")] += 1
                    entry.last_cited = max(filter(None, (entry.last_cited, _aware(created_at))))
                    if citation.get("title"):
                        titles.setdefault(entry.doc_id, citation["title"])
        ranked = sorted(documents.values(), key=lambda d: (-d.records, -d.citations, d.doc_id))[:limit]
        for entry in ranked:
            entry.title = access.title(entry.doc_id, titles.get(entry.doc_id, ""))
        return ranked


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
