"""BEIR-format datasets: corpus.jsonl, queries.jsonl and qrels/*.tsv, validated on load."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import ErrorCode, VraagbaakError


@dataclass(frozen=True)
class BeirDataset:
    name: str
    corpus: dict[str, tuple[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    fingerprint: str


def _invalid(message: str) -> VraagbaakError:
    return VraagbaakError(ErrorCode.DATASET_INVALID, message)


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise _invalid(f"missing {path.name} in {path.parent}")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _invalid(f"{path.name} line {number}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or "_id" not in row:
                raise _invalid(f"{path.name} line {number}: an object with an `_id` is expected")
            rows.append(row)
    return rows


def load_beir(folder: Path, qrels_path: Path | None = None) -> BeirDataset:
    """Load and check a BEIR folder; only queries with judgments are kept."""
    if not folder.is_dir():
        raise _invalid(f"not a folder: {folder}")
    corpus = {str(r["_id"]): (str(r.get("title") or ""), str(r.get("text") or ""))
              for r in _read_jsonl(folder / "corpus.jsonl")}
    queries = {str(r["_id"]): str(r.get("text") or "") for r in _read_jsonl(folder / "queries.jsonl")}
    if qrels_path is None:
        candidates = sorted((folder / "qrels").glob("*.tsv"))
        if not candidates:
            raise _invalid(f"no qrels/*.tsv in {folder}")
        qrels_path = next((c for c in candidates if c.stem == "test"), candidates[0])
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or (number == 1 and not row[-1].strip().lstrip("-").isdigit()):
                continue  # header
            if len(row) < 3:
                raise _invalid(f"{qrels_path.name} line {number}: query-id, corpus-id, score expected")
            qid, did, score = row[0], row[-2], int(row[-1])
            qrels.setdefault(qid, {})[did] = score
    unknown_docs = {d for rel in qrels.values() for d in rel} - corpus.keys()
    if unknown_docs:
        raise _invalid(f"{len(unknown_docs)} judged documents are not in the corpus, e.g. {sorted(unknown_docs)[:3]}")
    queries = {q: t for q, t in queries.items() if q in qrels}
    if not queries:
        raise _invalid("no query has a judgment in the qrels")
    digest = hashlib.sha256()
    for path in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        digest.update(path.read_bytes())
    return BeirDataset(folder.name, corpus, queries, qrels, digest.hexdigest()[:12])
