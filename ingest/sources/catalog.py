"""The configured sources: those of the sources file (origin `file`, re-read at every start) and
those added through the admin API or CLI (origin `api`), kept in the application database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import ErrorCode, VraagbaakError
from ingest.registry import Registry
from ingest.sources.config import FolderConfig, WebConfig, load_sources_file, parse_source

Config = FolderConfig | WebConfig


class SourceCatalog:
    def __init__(self, registry: Registry, sources_file: Path | None = None) -> None:
        self.registry = registry
        self.sources_file = sources_file

    def sync_file(self) -> list[str]:
        """Copy the sources file into the database; file sources no longer in it are dropped
        (their documents stay until the source is removed). Returns the ids read."""
        if not self.sources_file:
            return []
        configs = load_sources_file(self.sources_file)
        for config in configs:
            self.registry.save_source(config.id, config.kind, config.model_dump(mode="json"), origin="file")
        ids = {c.id for c in configs}
        for source_id, row in self.registry.sources().items():
            if row.origin == "file" and source_id not in ids:
                self.registry.delete_source(source_id)
        return sorted(ids)

    def configs(self) -> dict[str, Config]:
        return {source_id: parse_source(row.config) for source_id, row in sorted(self.registry.sources().items())}

    def origins(self) -> dict[str, str]:
        return {source_id: row.origin for source_id, row in self.registry.sources().items()}

    def get(self, source_id: str) -> Config:
        row = self.registry.sources().get(source_id)
        if row is None:
            raise VraagbaakError(ErrorCode.NOT_FOUND, f"No source '{source_id}' is configured.")
        return parse_source(row.config)

    def add(self, data: dict[str, Any], *, replace: bool = False) -> Config:
        config = parse_source(data)
        existing = self.registry.sources().get(config.id)
        if existing is not None and existing.origin == "file":
            raise VraagbaakError(ErrorCode.CONFLICT,
                                 f"Source '{config.id}' comes from the sources file; change it there.")
        if existing is not None and not replace:
            raise VraagbaakError(ErrorCode.CONFLICT, f"Source '{config.id}' exists already.")
        if isinstance(config, FolderConfig) and not config.path.exists():
            raise VraagbaakError(ErrorCode.BAD_REQUEST, f"The folder {config.path} does not exist on the server.")
        self.registry.save_source(config.id, config.kind, config.model_dump(mode="json"), origin="api")
        return config

    def remove(self, source_id: str) -> None:
        row = self.registry.sources().get(source_id)
        if row is None:
            raise VraagbaakError(ErrorCode.NOT_FOUND, f"No source '{source_id}' is configured.")
        if row.origin == "file":
            raise VraagbaakError(ErrorCode.CONFLICT, f"Source '{source_id}' comes from the sources file; remove it there.")
        self.registry.delete_source(source_id)
