"""Memory of the Qdrant collection per million chunks, from what one chunk really holds.

Usage: python -m bench.store_size [FOLDER ...]   (default: the demo corpus, and the corpora in
../shared/data/corpora when present)

Each folder is ingested by the real pipeline (parsing, chunking, BM25) into a throwaway in-memory
store; the payload (JSON) and the sparse BM25 vector of every point are measured. The dense vectors
are not: their size is fixed by the model's dimension (384 float32 for multilingual-e5-small), so the
stand-in embedder below writes random unit vectors instead of running the model. The HNSW graph
is estimated from Qdrant's default m=16 (level 0 keeps up to 2·m links of 4 bytes per point, the
upper levels about 1/m of that again). Prints a Markdown table for docs/deployment.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core import schema
from core.settings import Settings
from core.store import QdrantStore
from ingest.pipeline import Ingestor

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT.parent / "shared" / "data" / "corpora"
DIM = 384  # multilingual-e5-small
HNSW_M = 16
MILLION = 1_000_000


class RandomVectors:
    """Stand-in embedder: unit vectors of the real model's dimension (sizes do not depend on values)."""

    name = "random-384"
    dim = DIM

    def __init__(self) -> None:
        self.rng = np.random.default_rng(7)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.rng.standard_normal((len(texts), DIM)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    embed_queries = embed_passages


def measure(folder: Path, settings: Settings) -> dict[str, float]:
    store = QdrantStore.in_memory()
    report = Ingestor(store, RandomVectors(), settings.ingest).ingest_folder(folder, "size")
    payload, nonzero = [], []
    offset = None
    while True:
        points, offset = store.client.scroll(store.collection, limit=512, offset=offset, with_payload=True,
                                             with_vectors=[schema.SPARSE])
        for point in points:
            payload.append(len(json.dumps(point.payload, ensure_ascii=False, separators=(",", ":")).encode()))
            sparse = (point.vector or {}).get(schema.SPARSE)  # type: ignore[union-attr]
            nonzero.append(len(sparse.indices) if sparse is not None else 0)
        if offset is None:
            break
    store.close()
    return {"documents": len(report.new), "failed": len(report.failed), "chunks": len(payload),
            "payload_b": statistics.mean(payload), "payload_p95_b": sorted(payload)[int(0.95 * (len(payload) - 1))],
            "sparse_nnz": statistics.mean(nonzero)}


def per_million(payload_b: float, sparse_nnz: float) -> dict[str, float]:
    """GB (10^9 bytes) per million chunks, by part."""
    sparse_b = sparse_nnz * 8 * 2  # the vector (index + weight, 4 B each) and the inverted index posting
    hnsw_b = 2 * HNSW_M * 4 * (1 + 1 / HNSW_M)
    return {"dense_f32": DIM * 4 * MILLION / 1e9, "dense_int8": DIM * MILLION / 1e9, "hnsw": hnsw_b * MILLION / 1e9,
            "sparse": sparse_b * MILLION / 1e9, "payload": payload_b * MILLION / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", type=Path, nargs="*")
    args = parser.parse_args()
    shared = sorted(p for p in CORPORA.iterdir() if p.is_dir()) if CORPORA.exists() else []
    folders = args.folders or [ROOT / "demo" / "corpus", *shared]
    settings = Settings()
    rows = []
    for folder in folders:
        figures = measure(folder, settings)
        rows.append((folder.name, figures))
        print(f"{folder.name}: {json.dumps({k: round(v, 1) for k, v in figures.items()})}", flush=True)
    print("\n| corpus | documents | chunks | payload per chunk (mean / p95) | BM25 non-zeros per chunk |")
    print("|---|---|---|---|---|")
    for name, f in rows:
        print(f"| {name} | {f['documents']:.0f} | {f['chunks']:.0f} | {f['payload_b']:.0f} B / {f['payload_p95_b']:.0f} B "
              f"| {f['sparse_nnz']:.0f} |")
    chunks = sum(f["chunks"] for _, f in rows)
    payload = sum(f["payload_b"] * f["chunks"] for _, f in rows) / chunks
    nnz = sum(f["sparse_nnz"] * f["chunks"] for _, f in rows) / chunks
    parts = per_million(payload, nnz)
    print(f"\nweighted over {chunks:.0f} chunks: payload {payload:.0f} B, {nnz:.0f} BM25 non-zeros per chunk")
    print("\n| per million chunks | RAM, all in memory | RAM, int8 quantized (originals on disk) | RAM, vectors + payload on disk | disk |")
    print("|---|---|---|---|---|")
    in_ram = parts["dense_f32"] + parts["hnsw"] + parts["sparse"] + parts["payload"]
    int8 = parts["dense_int8"] + parts["hnsw"] + parts["sparse"] + parts["payload"]
    on_disk = parts["dense_int8"] + parts["hnsw"]  # store.on_disk puts the sparse index on disk too
    disk = parts["dense_f32"] + parts["dense_int8"] + parts["hnsw"] + parts["sparse"] + parts["payload"]
    for label, value in (("dense float32 (384 × 4 B)", parts["dense_f32"]), ("dense int8 (384 × 1 B)", parts["dense_int8"]),
                         ("HNSW links (m=16)", parts["hnsw"]), ("BM25 sparse + index", parts["sparse"]),
                         ("payload", parts["payload"])):
        print(f"| {label} | {value:.2f} GB | | | |")
    print(f"| **total** | **{in_ram:.2f} GB** | **{int8:.2f} GB** | **{on_disk:.2f} GB** | {disk:.2f} GB |")


if __name__ == "__main__":
    main()
