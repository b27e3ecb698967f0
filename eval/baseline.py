"""The baseline a team would build with library defaults: LlamaIndex's `VectorStoreIndex` over the
same texts, cut by its default splitter (`SentenceSplitter`: 1024 tokens, 200 overlap), embedded
by the product's embedding model (core.embedding: the same vectors), kept in its default in-memory
`SimpleVectorStore`, queried by its default dense retriever. No BM25, no fusion, no language
handling. Only the number of nodes asked for is raised (its default is 2) so nDCG@10 can be
computed at document level (a document ranks by its best node).

The index is persisted under DATA_DIR/eval-index/ keyed by the corpus' content hash and the
model, so a second run only queries. LlamaIndex types stay inside this module.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.embedding import Embedder
from core.errors import VraagbaakError
from core.settings import Settings

log = logging.getLogger(__name__)
NODES = 30


@dataclass(frozen=True)
class BaselineHit:
    doc_id: str
    score: float
    text: str


class LlamaIndexBaseline:
    """A default `VectorStoreIndex` over `(doc_id, title, text)` items; `search` ranks nodes."""

    name = "llamaindex-default"

    def __init__(self, index: object, nodes: int, seconds: float) -> None:
        self._index = index
        self.nodes = nodes
        self.index_seconds = seconds

    @classmethod
    def open(cls, items: Sequence[tuple[str, str, str]], fingerprint: str, embedder: Embedder,
             settings: Settings, name: str) -> LlamaIndexBaseline:
        """Load the persisted index for this corpus, or build (and persist) it."""
        from llama_index.core import Document, StorageContext, VectorStoreIndex, load_index_from_storage

        model = _llama_model(embedder)
        folder = settings.data_dir / "eval-index" / f"llamaindex-{name}-{fingerprint}-{embedder.name}"
        started = time.perf_counter()
        if (folder / "complete").exists():
            index = load_index_from_storage(StorageContext.from_defaults(persist_dir=str(folder)), embed_model=model)
        else:
            log.info("building the LlamaIndex baseline", extra={"ctx": {"dataset": name, "documents": len(items)}})
            documents = [Document(text=text, metadata={"title": title}, id_=doc_id) for doc_id, title, text in items]
            index = VectorStoreIndex.from_documents(documents, embed_model=model)
            folder.mkdir(parents=True, exist_ok=True)
            index.storage_context.persist(persist_dir=str(folder))
            (folder / "complete").write_text("ok")
        nodes = len(index.docstore.docs)
        return cls(index, nodes, time.perf_counter() - started)

    def search(self, question: str, vector: np.ndarray, limit: int = NODES) -> list[BaselineHit]:
        """The default retriever's nodes for a question whose vector is already computed (the same
        model and query prompt the retriever would use; batching them is only faster)."""
        from llama_index.core.schema import QueryBundle

        retriever = self._index.as_retriever(similarity_top_k=limit)  # type: ignore[attr-defined]
        nodes = retriever.retrieve(QueryBundle(query_str=question, embedding=vector.tolist()))
        return [BaselineHit(doc_id=str(n.node.ref_doc_id), score=float(n.score or 0.0),
                            text=n.node.get_content()) for n in nodes]


def _llama_model(embedder: Embedder) -> object:
    """A LlamaIndex embedding model giving the product embedder's vectors (same weights, prompts and
    settings): the HuggingFace embedder's own LlamaIndex object, or for another backend (ONNX) a
    LlamaIndex `BaseEmbedding` that calls it."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    model = getattr(embedder, "_model", None)
    if isinstance(model, BaseEmbedding):
        return model

    class ProductEmbedding(BaseEmbedding):
        _embedder: Embedder = PrivateAttr()

        def __init__(self, inner: Embedder) -> None:
            super().__init__(model_name=inner.name, embed_batch_size=32)
            self._embedder = inner

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._embedder.embed_queries([query])[0].tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._embedder.embed_passages([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._embedder.embed_passages(texts).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    return ProductEmbedding(embedder)


def folder_items(corpus: Path) -> tuple[list[tuple[str, str, str]], str]:
    """`(relative path, title, text)` of every readable file below `corpus`, parsed by the product's
    own parsers (so both sides see the same text), and a hash of the files."""
    from ingest.parse import media_type_of, parse_file

    items, digest = [], hashlib.sha256()
    for path in sorted(p for p in corpus.rglob("*") if p.is_file() and media_type_of(p)):
        data = path.read_bytes()
        digest.update(path.relative_to(corpus).as_posix().encode() + data)
        try:
            parsed = parse_file(path, data)
        except VraagbaakError as exc:
            log.warning("baseline skips a file", extra={"ctx": {"path": str(path), "reason": exc.message}})
            continue
        items.append((path.relative_to(corpus).as_posix(), parsed.title, "\n\n".join(b.text for b in parsed.blocks)))
    return items, digest.hexdigest()[:12]
