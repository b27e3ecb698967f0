"""The store adapter's guard rails, on Qdrant's embedded mode."""

from __future__ import annotations

import pytest

from core.errors import ErrorCode, VraagbaakError
from core.settings import Settings
from core.store import QdrantStore


def test_second_process_on_the_same_folder_gets_a_clear_error(settings: Settings) -> None:
    first = QdrantStore.open(settings)
    try:
        with pytest.raises(VraagbaakError) as caught:
            QdrantStore.open(settings)
        assert caught.value.code is ErrorCode.STORE_UNAVAILABLE
        assert str(settings.store_path) in caught.value.message and "one process per folder" in caught.value.message
    finally:
        first.close()


def test_collection_of_another_dimension_is_refused(store: QdrantStore) -> None:
    store.ensure_collection(384)
    store.ensure_collection(384)  # idempotent
    with pytest.raises(VraagbaakError) as caught:
        store.ensure_collection(768)
    assert caught.value.code is ErrorCode.CONFIG_INVALID and "384" in caught.value.message
