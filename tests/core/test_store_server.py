"""The store on a Qdrant server: the cluster settings applied when the collection is created, and the
same store tests as in local mode (tests/core/test_store.py) plus a congruence check — the demo corpus
in both modes answers the same questions with the same passages.

Needs a server: set QDRANT_URL (and QDRANT_API_KEY), e.g. `docker compose up -d qdrant`. Without it
these tests skip with that reason; only the translation of the settings into Qdrant's collection
parameters is checked here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from qdrant_client import models

from core import schema
from core.embedding import Embedder
from core.lexical import BM25Encoder
from core.settings import Settings, StoreSettings
from core.store import QdrantStore, collection_params
from ingest.pipeline import Ingestor
from tests.conftest import DEMO_CORPUS
from tests.core.test_store import test_collection_of_another_dimension_is_refused  # noqa: F401  (run on a server)

NO_SERVER = "QDRANT_URL is not set: no Qdrant server here (run `docker compose up -d qdrant` and set QDRANT_URL)"
needs_server = pytest.mark.skipif(not os.environ.get("QDRANT_URL"), reason=NO_SERVER)
CLUSTER = StoreSettings(shard_number=2, replication_factor=1, on_disk=True, on_disk_payload=True, quantization="int8")


def test_cluster_settings_become_collection_parameters_on_a_server_only() -> None:
    local = collection_params(384, None)
    assert set(local) == {"vectors_config", "sparse_vectors_config"}
    assert local["vectors_config"][schema.DENSE].on_disk is None  # type: ignore[index]
    plain = collection_params(384, StoreSettings())
    assert set(plain) == {"vectors_config", "sparse_vectors_config"}  # defaults: Qdrant's own
    params = collection_params(384, CLUSTER)
    dense = params["vectors_config"][schema.DENSE]  # type: ignore[index]
    assert dense.size == 384 and dense.distance == models.Distance.COSINE and dense.on_disk is True
    assert params["sparse_vectors_config"][schema.SPARSE].index.on_disk is True  # type: ignore[index]
    assert params["shard_number"] == 2 and params["replication_factor"] == 1 and params["on_disk_payload"] is True
    scalar = params["quantization_config"].scalar  # type: ignore[attr-defined]
    assert scalar.type == models.ScalarType.INT8 and scalar.always_ram is True


def _server_settings(base_settings: Settings, collection: str, cluster: StoreSettings = StoreSettings()) -> Settings:
    url = os.environ.get("QDRANT_URL")
    if not url:
        pytest.skip(NO_SERVER)
    store = cluster.model_copy(update={"url": url, "api_key": os.environ.get("QDRANT_API_KEY") or None,
                                       "collection": collection})
    return base_settings.model_copy(update={"store": store})


@pytest.fixture
def store(base_settings: Settings) -> Iterator[QdrantStore]:
    """A server store with a throwaway collection (replaces conftest's local `store` for this module)."""
    server = QdrantStore.open(_server_settings(base_settings, f"test-{uuid.uuid4().hex[:10]}"))
    yield server
    server.client.delete_collection(server.collection)
    server.close()


@needs_server
def test_cluster_settings_are_applied_when_the_server_collection_is_created(base_settings: Settings) -> None:
    server = QdrantStore.open(_server_settings(base_settings, f"test-{uuid.uuid4().hex[:10]}", CLUSTER))
    try:
        server.ensure_collection(384)
        config = server.client.get_collection(server.collection).config
        assert config.params.shard_number == 2 and config.params.replication_factor == 1
        assert config.params.on_disk_payload is True
        assert config.params.vectors[schema.DENSE].on_disk is True  # type: ignore[index]
        assert config.quantization_config.scalar.type == models.ScalarType.INT8  # type: ignore[union-attr]
        server.ensure_collection(384)  # an existing collection is left as it is
    finally:
        server.client.delete_collection(server.collection)
        server.close()


@needs_server
@pytest.mark.parametrize("cluster", [StoreSettings(), CLUSTER], ids=["defaults", "sharded-on-disk-int8"])
def test_server_and_local_mode_answer_alike(base_settings: Settings, embedder: Embedder, demo_store: QdrantStore,
                                            cluster: StoreSettings) -> None:
    server = QdrantStore.open(_server_settings(base_settings, f"test-{uuid.uuid4().hex[:10]}", cluster))
    try:
        server.ensure_collection(embedder.dim)
        report = Ingestor(server, embedder, base_settings.ingest).ingest_folder(DEMO_CORPUS, "demo")
        assert not report.failed and server.count() == demo_store.count()
        encoder = BM25Encoder()
        for question in ("Hoeveel vakantiedagen heb ik?", "How do I report a data breach?",
                         "Mag ik thuiswerken?"):
            dense = embedder.embed_queries([question])[0].tolist()
            sparse = encoder.encode_query(question)
            for mode in ("hybrid", "dense", "bm25"):
                local = [h.passage.chunk_id for h in demo_store.search(dense=dense, sparse=sparse, mode=mode)]
                remote = [h.passage.chunk_id for h in server.search(dense=dense, sparse=sparse, mode=mode)]
                if cluster.quantization == "int8" and mode != "bm25":  # int8 may swap near-ties
                    assert local[:3] and set(local[:3]) <= set(remote), (question, mode, local, remote)
                else:
                    assert remote == local, (question, mode)
    finally:
        server.client.delete_collection(server.collection)
        server.close()
