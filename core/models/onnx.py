"""A sentence-transformers folder exported once to ONNX, for the onnxruntime embedding backend.

The graph is the encoder plus what sentence-transformers does after it for these models (mean
pooling over the attention mask, prompt tokens included, then L2 normalisation), so one
`InferenceSession.run` gives the finished vectors. onnxruntime runs the whole graph in C++ without
Python's GIL; torch dispatches hundreds of small operations from Python per forward pass, and under
the web app's concurrency those wait for the GIL behind request threads (docs/performance.md).

Exports are cached in `models_dir/.onnx/`, named by a key over the model's files and this module's
export version, and written to a temporary file that is renamed into place, so concurrent starts
never read half an export. Only folders whose modules are Transformer → mean Pooling (→ Normalize)
are exported; anything else raises `OnnxUnsupported` and the caller keeps the torch backend.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

from core.logging import kv
from core.models.folder import exclusive_lock

logger = logging.getLogger(__name__)

EXPORT_VERSION = 1  # bump when the exported graph changes
_KEYED_FILES = ("config.json", "modules.json", "1_Pooling/config.json", "tokenizer.json")
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


class OnnxUnsupported(Exception):
    """The folder is not a plain mean-pooling sentence-transformers model."""


def check_exportable(model_dir: Path) -> bool:
    """True when the model ends in L2 normalisation (else the caller normalises); raises
    OnnxUnsupported for module layouts the export does not reproduce."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OnnxUnsupported(f"not a sentence-transformers folder with mean pooling: {exc}") from exc
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise OnnxUnsupported(f"modules {kinds}: only Transformer, Pooling (mean) and Normalize are exported")
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    if modes != ["pooling_mode_mean_tokens"] or not pooling.get("include_prompt", True):
        raise OnnxUnsupported(f"pooling {modes}: only mean pooling over all tokens is exported")
    return kinds[-1] == "Normalize"


def export_key(model_dir: Path) -> str:
    """Changes when the model's files or the export change; cheap (sizes and times of the weights)."""
    digest = hashlib.sha256(f"v{EXPORT_VERSION}\n{model_dir.resolve()}\n".encode())
    for name in _KEYED_FILES:
        path = model_dir / name
        if path.exists():
            digest.update(name.encode() + b"\n" + path.read_bytes())
    for name in _WEIGHTS:
        path = model_dir / name
        if path.exists():
            stat = path.stat()
            digest.update(f"{name} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def onnx_model(model_dir: Path, cache_dir: Path) -> Path:
    """The ONNX file for `model_dir`, exported on first use (about 10–20 s for e5-small on 2 cores)."""
    normalize = check_exportable(model_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"{model_dir.name}-{export_key(model_dir)}.onnx"
    if target.exists():
        return target
    with exclusive_lock(cache_dir / ".export.lock"):
        if target.exists():  # another process exported it while this one waited
            return target
        started = time.monotonic()
        handle, scratch = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=cache_dir)
        os.close(handle)
        try:
            _export(model_dir, Path(scratch), normalize=normalize)
            os.chmod(scratch, 0o644)  # mkstemp makes it private; the app may run as another user
            os.replace(scratch, target)
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise
        for stale in cache_dir.glob(f"{model_dir.name}-*.onnx"):
            if stale != target:
                stale.unlink(missing_ok=True)
        logger.info("embedding model exported to ONNX", extra=kv(
            model=model_dir.name, path=str(target), seconds=round(time.monotonic() - started, 1)))
    return target


def _export(model_dir: Path, path: Path, *, normalize: bool) -> None:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1) if normalize else pooled

    sample = (torch.tensor([[0, 10, 11, 2], [0, 12, 2, 1]]), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]))
    axes = {"batch": 0, "tokens": 1}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
        torch.onnx.export(
            Pooled().eval(), sample, str(path), input_names=["input_ids", "attention_mask"],
            output_names=["embedding"], opset_version=17, dynamo=False,
            dynamic_axes={"input_ids": {v: k for k, v in axes.items()},
                          "attention_mask": {v: k for k, v in axes.items()}, "embedding": {0: "batch"}},
        )
