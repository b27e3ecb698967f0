"""The evaluation harness on tiny sets the tests make, with the real model and store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.embedding import Embedder
from core.errors import ErrorCode, VraagbaakError
from core.settings import Settings
from eval.beir import load_beir
from eval.metrics import mrr_at, ndcg_at, recall_at
from eval.retrieval import evaluate_retrieval, markdown_table, write_results


def test_metrics_on_known_rankings() -> None:
    relevant = {"a": 1, "b": 1}
    assert ndcg_at(["a", "b", "c"], relevant) == pytest.approx(1.0)
    assert ndcg_at(["c", "a"], {"a": 1}) == pytest.approx(1 / 1.5849625, rel=1e-5)
    assert recall_at(["a", "x", "y"], relevant) == 0.5
    assert mrr_at(["x", "y", "b"], relevant) == pytest.approx(1 / 3)
    assert mrr_at(["x"] * 10 + ["a"], relevant) == 0.0  # beyond the cut-off


def _write_beir(folder: Path) -> Path:
    corpus = [
        ("d1", "Vakantie", "Een voltijder heeft recht op 25 vakantiedagen per jaar."),
        ("d2", "Fiets", "Het fietsplan vergoedt een nieuwe fiets tot 1500 euro."),
        ("d3", "Parking", "Visitors park in the P2 garage next to the main entrance."),
        ("d4", "Koffie", "Koffie en thee zijn gratis op iedere verdieping."),
        ("d5", "Laptop", "A stolen laptop must be reported to the service desk within one hour."),
    ]
    queries = [("q1", "Hoeveel vakantiedagen heeft een voltijder?"), ("q2", "Where do visitors park?"),
               ("q3", "Wat vergoedt het fietsplan?"), ("q4", "What to do when my laptop is stolen?")]
    folder.mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": i, "title": t, "text": x}) for i, t, x in corpus))
    (folder / "queries.jsonl").write_text("\n".join(json.dumps({"_id": i, "text": t}) for i, t in queries))
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\nq3\td2\t1\nq4\td5\t1\n")
    return folder


def test_retrieval_eval_scores_every_mode_and_writes_reports(embedder: Embedder, settings: Settings,
                                                             tmp_path: Path) -> None:
    folder = _write_beir(tmp_path / "tiny")
    result = evaluate_retrieval(folder, embedder, settings)
    assert [m.mode for m in result.modes] == ["bm25", "dense", "hybrid"]
    by_mode = {m.mode: m for m in result.modes}
    assert by_mode["dense"].ndcg_at_10 == pytest.approx(1.0)
    assert by_mode["hybrid"].ndcg_at_10 == pytest.approx(1.0)
    assert result.documents == 5 and result.queries == 4
    json_path, md_path = write_results(result, tmp_path / "out")
    assert json.loads(json_path.read_text())["modes"][2]["mode"] == "hybrid"
    assert md_path.read_text() == markdown_table(result)
    assert "| hybrid | 1.000 |" in markdown_table(result)
    again = evaluate_retrieval(folder, embedder, settings)  # reuses the index
    assert again.index_seconds < result.index_seconds + 1 and again.chunks == result.chunks


def test_invalid_dataset_is_reported_clearly(tmp_path: Path) -> None:
    folder = _write_beir(tmp_path / "bad")
    (folder / "qrels" / "test.tsv").write_text("q1\tmissing-doc\t1\n")
    with pytest.raises(VraagbaakError) as caught:
        load_beir(folder)
    assert caught.value.code is ErrorCode.DATASET_INVALID and "not in the corpus" in caught.value.message
    (folder / "corpus.jsonl").write_text("{not json\n")
    with pytest.raises(VraagbaakError, match="line 1: not JSON"):
        load_beir(folder)
