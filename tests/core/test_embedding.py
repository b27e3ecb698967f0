"""The embedding backends on the real model: onnxruntime against torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.embedding import Embedder, HuggingFaceEmbedder, OnnxEmbedder, load_embedder
from core.models.onnx import OnnxUnsupported, check_exportable
from core.settings import Settings

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


def test_models_prepare_exports_the_onnx_model_too(base_settings: Settings, embedder: Embedder) -> None:
    """So that an image whose models folder is read-only at run time has the export (Dockerfile)."""
    env = {**os.environ, "VRAAGBAAK_EMBEDDING__MODELS_DIR": str(base_settings.models_dir.resolve())}
    run = subprocess.run([sys.executable, "-m", "vraagbaak", "models", "prepare", "--no-download"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    exported = Path(run.stdout.split("ONNX export ready: ")[1].split()[0])
    assert exported.parent == (base_settings.models_dir / ".onnx").resolve() and exported.stat().st_size > 100e6
