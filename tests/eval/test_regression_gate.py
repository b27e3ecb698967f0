"""The regression gate: the demo set (112 questions) through the real pipeline — the demo corpus
ingested once (the session's `demo_store`), the real embedding model, hybrid retrieval and the
configured extractive answerer — must stay at or above the thresholds in eval/thresholds.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from eval.gate import below, load_thresholds
from eval.runs import RunConfig, evaluate_items, load_set, summarise

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_demo_set_stays_above_its_committed_thresholds(base_settings: Settings, embedder: Embedder,
                                                           demo_store: QdrantStore) -> None:
    evalset = load_set(ROOT / "eval" / "datasets" / "demo-qa.jsonl", ROOT / "demo" / "corpus")
    config = RunConfig(name="gate", retriever=base_settings.retrieval.mode, k=base_settings.retrieval.top_k,
                       generator="extractive")
    metrics = summarise(evaluate_items(evalset.items, config, base_settings, embedder, store=demo_store))
    thresholds = load_thresholds("demo-qa")
    print("demo-qa gate:", ", ".join(f"{k}={metrics.get(k)} (min {v})" for k, v in thresholds.items()))
    assert metrics["items"] == 112
    failures = below(metrics, thresholds)
    assert not failures, "regression on the demo set: " + "; ".join(failures)


def test_a_metric_under_its_threshold_or_missing_fails_the_gate(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.toml"
    path.write_text("[demo-qa]\nanswer_rate = 0.8\nhit_at_5 = 0.9\n", encoding="utf-8")
    thresholds = load_thresholds("demo-qa", path)
    assert below({"answer_rate": 0.85, "hit_at_5": 0.95}, thresholds) == []
    assert below({"answer_rate": 0.79, "hit_at_5": None}, thresholds) == [
        "answer_rate = 0.79 is below its threshold 0.8", "hit_at_5 = None is below its threshold 0.9"]


def test_the_committed_thresholds_cover_the_gated_metrics() -> None:
    assert set(load_thresholds("demo-qa")) == {"answer_rate", "refusal_rate", "citation_precision", "hit_at_5"}
