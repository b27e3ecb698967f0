"""Sources as configuration: a YAML sources file (and the same shapes through the CLI and the
admin API), validated, turned into `Source` objects.

    sources:
      - id: beleid
        kind: folder
        path: /srv/share/beleid
        include: ["**/*.pdf", "**/*.docx"]
        exclude: ["**/concepten/**"]
        groups: [medewerkers]
        group_rules: {"hr/**": [hr]}
      - id: intranet
        kind: web
        start_urls: [https://intranet.example.nl/]
        sitemap: https://intranet.example.nl/sitemap.xml
        max_pages: 2000
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ErrorCode, VraagbaakError
from ingest.sources.base import Source
from ingest.sources.folder import FolderSource

SOURCE_ID = r"^[a-z0-9][a-z0-9_.-]{0,99}$"


class _SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=SOURCE_ID, description="Stable id: lower case letters, digits, `-`, `_`, `.`.")
    groups: list[str] = Field(default_factory=list, description="Access groups of the source's documents.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Metadata for every document (lifecycle keys).")
    schedule_minutes: int | None = Field(None, ge=1, le=525_600,
                                         description="Start a job every this many minutes (ingest/schedule.py); unset = by hand.")


class FolderConfig(_SourceConfig):
    kind: Literal["folder"] = "folder"
    path: Path
    include: list[str] = Field(default_factory=list, description="Globs of files to index (default: all).")
    exclude: list[str] = Field(default_factory=list, description="Globs of files to leave out.")
    group_rules: dict[str, list[str]] = Field(default_factory=dict, description="Glob → access groups.")

    def build(self) -> Source:
        return FolderSource(self.id, self.path, include=self.include, exclude=self.exclude,
                            groups=tuple(self.groups), group_rules=self.group_rules, metadata=self.metadata)


class WebConfig(_SourceConfig):
    kind: Literal["web"] = "web"
    start_urls: list[str] = Field(default_factory=list)
    sitemap: str | None = None
    allowed_hosts: list[str] | None = None
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    max_pages: int = Field(500, ge=1, le=1_000_000)
    max_depth: int = Field(5, ge=0, le=100)
    delay_s: float = Field(0.5, ge=0, le=60)
    timeout_s: float = Field(10.0, gt=0, le=300)
    max_bytes: int = Field(20_000_000, ge=1000)
    user_agent: str | None = None

    def build(self) -> Source:
        from ingest.sources.web import WebSource

        if not self.start_urls and not self.sitemap:
            raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"source '{self.id}': give start_urls or a sitemap")
        options = self.model_dump(exclude={"id", "kind", "groups", "metadata", "schedule_minutes"},
                                  exclude_none=True)
        return WebSource(self.id, groups=tuple(self.groups), metadata=self.metadata, **options)


SourceConfig = Annotated[FolderConfig | WebConfig, Field(discriminator="kind")]


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[SourceConfig] = Field(default_factory=list)


def parse_source(data: dict[str, Any]) -> FolderConfig | WebConfig:
    """One source configuration from a mapping (API body, CLI), or CONFIG_INVALID with the reasons."""
    try:
        return SourcesFile.model_validate({"sources": [data]}).sources[0]
    except ValidationError as exc:
        raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"invalid source: {_reasons(exc)}") from exc


def load_sources_file(path: Path) -> list[FolderConfig | WebConfig]:
    """Every source in a sources file; relative folder paths are taken from the file's folder."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        parsed = SourcesFile.model_validate(raw)
    except OSError as exc:
        raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"cannot read the sources file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"the sources file {path} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"the sources file {path} is invalid: {_reasons(exc)}") from exc
    ids = [s.id for s in parsed.sources]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"the sources file {path} names a source twice: {duplicates}")
    for source in parsed.sources:
        if isinstance(source, FolderConfig) and not source.path.is_absolute():
            source.path = (path.parent / source.path).resolve()
    return list(parsed.sources)


def _reasons(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:8])
