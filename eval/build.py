"""A gold set proposed from real use: answers that got a thumbs-up become answerable candidates with
the documents they cited; refusals become candidate unanswerables. A subject-matter expert then
accepts or rejects each line (`review`: proposed → accepted/rejected) before the set is used.

Records come from any iterable of `AnswerRecord`: `read_records` reads them from JSONL,
`records_from_database` from the answer records the assistant stores (thumbs arrive with the
feedback of the web issue; until then the database gives refusals as candidates).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.db import Database
from core.errors import ErrorCode, VraagbaakError
from core.language import detect_language


@dataclass(frozen=True)
class AnswerRecord:
    question: str
    answer: str
    cited_documents: tuple[str, ...]
    thumbs: int | None
    """+1 up, -1 down, None: no feedback."""
    refused: bool
    language: str = ""
    record_id: str = ""
    decision: str | None = None
    """An expert's decision already taken (accepted | rejected), None: still to review."""
    cited_doc_ids: tuple[str, ...] = ()


@dataclass
class BuildSummary:
    candidates: int = 0
    answerable: int = 0
    unanswerable: int = 0
    skipped: dict[str, int] | None = None

    def __str__(self) -> str:
        skipped = ", ".join(f"{why}: {n}" for why, n in (self.skipped or {}).items()) or "none"
        return (f"{self.candidates} candidates ({self.answerable} answerable, {self.unanswerable} unanswerable); "
                f"skipped — {skipped}")


def propose(records: Iterable[AnswerRecord]) -> tuple[list[dict], BuildSummary]:
    """Candidate answer-set lines (valid for eval/validate.py) and what was left out and why."""
    summary = BuildSummary(skipped={})
    seen: set[str] = set()
    lines: list[dict] = []

    def skip(why: str) -> None:
        summary.skipped[why] = summary.skipped.get(why, 0) + 1  # type: ignore[index]

    for record in records:
        key = " ".join(record.question.lower().split())
        if not key:
            skip("empty question")
            continue
        if key in seen:
            skip("question asked before")
            continue
        base = {"id": f"c{len(lines) + 1:04d}", "question": " ".join(record.question.split()),
                "language": record.language or detect_language(record.question, "nl")}
        if record.refused:
            line = {**base, "answerable": False, "expected_documents": [],
                    "origin": "refused", "review": record.decision or "proposed"}
        elif record.thumbs is not None and record.thumbs > 0 and record.cited_documents:
            line = {**base, "answerable": True, "expected_documents": list(dict.fromkeys(record.cited_documents)),
                    "reference_answer": record.answer, "origin": "thumbs up", "review": record.decision or "proposed"}
        else:
            skip("thumbs down" if record.thumbs is not None and record.thumbs < 0 else
                 "answered without thumbs up" if record.cited_documents else "no cited documents")
            continue
        if record.record_id:
            line["record_id"] = record.record_id
        seen.add(key)
        lines.append(line)
        summary.answerable += line["answerable"]
        summary.unanswerable += not line["answerable"]
    summary.candidates = len(lines)
    return lines, summary


def read_records(path: Path) -> list[AnswerRecord]:
    """Answer records from JSONL; every bad line is reported with its number."""
    if not path.is_file():
        raise VraagbaakError(ErrorCode.NOT_FOUND, f"no such records file: {path}")
    records, problems = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise TypeError("a JSON object is expected")
            thumbs = row.get("thumbs")
            thumbs = {"up": 1, "down": -1}.get(thumbs, thumbs) if isinstance(thumbs, str) else thumbs
            if thumbs is not None and (isinstance(thumbs, bool) or not isinstance(thumbs, int)):
                raise TypeError("`thumbs` must be up, down, 1, -1 or null")
            cited = row.get("cited_documents") or []
            if not isinstance(cited, list) or not all(isinstance(c, str) for c in cited):
                raise TypeError("`cited_documents` must be a list of strings")
            if not isinstance(row.get("question"), str):
                raise TypeError("`question` (string) is missing")
            records.append(AnswerRecord(row["question"], str(row.get("answer") or ""), tuple(cited), thumbs,
                                        bool(row.get("refused", False)), str(row.get("language") or ""),
                                        str(row.get("id") or "")))
        except (json.JSONDecodeError, TypeError) as exc:
            problems.append(f"line {number}: {exc}")
    if problems:
        raise VraagbaakError(ErrorCode.DATASET_INVALID, f"{path}: " + "; ".join(problems[:20]))
    return records


def records_from_database(source: str | Database, record_ids: Sequence[str] | None = None) -> list[AnswerRecord]:
    """Every stored answer record (or just `record_ids`), oldest first, as build input: with the asker's
    latest thumbs (feedback) and any review decision already taken (/review)."""
    from sqlalchemy import select

    from core.db import AnswerRecord as StoredRecord
    from core.db import Database, FeedbackRow, GoldReviewRow

    database = Database.open(source) if isinstance(source, str) else source
    try:
        with database.session() as session:
            feedback, reviews, stored = select(FeedbackRow), select(GoldReviewRow), select(StoredRecord)
            if record_ids is not None:
                feedback = feedback.where(FeedbackRow.record_id.in_(record_ids))
                reviews = reviews.where(GoldReviewRow.record_id.in_(record_ids))
                stored = stored.where(StoredRecord.record_id.in_(record_ids))
            thumbs = {row.record_id: row.rating for row in session.scalars(feedback.order_by(FeedbackRow.created_at))}
            decisions = {row.record_id: row.decision for row in session.scalars(reviews)}
            rows = list(session.scalars(stored.order_by(StoredRecord.created_at)))
            return [AnswerRecord(row.question, row.answer, tuple(dict.fromkeys(c["uri"] for c in row.cited or [])),
                                 thumbs.get(row.record_id), not row.answered, row.language, row.record_id,
                                 decisions.get(row.record_id),
                                 tuple(dict.fromkeys(c["doc_id"] for c in row.cited or [])))
                    for row in rows]
    finally:
        if isinstance(source, str):
            database.close()


def build_from_file(records: Path | list[AnswerRecord], out: Path, *, accepted_only: bool = False) -> BuildSummary:
    """Propose a set from a JSONL file of records (or records already read) into `out`; with
    `accepted_only`, only the items an expert accepted (their `review` field says `accepted`)."""
    lines, summary = propose(read_records(records) if isinstance(records, Path) else records)
    if accepted_only:
        lines = [line for line in lines if line["review"] == "accepted"]
        summary.candidates = len(lines)
        summary.answerable = sum(line["answerable"] for line in lines)
        summary.unanswerable = summary.candidates - summary.answerable
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return summary
