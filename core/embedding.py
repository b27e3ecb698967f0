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


class OnnxEmbedder:
    """The same sentence-transformers model exported to ONNX (`core.models.onnx`) and run by
    onnxruntime: the same vectors as `HuggingFaceEmbedder` (to ~1e-7), without holding Python's
    GIL during the forward pass. Texts are sorted by length and embedded `batch_size` at a time."""

    def __init__(self, model_path: str, settings: EmbeddingSettings, cache_dir: Path, name: str | None = None) -> None:
        import onnxruntime
        from transformers import AutoTokenizer

        from core.models.onnx import onnx_model

        folder = Path(model_path)
        self._tokenizer = AutoTokenizer.from_pretrained(str(folder))
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        if settings.threads:
            options.intra_op_num_threads = settings.threads
        self._session = onnxruntime.InferenceSession(str(onnx_model(folder, cache_dir)), options,
                                                     providers=["CPUExecutionProvider"])
        self._settings = settings
        self._max_length = min(settings.max_seq_length, int(getattr(self._tokenizer, "model_max_length", 512) or 512))
        self.name = name or folder.name
        self.dim = int(self._run(["dimension probe"], "")[0].shape[0])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(texts, self._settings.passage_prompt)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(texts, self._settings.query_prompt)

    def _run(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: np.ndarray | None = None
        size = self._settings.batch_size
        for start in range(0, len(order), size):
            rows = order[start:start + size]
            encoded = self._tokenizer([prompt + texts[i] for i in rows], padding=True, truncation=True,
                                      max_length=self._max_length, return_tensors="np")
            vectors = self._session.run(None, {"input_ids": encoded["input_ids"].astype(np.int64),
                                               "attention_mask": encoded["attention_mask"].astype(np.int64)})[0]
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        assert out is not None
        return out


def load_embedder(settings: EmbeddingSettings, models_dir: Path) -> Embedder:
    """The configured embedding model, resolved against the prepared models folder."""
    from core.models import resolve_model

    target = resolve_model(settings.model, models_dir)
    if not Path(target).exists() and "/" not in settings.model:
        raise VraagbaakError(ErrorCode.MODEL_UNAVAILABLE,
                             f"The embedding model '{settings.model}' is not prepared in {models_dir}. "
                             "Run `vraagbaak models prepare` (or `make demo`).")
    log.info("loading embedding model", extra={"ctx": {"model": settings.model, "path": target,
                                                         "backend": settings.backend}})
    if settings.backend == "onnx" and settings.dtype == "float32" and Path(target).is_dir():
        from core.models.onnx import OnnxUnsupported

        try:
            return OnnxEmbedder(target, settings, Path(models_dir) / ".onnx", name=settings.model)
        except (OnnxUnsupported, OSError) as exc:  # OSError: the export cache cannot be written
            log.warning("ONNX backend not possible for this model; using torch",
                        extra={"ctx": {"model": settings.model, "reason": str(exc)}})
    return HuggingFaceEmbedder(target, settings, name=settings.model)
