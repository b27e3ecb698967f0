"""Dataset validation before a run: every problem of a BEIR folder or an answer set (JSONL), each
with its file and line, instead of the first one only.

An answer-set line is a JSON object:

- `id` (string, unique), `question` (non-empty string), `language` (ISO code such as `nl`),
  `answerable` (true/false) — required;
- `expected_documents` (list of corpus paths or BEIR ids) and/or `expected_passages` (list of
  quotes the right passage contains) — at least one of them when answerable, none when not;
- optional: `reference_answer` (string), `answer_keywords` (list of strings), `history` (list of the
  conversation's earlier questions, oldest first), `category` (string).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import ErrorCode, VraagbaakError

_STRING_LISTS = ("expected_documents", "expected_passages", "answer_keywords", "history")
_OPTIONAL_STRINGS = ("reference_answer", "category")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


def dataset_kind(path: Path) -> str:
    """`beir` (a folder with corpus.jsonl), `ragas` (RAGAS *.tsv files) or `answers` (JSONL)."""
    if path.is_dir():
        if (path / "corpus.jsonl").exists() or (path / "queries.jsonl").exists():
            return "beir"
        if any(path.glob("*.tsv")):
            return "ragas"
        raise VraagbaakError(ErrorCode.DATASET_INVALID,
                             f"{path} is neither a BEIR folder (corpus.jsonl, queries.jsonl, qrels/) nor RAGAS *.tsv files")
    if path.suffix == ".tsv":
        return "ragas"
    if not path.is_file():
        raise VraagbaakError(ErrorCode.DATASET_INVALID, f"no such dataset: {path}")
    return "answers"


def validate(path: Path, corpus: Path | None = None, qrels: Path | None = None) -> list[Problem]:
    """All problems of the dataset at `path` (empty: valid); `corpus` lets expected documents be checked."""
    kind = dataset_kind(path)
    if kind == "beir":
        return validate_beir(path, qrels)
    if kind == "ragas":
        from eval.answers import load_ragas_set

        if corpus is None:
            return [Problem(path.name, None, "a RAGAS set needs --corpus (the folder its `folder` column names)")]
        try:
            load_ragas_set(path, corpus)
        except VraagbaakError as exc:
            return [Problem(path.name, None, exc.message)]
        return []
    return validate_answer_set(path, corpus)[1]


def corpus_ids(corpus: Path) -> set[str]:
    """Document keys of a corpus: BEIR `_id`s, or file paths relative to a folder."""
    if (corpus / "corpus.jsonl").is_file():
        rows, _ = _jsonl(corpus / "corpus.jsonl", [])
        return {str(row.get("_id")) for _, row in rows}
    return {p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file()}


def validate_answer_set(path: Path, corpus: Path | None = None) -> tuple[list[dict], list[Problem]]:
    """The rows of an answer set and its problems."""
    problems: list[Problem] = []
    rows, problems = _jsonl(path, problems)
    known = corpus_ids(corpus) if corpus is not None and corpus.exists() else None
    if corpus is not None and known is None:
        problems.append(Problem(path.name, None, f"corpus not found: {corpus}"))
    seen: dict[str, int] = {}
    for number, row in rows:
        def bad(message: str, number: int = number) -> None:
            problems.append(Problem(path.name, number, message))

        for key, kind in (("id", str), ("question", str), ("language", str), ("answerable", bool)):
            if key not in row:
                bad(f"missing field `{key}`")
            elif not isinstance(row[key], kind):
                bad(f"`{key}` must be a {'boolean' if kind is bool else 'string'}, not {type(row[key]).__name__}")
        if isinstance(row.get("question"), str) and not row["question"].strip():
            bad("`question` is empty")
        if isinstance(row.get("language"), str) and not (2 <= len(row["language"]) <= 8 and row["language"].isalpha()):
            bad(f"`language` must be an ISO code such as nl or en, not {row['language']!r}")
        for key in _STRING_LISTS:
            if key in row and not (isinstance(row[key], list) and all(isinstance(v, str) and v for v in row[key])):
                bad(f"`{key}` must be a list of non-empty strings")
        for key in _OPTIONAL_STRINGS:
            if key in row and not isinstance(row[key], str):
                bad(f"`{key}` must be a string")
        if isinstance(row.get("id"), str):
            if row["id"] in seen:
                bad(f"duplicate id {row['id']!r} (first on line {seen[row['id']]})")
            seen.setdefault(row["id"], number)
        expected = row.get("expected_documents") if isinstance(row.get("expected_documents"), list) else []
        passages = row.get("expected_passages") if isinstance(row.get("expected_passages"), list) else []
        if row.get("answerable") is True and not expected and not passages:
            bad("answerable item names no expected document or passage")
        if row.get("answerable") is False and (expected or passages):
            bad("unanswerable item names expected documents or passages")
        if known is not None:
            for doc in expected:
                if isinstance(doc, str) and doc not in known:
                    bad(f"expected document {doc!r} is not in the corpus")
    if not rows and not problems:
        problems.append(Problem(path.name, None, "the answer set is empty"))
    return [row for _, row in rows], problems


def validate_beir(folder: Path, qrels: Path | None = None) -> list[Problem]:
    """Problems of a BEIR folder: its JSONL files, duplicate ids, and qrels naming unknown ids."""
    problems: list[Problem] = []
    corpus_rows, problems = _jsonl(folder / "corpus.jsonl", problems)
    query_rows, problems = _jsonl(folder / "queries.jsonl", problems)
    ids: dict[str, set[str]] = {}
    for name, rows in (("corpus.jsonl", corpus_rows), ("queries.jsonl", query_rows)):
        seen: dict[str, int] = {}
        for number, row in rows:
            if "_id" not in row:
                problems.append(Problem(name, number, "missing field `_id`"))
                continue
            if not isinstance(row["_id"], str | int) or isinstance(row["_id"], bool):
                problems.append(Problem(name, number, f"`_id` must be a string, not {type(row['_id']).__name__}"))
                continue
            key = str(row["_id"])
            if key in seen:
                problems.append(Problem(name, number, f"duplicate id {key!r} (first on line {seen[key]})"))
            seen.setdefault(key, number)
            if not isinstance(row.get("text"), str):
                problems.append(Problem(name, number, "missing or non-string `text`"))
            if "title" in row and not isinstance(row["title"], str):
                problems.append(Problem(name, number, "`title` must be a string"))
        ids[name] = set(seen)
    files = [qrels] if qrels else sorted((folder / "qrels").glob("*.tsv"))
    if not files:
        problems.append(Problem("qrels", None, f"no qrels/*.tsv in {folder}"))
    for path in files:
        if not path.is_file():
            problems.append(Problem(path.name, None, f"no such qrels file: {path}"))
            continue
        judged = 0
        with path.open(encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
                if not row or (number == 1 and not row[-1].strip().lstrip("-").isdigit()):
                    continue  # header
                if len(row) not in (3, 4):
                    problems.append(Problem(path.name, number, f"{len(row)} columns; query-id, corpus-id, score expected"))
                    continue
                qid, did, score = row[0], row[-2], row[-1]
                if not score.strip().lstrip("-").isdigit():
                    problems.append(Problem(path.name, number, f"score {score!r} is not an integer"))
                if ids.get("queries.jsonl") and qid not in ids["queries.jsonl"]:
                    problems.append(Problem(path.name, number, f"unknown query id {qid!r}"))
                if ids.get("corpus.jsonl") and did not in ids["corpus.jsonl"]:
                    problems.append(Problem(path.name, number, f"unknown document id {did!r}"))
                judged += 1
        if not judged:
            problems.append(Problem(path.name, None, "no judgments"))
    return problems


def _jsonl(path: Path, problems: list[Problem]) -> tuple[list[tuple[int, dict]], list[Problem]]:
    """(line number, object) of every line of a JSONL file; unreadable lines become problems."""
    rows: list[tuple[int, dict]] = []
    if not path.is_file():
        return rows, [*problems, Problem(path.name, None, f"missing file {path}")]
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        return rows, [*problems, Problem(path.name, None, f"not UTF-8 ({exc.reason} at byte {exc.start})")]
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems = [*problems, Problem(path.name, number, f"not JSON ({exc.msg}, column {exc.colno})")]
            continue
        if not isinstance(row, dict):
            problems = [*problems, Problem(path.name, number, f"a JSON object is expected, not {type(row).__name__}")]
            continue
        rows.append((number, row))
    return rows, problems


def require_valid(path: Path, corpus: Path | None = None, qrels: Path | None = None) -> None:
    """Raise DATASET_INVALID listing the problems (the first 20) when the dataset has any."""
    problems = validate(path, corpus, qrels)
    if problems:
        shown = "\n  ".join(str(p) for p in problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise VraagbaakError(ErrorCode.DATASET_INVALID,
                             f"{path} has {len(problems)} problem(s):\n  {shown}{more}")
