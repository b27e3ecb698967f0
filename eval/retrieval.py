"""Retrieval evaluation: index a BEIR corpus with the product's pipeline and score dense, BM25 and
hybrid retrieval (nDCG@10, Recall@10, MRR@10, time per query)."""

from __future__ import annotations

import json
import logging
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from assistant.retrieve import Retriever
from core.embedding import Embedder
from core.language import detect_language
from core.settings import Settings
from core.store import QdrantStore
from eval.beir import BeirDataset, load_beir
from eval.metrics import mrr_at, ndcg_at, recall_at
from ingest.pipeline import Ingestor

log = logging.getLogger(__name__)
MODES = ("bm25", "dense", "hybrid")
K = 10


@dataclass
class ModeResult:
    mode: str
    ndcg_at_10: float
    recall_at_10: float
    mrr_at_10: float
    search_ms_per_query: float
    per_query: dict[str, float] = field(default_factory=dict)


@dataclass
class RetrievalResult:
    dataset: str
    fingerprint: str
    documents: int
    chunks: int
    queries: int
    model: str
    embed_ms_per_query: float
    index_seconds: float
    modes: list[ModeResult]


def open_index(dataset: BeirDataset, embedder: Embedder, settings: Settings) -> tuple[QdrantStore, int, float]:
    """The dataset's index in the data folder, built on first use (keyed by content and model)."""
    shape = f"w{settings.ingest.chunk_words}o{settings.ingest.chunk_overlap_words}"
    path = settings.data_dir / "eval-index" / f"{dataset.name}-{dataset.fingerprint}-{embedder.name}-{shape}"
    done = path / "complete"
    store_settings = settings.model_copy(update={"store": settings.store.model_copy(
        update={"path": path, "url": None, "collection": "eval"})})
    store = QdrantStore.open(store_settings)
    started = time.perf_counter()
    ingestor = Ingestor(store, embedder, settings.ingest)
    if not done.exists():
        log.info("indexing", extra={"ctx": {"dataset": dataset.name, "documents": len(dataset.corpus)}})
        items = [(doc_id, title, text) for doc_id, (title, text) in dataset.corpus.items()]
        for start in range(0, len(items), 256):
            ingestor.ingest_texts(items[start:start + 256], source_id=dataset.name)
        done.write_text("ok")
    else:  # an index made before windows existed gets them (BEIR texts are one block: chunks unchanged)
        ingestor.backfill_windows(dataset.name)
    return store, store.count(), time.perf_counter() - started


def evaluate_retrieval(folder: Path, embedder: Embedder, settings: Settings, *, qrels: Path | None = None,
                       max_queries: int | None = None, modes: tuple[str, ...] = MODES) -> RetrievalResult:
    dataset = load_beir(folder, qrels)
    store, chunks, index_seconds = open_index(dataset, embedder, settings)
    try:
        query_ids = sorted(dataset.queries)[:max_queries] if max_queries else sorted(dataset.queries)
        texts = [dataset.queries[q] for q in query_ids]
        started = time.perf_counter()
        vectors = embedder.embed_queries(texts)
        embed_ms = (time.perf_counter() - started) * 1000 / max(len(texts), 1)
        retriever = Retriever(store, embedder, settings.retrieval)
        results = []
        for mode in modes:
            per_query: dict[str, tuple[float, float, float]] = {}
            spent = 0.0
            for qid, text, vector in zip(query_ids, texts, vectors, strict=True):
                t0 = time.perf_counter()
                retrieval = retriever.retrieve_with_vector(text, vector, language=detect_language(text, "en"),
                                                           groups=None, mode=mode, limit=K * 3)
                spent += time.perf_counter() - t0
                ranked = retrieval.document_ids()[:K]
                rel = dataset.qrels[qid]
                per_query[qid] = (ndcg_at(ranked, rel, K), recall_at(ranked, rel, K), mrr_at(ranked, rel, K))
            results.append(ModeResult(
                mode=mode,
                ndcg_at_10=round(statistics.fmean(v[0] for v in per_query.values()), 4),
                recall_at_10=round(statistics.fmean(v[1] for v in per_query.values()), 4),
                mrr_at_10=round(statistics.fmean(v[2] for v in per_query.values()), 4),
                search_ms_per_query=round(spent * 1000 / len(query_ids), 2),
                per_query={q: round(v[0], 4) for q, v in per_query.items()},
            ))
    finally:
        store.close()
    return RetrievalResult(dataset=dataset.name, fingerprint=dataset.fingerprint, documents=len(dataset.corpus),
                           chunks=chunks, queries=len(query_ids), model=embedder.name,
                           embed_ms_per_query=round(embed_ms, 2), index_seconds=round(index_seconds, 1),
                           modes=results)


def markdown_table(result: RetrievalResult) -> str:
    lines = [f"**{result.dataset}** — {result.documents} documents ({result.chunks} chunks), "
             f"{result.queries} queries, model `{result.model}`; query embedding {result.embed_ms_per_query} ms/query",
             "", "| retriever | nDCG@10 | Recall@10 | MRR@10 | search ms/query |", "|---|---|---|---|---|"]
    for m in result.modes:
        lines.append(f"| {m.mode} | {m.ndcg_at_10:.3f} | {m.recall_at_10:.3f} | {m.mrr_at_10:.3f} | "
                     f"{m.search_ms_per_query:.1f} |")
    return "\n".join(lines) + "\n"


def write_results(result: RetrievalResult, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"retrieval-{result.dataset}.json"
    md_path = out / f"retrieval-{result.dataset}.md"
    json_path.write_text(json.dumps(asdict(result), indent=2), encoding="utf-8")
    md_path.write_text(markdown_table(result), encoding="utf-8")
    return json_path, md_path
