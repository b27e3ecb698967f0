"""The embedding backends on the real model: onnxruntime against torch, and SharedEmbedder (one forward pass
at a time, concurrent texts batched, questions first)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from core.embedding import Embedder, HuggingFaceEmbedder, OnnxEmbedder, SharedEmbedder, load_embedder
from core.errors import ErrorCode, VraagbaakError
from core.models.onnx import OnnxUnsupported, check_exportable
from core.settings import Settings

QUESTIONS = ["Hoeveel vakantiedagen heb ik?", "How do I report a data breach?", "Wie keurt verlof goed?",
             "Mag ik thuiswerken?", "What is the travel allowance?", "Hoe vraag ik een laptop aan?"]
PASSAGES = [f"Artikel {i}: medewerkers melden verlof {i} dagen vooraf bij hun leidinggevende." for i in range(40)]


class Recording:
    """The real model, with every forward call logged; `hold` pauses the first call until released,
    so that the test can queue other work behind it; `fail_on` makes a batch with that text raise."""

    def __init__(self, inner: Embedder, *, hold: bool = False, fail_on: str | None = None) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.release = threading.Event()
        self.started = threading.Event()
        self.hold, self.fail_on = hold, fail_on

    def _call(self, kind: str, texts: Sequence[str]) -> np.ndarray:
        self.calls.append((kind, tuple(texts)))
        self.started.set()
        if self.hold and len(self.calls) == 1:
            assert self.release.wait(30)
        if self.fail_on in texts:
            raise RuntimeError("forward pass failed")
        return self.inner.embed_queries(texts) if kind == "query" else self.inner.embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._call("query", texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._call("passage", texts)


def _in_threads(calls: list) -> tuple[list, list[threading.Thread]]:
    results: list = [None] * len(calls)

    def run(i: int) -> None:
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    return results, threads


def test_concurrent_callers_get_their_own_vectors_from_fewer_forward_passes(embedder: Embedder) -> None:
    recording = Recording(embedder, hold=True)
    shared = SharedEmbedder(recording, slice_size=64)
    try:
        first, first_threads = _in_threads([lambda: shared.embed_queries(["Wat is de opzegtermijn?"])])
        assert recording.started.wait(30)  # the first forward pass is running; the rest queue behind it
        calls = [lambda q=q: shared.embed_queries([q]) for q in QUESTIONS]
        calls += [lambda: shared.embed_passages(PASSAGES[:5]), lambda: shared.embed_passages(PASSAGES[5:12])]
        results, threads = _in_threads(calls)
        deadline = time.monotonic() + 30
        while shared._queue.qsize() < len(calls) and time.monotonic() < deadline:
            time.sleep(0.01)
        recording.release.set()
        for thread in first_threads + threads:
            thread.join(60)
    finally:
        shared.close()
    # row for row what the model gives each caller alone
    for question, got in zip(QUESTIONS, results[:len(QUESTIONS)], strict=True):
        assert got.shape == (1, embedder.dim)
        np.testing.assert_allclose(got[0], embedder.embed_queries([question])[0], atol=1e-4)
    np.testing.assert_allclose(results[-2], embedder.embed_passages(PASSAGES[:5]), atol=1e-4)
    np.testing.assert_allclose(results[-1], embedder.embed_passages(PASSAGES[5:12]), atol=1e-4)
    assert first[0].shape == (1, embedder.dim)
    # 1 held pass, then the 6 waiting questions in one batch and the 12 passages in one batch
    assert [(kind, len(texts)) for kind, texts in recording.calls] == [("query", 1), ("query", 6), ("passage", 12)]


def test_questions_are_embedded_between_slices_of_a_long_passage_job(embedder: Embedder) -> None:
    recording = Recording(embedder, hold=True)
    shared = SharedEmbedder(recording, slice_size=8)
    try:
        passages, passage_threads = _in_threads([lambda: shared.embed_passages(PASSAGES)])
        assert recording.started.wait(30)  # the first slice of 8 passages is running
        question, question_threads = _in_threads([lambda: shared.embed_queries([QUESTIONS[0]])])
        deadline = time.monotonic() + 30
        while shared._queue.qsize() < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        recording.release.set()
        for thread in passage_threads + question_threads:
            thread.join(60)
    finally:
        shared.close()
    kinds = [(kind, len(texts)) for kind, texts in recording.calls]
    assert kinds == [("passage", 8), ("query", 1), ("passage", 8), ("passage", 8), ("passage", 8), ("passage", 8)]
    np.testing.assert_allclose(passages[0], embedder.embed_passages(PASSAGES), atol=1e-4)
    np.testing.assert_allclose(question[0][0], embedder.embed_queries([QUESTIONS[0]])[0], atol=1e-4)


def test_a_failed_forward_pass_reaches_its_callers_and_the_thread_goes_on(embedder: Embedder) -> None:
    shared = SharedEmbedder(Recording(embedder, fail_on="boom"))
    try:
        with pytest.raises(RuntimeError, match="forward pass failed"):
            shared.embed_passages(["boom"])
        assert shared.embed_queries([QUESTIONS[1]]).shape == (1, embedder.dim)
        assert shared.embed_passages([]).shape == (0, embedder.dim)
    finally:
        shared.close()
    with pytest.raises(VraagbaakError) as stopped:
        shared.embed_queries([QUESTIONS[2]])
    assert stopped.value.code is ErrorCode.MODEL_UNAVAILABLE


TEXTS = ["kort", "Hoeveel vakantiedagen heb ik als parttimer?", "Employees report a data breach to the DPO within 24 hours.",
         "Medewerkers melden verlof vooraf bij hun leidinggevende. " * 120]  # the last is cut at 512 tokens


def test_the_onnx_backend_gives_the_torch_backends_vectors(base_settings: Settings, embedder: Embedder) -> None:
    onnx = load_embedder(base_settings.embedding.model_copy(update={"backend": "onnx"}), base_settings.models_dir)
    torch = load_embedder(base_settings.embedding.model_copy(update={"backend": "torch"}), base_settings.models_dir)
    assert isinstance(onnx, OnnxEmbedder) and isinstance(torch, HuggingFaceEmbedder)
    assert onnx.dim == torch.dim == 384 and onnx.name == torch.name
    np.testing.assert_allclose(onnx.embed_passages(TEXTS), torch.embed_passages(TEXTS), atol=1e-5)
    np.testing.assert_allclose(onnx.embed_queries(TEXTS), torch.embed_queries(TEXTS), atol=1e-5)
    assert onnx.embed_queries([]).shape == (0, 384)
    exports = list((base_settings.models_dir / ".onnx").glob("multilingual-e5-small-*.onnx"))
    assert len(exports) == 1  # exported once, then reused


def test_a_model_the_export_cannot_reproduce_keeps_the_torch_backend(base_settings: Settings, tmp_path: Path) -> None:
    source = (base_settings.models_dir / "multilingual-e5-small").resolve()
    folder = tmp_path / "cls-pooled"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    (folder / "model.safetensors").symlink_to(source / "model.safetensors")
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with pytest.raises(OnnxUnsupported, match="mean pooling"):
        check_exportable(folder)
    loaded = load_embedder(base_settings.embedding.model_copy(update={"model": str(folder), "backend": "onnx"}),
                           tmp_path / "models")
    assert isinstance(loaded, HuggingFaceEmbedder)
    assert not (tmp_path / "models" / ".onnx").exists() or not list((tmp_path / "models" / ".onnx").glob("*.onnx"))
