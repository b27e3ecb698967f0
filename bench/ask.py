"""Latency of one question, per stage, over the demo question set (embedded store, extractive).

Usage: python bench/ask.py [--rounds N]
Ingests the demo corpus into a private store under DATA_DIR/bench-ask (once), asks every question
of eval/datasets/demo-qa.jsonl, and prints p50/p95/max per stage in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from assistant.service import Assistant
from core.embedding import load_embedder
from core.settings import Settings
from core.store import QdrantStore
from ingest.pipeline import Ingestor

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    settings = Settings()
    settings = settings.model_copy(update={"store": settings.store.model_copy(
        update={"path": settings.data_dir / "bench-ask", "url": None})})
    embedder = load_embedder(settings.embedding, settings.models_dir)
    store = QdrantStore.open(settings)
    Ingestor(store, embedder, settings.ingest).ingest_folder(ROOT / "demo" / "corpus", "demo")
    assistant = Assistant.build(settings.model_copy(update={"llm": settings.llm.model_copy(update={"base_url": None})}),
                                store, embedder)
    questions = [json.loads(line)["question"] for line in (ROOT / "eval/datasets/demo-qa.jsonl").open(encoding="utf-8")]
    assistant.ask(questions[0], groups=None)  # warm-up
    stages: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for question in questions:
            for stage, ms in assistant.ask(question, groups=None).timings_ms.items():
                stages.setdefault(stage, []).append(ms)
    store.close()
    print(f"{len(questions) * args.rounds} questions, demo corpus, embedded store, extractive answers")
    print("| stage | p50 ms | p95 ms | max ms | mean ms |\n|---|---|---|---|---|")
    for stage, values in stages.items():
        print(f"| {stage} | {percentile(values, 0.5):.0f} | {percentile(values, 0.95):.0f} | {max(values):.0f} | "
              f"{statistics.fmean(values):.0f} |")


if __name__ == "__main__":
    main()
