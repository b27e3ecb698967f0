"""What a compliance reader sees of an answer record: everything, except the text of documents they may
not read — the quoted passages, the titles and links of those documents, and the answer sentences that
cite them are withheld with a marker. Also the CSV and JSON exports, streamed row by row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from assistant.records import timestamp
from core.db import AnswerRecord, Database, DocumentRow, FeedbackRow
from core.types import EVERYONE

if TYPE_CHECKING:
    from assistant.audit import CitedDocument
    from core.store import QdrantStore

WITHHELD = "[withheld: cites a document outside your access groups]"
"""Stands in exports for an answer sentence that cites a document the reader may not read."""


class DocumentAccess:
    """Whether the reader may read a cited document, decided on its access groups as they are now:
    the registry's (`DocumentRow.groups`), else the store's, else those recorded with the citation;
    a document known nowhere is withheld. `groups=None` reads everything (the operator's CLI)."""

    def __init__(self, database: Database, store: QdrantStore | None, groups: Sequence[str] | None) -> None:
        self.database = database
        self.store = store
        self.groups = None if groups is None else frozenset({EVERYONE, *groups})
        self._known: dict[str, tuple[tuple[str, ...], str] | None] = {}

    def _lookup(self, doc_id: str) -> tuple[tuple[str, ...], str] | None:
        """(groups, title) of a document as the registry or the store knows it now."""
        if doc_id in self._known:
            return self._known[doc_id]
        found: tuple[tuple[str, ...], str] | None = None
        with self.database.session() as session:
            row = session.get(DocumentRow, doc_id)
            if row is not None and row.status == "indexed":
                found = (tuple(row.groups or ()), row.title or "")
        if found is None and self.store is not None:
            try:
                passages = self.store.passages(doc_id, None)
            except Exception:  # the store is down: decide on what was recorded
                passages = []
            if passages:
                found = (passages[0].groups, passages[0].title)
        self._known[doc_id] = found
        return found

    def readable(self, doc_id: str, recorded_groups: Iterable[str] = ()) -> bool:
        if self.groups is None:
            return True
        known = self._lookup(doc_id)
        groups = known[0] if known is not None else tuple(recorded_groups)
        return bool(self.groups & set(groups))

    def title(self, doc_id: str, recorded: str = "", recorded_groups: Iterable[str] = ()) -> str | None:
        """The title to show, or None when it is withheld."""
        if not self.readable(doc_id, recorded_groups):
            return None
        known = self._lookup(doc_id)
        return (known[1] if known is not None and known[1] else recorded) or doc_id

    def quote(self, doc_id: str, chunk_id: str, start: int, end: int) -> str | None:
        """The quoted span from the store, for records written before quotes were kept in the record."""
        if self.store is None or not self.readable(doc_id):
            return None
        try:
            passages = self.store.passages(doc_id, None if self.groups is None else sorted(self.groups))
        except Exception:
            return None
        for passage in passages:
            if passage.chunk_id == chunk_id:
                return passage.text[start:end]
        return None

    def known_documents(self) -> list[tuple[str, str]]:
        """(doc_id, title) of every indexed document: the registry's, or the store's when the registry is empty."""
        with self.database.session() as session:
            rows = [(r.doc_id, r.title or "") for r in session.execute(
                select(DocumentRow.doc_id, DocumentRow.title).where(DocumentRow.status == "indexed"))]
        if rows or self.store is None:
            return rows
        try:
            return [(doc_id, str(info.get("title") or "")) for doc_id, info in self.store.documents().items()]
        except Exception:
            return []


def record_view(row: AnswerRecord, access: DocumentAccess, feedback: Sequence[FeedbackRow] = (), *,
                look_up_quotes: bool = False) -> dict[str, Any]:
    """The record as the reader may see it (for pages, the JSON API and exports)."""
    citations = []
    readable_numbers: dict[int, bool] = {}
    for cited in row.cited or ():
        doc_id = cited.get("doc_id", "")
        readable = access.readable(doc_id, cited.get("groups") or ())
        readable_numbers[int(cited.get("number", 0))] = readable
        quote = cited.get("quote")
        if readable and quote is None and look_up_quotes:
            quote = access.quote(doc_id, cited.get("chunk_id", ""), cited.get("quote_start", 0),
                                 cited.get("quote_end", 0))
        citations.append({
            "number": cited.get("number"), "doc_id": doc_id, "version": cited.get("version"),
            "chunk_id": cited.get("chunk_id"), "score": cited.get("score"),
            "quote_start": cited.get("quote_start"), "quote_end": cited.get("quote_end"),
            "withheld": not readable,
            "title": access.title(doc_id, cited.get("title") or "", cited.get("groups") or ()) if readable else None,
            "uri": cited.get("uri") if readable else None,
            "page": cited.get("page") if readable else None,
            "section": cited.get("section") if readable else None,
            "quote": quote if readable else None,
        })
    sentences = []
    for entry in row.support or ():
        numbers = [int(n) for n in entry.get("citations") or ()]
        withheld = not all(readable_numbers.get(n, False) for n in numbers)
        sentences.append({"sentence": entry.get("sentence"), "text": None if withheld else entry.get("text"),
                          "withheld": withheld, "support": entry.get("support"), "supported": entry.get("supported"),
                          "citations": numbers})
    all_readable = all(readable_numbers.values())
    if all_readable:
        answer: str | None = row.answer
    elif sentences and all("text" in entry for entry in row.support or ()):
        answer = " ".join((s["text"] if not s["withheld"] else WITHHELD) + "".join(f" [{n}]" for n in s["citations"])
                          for s in sentences)
    else:  # a record without sentence texts: the answer cannot be split, so all of it is withheld
        answer = None
    cited_ids = {c.get("chunk_id") for c in row.cited or ()}
    retrieved = []
    for rank, hit in enumerate(row.retrieved or (), start=1):
        doc_id = hit.get("doc_id", "")
        title = access.title(doc_id)
        retrieved.append({"rank": rank, "doc_id": doc_id, "version": hit.get("version"), "chunk_id": hit.get("chunk_id"),
                          "score": hit.get("score"), "dense_score": hit.get("dense_score"),
                          "cited": hit.get("chunk_id") in cited_ids, "title": title, "withheld": title is None})
    return {
        "record_id": row.record_id, "seq": row.seq, "created_at": timestamp(row.created_at),
        "user_pseudonym": row.user_pseudonym, "thread_id": row.thread_id, "question": row.question,
        "standalone_question": row.standalone_question, "language": row.language, "answered": row.answered,
        "verdict": row.verdict, "refusal_reason": row.refusal_reason, "answer": answer,
        "answer_withheld": not all_readable, "confidence": row.confidence, "support_rate": row.support_rate,
        "generator": row.generator, "model": row.model, "prompt_version": row.prompt_version,
        "llm_check": dict(row.llm_check) if row.llm_check else None,
        "timings_ms": dict(row.timings_ms or {}), "citations": citations, "sentences": sentences,
        "retrieved": retrieved, "prev_hash": row.prev_hash, "record_hash": row.record_hash,
        "feedback": [{"rating": f.rating, "comment": f.comment, "created_at": timestamp(f.created_at)}
                     for f in feedback],
    }


# -- exports ----------------------------------------------------------------------------------------

CSV_COLUMNS = ("record_id", "seq", "created_at", "user_pseudonym", "thread_id", "language", "question",
               "standalone_question", "answered", "verdict", "refusal_reason", "answer", "confidence",
               "support_rate", "citations", "cited_documents", "generator", "model", "prompt_version", "llm_check",
               "prev_hash", "record_hash")


def safe_cell(value: object) -> object:
    """A spreadsheet must not run a cell as a formula: text starting with = + - @ (or a tab or carriage
    return) gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_line(values: Iterable[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([safe_cell("" if v is None else v) for v in values])
    return buffer.getvalue()


def _citation_text(citation: dict[str, Any]) -> str:
    where = f"{citation['doc_id']} v{(citation['version'] or '')[:12]}"
    if citation["withheld"]:
        return f"[{citation['number']}] [withheld] ({where})"
    quote = f": \"{citation['quote']}\"" if citation.get("quote") else ""
    return f"[{citation['number']}] {citation['title']} ({where}){quote}"


def check_text(check: dict | None) -> str:
    """The LLM answer check in one line: `YES P(YES)=0.970 score=1.150 bar=0.70 stood`; empty when not asked."""
    if not check:
        return ""
    parts = [check.get("said") or "no judgement"]
    if check.get("p_yes") is not None:
        parts.append(f"P(YES)={check['p_yes']:.3f}")
    if check.get("score") is not None:
        parts.append(f"score={check['score']:.3f} bar={check['bar']:.2f}")
    parts.append("stood" if check.get("stands") else "not given")
    return " ".join(parts)


def export_csv(rows: Iterable[AnswerRecord], access: DocumentAccess) -> Iterator[str]:
    """The records as CSV (UTF-8 with a byte-order mark, which spreadsheets need to read it as UTF-8)."""
    yield "\ufeff" + _csv_line(CSV_COLUMNS)
    for row in rows:
        view = record_view(row, access)
        view["answer"] = view["answer"] if view["answer"] is not None else WITHHELD
        view["citations"] = " | ".join(_citation_text(c) for c in view["citations"])
        view["cited_documents"] = "; ".join(dict.fromkeys(f"{c['doc_id']}@{c['version']}" for c in row.cited or ()))
        view["llm_check"] = check_text(view["llm_check"])
        yield _csv_line(view[column] for column in CSV_COLUMNS)


def export_json(rows: Iterable[AnswerRecord], access: DocumentAccess) -> Iterator[str]:
    """The records as one JSON array, written one record at a time."""
    yield "[\n"
    first = True
    for row in rows:
        view = record_view(row, access)
        view.pop("feedback")
        yield ("" if first else ",\n") + json.dumps(view, ensure_ascii=False)
        first = False
    yield "\n]\n"


def cited_csv(documents: Iterable[CitedDocument]) -> Iterator[str]:
    yield "\ufeff" + _csv_line(("doc_id", "title", "records", "citations", "versions", "last_cited"))
    for document in documents:
        data = document.as_dict()
        yield _csv_line((data["doc_id"], data["title"] if data["title"] is not None else "[withheld]",
                         data["records"], data["citations"],
                         "; ".join(f"{v}:{n}" for v, n in data["versions"].items()), data["last_cited"]))
