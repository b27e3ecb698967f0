"""Dense embeddings: the `Embedder` protocol and its sentence-transformers backend.

The backend is LlamaIndex's HuggingFace integration (a SentenceTransformer underneath), loaded
from a local folder: models are prepared offline by `vraagbaak models prepare` (core.models).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import ErrorCode, VraagbaakError
from core.settings import EmbeddingSettings

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns questions and passages into unit vectors of `dim` dimensions."""

    name: str
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """One row per passage."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """One row per question."""
        ...


class HuggingFaceEmbedder:
    """A sentence-transformers model through LlamaIndex's HuggingFaceEmbedding."""

    def __init__(self, model_path: str, settings: EmbeddingSettings, name: str | None = None) -> None:
        import torch
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        kwargs = {"model_kwargs": {"dtype": torch.bfloat16}} if settings.dtype == "bfloat16" else {}
        try:
            self._model = HuggingFaceEmbedding(
                model_name=model_path, query_instruction=settings.query_prompt,
                text_instruction=settings.passage_prompt, max_length=settings.max_seq_length,
                embed_batch_size=settings.batch_size, device="cpu", normalize=True, **kwargs,
            )
        except (OSError, ValueError) as exc:
            raise VraagbaakError(ErrorCode.MODEL_UNAVAILABLE,
                                 f"Cannot load the embedding model '{model_path}': {exc}. "
                                 "Run `vraagbaak models prepare` first.") from exc
        self.name = name or Path(model_path).name
        self.dim = int(self._model._model.get_embedding_dimension())

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._model.get_text_embedding_batch(list(texts)), dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # LlamaIndex's public API embeds queries one at a time; its `_embed` batches them.
        return np.asarray(self._model._embed(list(texts), prompt_name="query"), dtype=np.float32)


def load_embedder(settings: EmbeddingSettings, models_dir: Path) -> Embedder:
    """The configured embedding model, resolved against the prepared models folder."""
    from core.models import resolve_model

    target = resolve_model(settings.model, models_dir)
    if not Path(target).exists() and "/" not in settings.model:
        raise VraagbaakError(ErrorCode.MODEL_UNAVAILABLE,
                             f"The embedding model '{settings.model}' is not prepared in {models_dir}. "
                             "Run `vraagbaak models prepare` (or `make demo`).")
    log.info("loading embedding model", extra={"ctx": {"model": settings.model, "path": target}})
    return HuggingFaceEmbedder(target, settings, name=settings.model)
