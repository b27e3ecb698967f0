"""A folder or file share: every supported file below a root, filtered by include/exclude globs,
with access groups and lifecycle metadata from the sources file and from sidecar files.

Sidecars (YAML; never indexed themselves):
- `.vraagbaak.yml` in a folder applies to that folder and everything below it;
- `<file>.meta.yml` beside a file applies to that file.
Keys: `groups` (list; replaces what applies from above), `title`, and lifecycle keys (owner,
version, effective, review, expires, superseded_by — see `ingest.lifecycle`). Nearer wins.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ingest.lms import is_package
from ingest.sources.base import Source, SourceItem

log = logging.getLogger(__name__)

FOLDER_SIDECAR = ".vraagbaak.yml"
FILE_SIDECAR_SUFFIXES = (".meta.yml", ".meta.yaml")


class FolderSource(Source):
    """Files below `root` (or the single file `root`)."""

    kind = "folder"

    def __init__(self, source_id: str, root: Path, *, include: Sequence[str] = (), exclude: Sequence[str] = (),
                 groups: tuple[str, ...] = (), group_rules: Mapping[str, Sequence[str]] | None = None,
                 metadata: Mapping[str, Any] | None = None) -> None:
        super().__init__(source_id, groups=groups)
        self.root = Path(root).resolve()
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.group_rules = {pattern: tuple(g) for pattern, g in (group_rules or {}).items()}
        self.metadata = dict(metadata or {})
        self._units: list[Path] | None = None
        self.sidecar_warnings: list[str] = []

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": str(self.root), "include": list(self.include),
                "exclude": list(self.exclude), "group_rules": {k: list(v) for k, v in self.group_rules.items()}}

    def units(self) -> list[Path]:
        """What the source holds, in a stable order: files, and unpacked packages as one unit each."""
        if self._units is None:
            self._units = [u for u in list_units(self.root) if self._wanted(self.relative(u))]
        return self._units

    def estimate(self) -> int:
        return len(self.units())

    def relative(self, path: Path) -> str:
        return path.name if path == self.root else path.relative_to(self.root).as_posix()

    def scan(self, previous: Mapping[str, Mapping[str, Any]]) -> Iterator[SourceItem]:
        self.complete = self.root.exists()
        for unit in self.units():
            relative = self.relative(unit)
            try:
                stat = unit.stat()
            except OSError as exc:
                yield SourceItem(uri=relative, suffix=unit.suffix.lower(), path=unit,
                                 error=f"cannot read the file: {exc.strerror or exc}")
                continue
            groups, metadata = self._labels(unit, relative)
            yield SourceItem(uri=relative, suffix="" if unit.is_dir() else unit.suffix.lower(), path=unit,
                             modified=stat.st_mtime, size=stat.st_size if unit.is_file() else None,
                             groups=groups, metadata=metadata)

    # -- filters and labels -----------------------------------------------------------------------

    def _wanted(self, relative: str) -> bool:
        if relative.endswith(FILE_SIDECAR_SUFFIXES):
            return False
        if self.include and not any(glob_match(p, relative) for p in self.include):
            return False
        return not any(glob_match(p, relative) for p in self.exclude)

    def _labels(self, unit: Path, relative: str) -> tuple[tuple[str, ...], dict[str, Any]]:
        """Groups and metadata for one unit: source defaults < path rules < folder sidecars < file sidecar."""
        groups = self.groups
        for pattern, rule_groups in self.group_rules.items():
            if glob_match(pattern, relative):
                groups = rule_groups
        metadata = dict(self.metadata)
        folders = [] if unit == self.root else list(reversed(unit.relative_to(self.root).parents))
        sidecars = [self.root / folder / FOLDER_SIDECAR for folder in folders]
        sidecars += [unit.with_name(unit.name + suffix) for suffix in FILE_SIDECAR_SUFFIXES]
        if unit.is_dir():
            sidecars.append(unit / FOLDER_SIDECAR)
        for sidecar in sidecars:
            data = self._sidecar(sidecar)
            if "groups" in data:
                groups = tuple(str(g) for g in (data["groups"] or ()))
            metadata.update({k: v for k, v in data.items() if k != "groups"})
        return groups, metadata

    def _sidecar(self, path: Path) -> dict[str, Any]:
        if not path.is_file():
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            warning = f"{self.relative(path)}: sidecar ignored ({type(exc).__name__})"
            if warning not in self.sidecar_warnings:
                self.sidecar_warnings.append(warning)
            return {}
        if not isinstance(data, dict):
            return {}
        if "groups" in data and isinstance(data["groups"], str):
            data["groups"] = [data["groups"]]
        return data


def list_units(root: Path) -> list[Path]:
    """What a run indexes below `root`, in a stable order: regular files, and unpacked e-learning
    packages as one unit each (not descended into); hidden files and folders are left out."""
    if root.is_file() or is_package(root):
        return [root]
    if not root.is_dir():
        return []
    units: list[Path] = []

    def walk(folder: Path) -> None:
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.is_symlink():
                continue
            if path.is_dir():
                if is_package(path):
                    units.append(path)
                else:
                    walk(path)
            elif path.is_file():
                units.append(path)

    walk(root)
    return units


def glob_match(pattern: str, relative: str) -> bool:
    """Match a relative POSIX path against a glob: `*` and `?` stay within one folder, `**` spans
    folders (`**/x.pdf` also matches `x.pdf`); a pattern without `/` matches the file name anywhere."""
    if "/" not in pattern:
        return bool(_compile(pattern).match(relative.rsplit("/", 1)[-1]))
    return bool(_compile(pattern).match(relative))


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")
