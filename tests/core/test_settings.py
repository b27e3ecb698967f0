"""Settings come from the environment, with the well-known names, and every one is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings, env_names

DOCS = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"


def test_nested_and_well_known_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRAAGBAAK_RETRIEVAL__TOP_K", "9")
    monkeypatch.setenv("QDRANT_URL", "http://qdrant.internal:6333")
    monkeypatch.setenv("QDRANT_API_KEY", "s3cret")
    monkeypatch.setenv("LLM_BASE_URL", "http://llm.internal:8080/v1")
    settings = Settings()
    assert settings.retrieval.top_k == 9
    assert settings.store.url == "http://qdrant.internal:6333"
    assert settings.store.api_key is not None and settings.store.api_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.llm.base_url == "http://llm.internal:8080/v1"


def test_invalid_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRAAGBAAK_RETRIEVAL__TOP_K", "0")
    with pytest.raises(ValueError, match="top_k"):
        Settings()


def test_every_setting_is_documented() -> None:
    documented = DOCS.read_text(encoding="utf-8")
    missing = [name for name in env_names() if f"`{name}`" not in documented]
    assert not missing, f"settings missing from docs/deployment.md: {missing}"
