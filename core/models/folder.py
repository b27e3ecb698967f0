"""Prepared model folders: the manifest that vouches for them, and writing them safely.

A prepared folder (models_dir/NAME) holds a manifest with the pins it was made from and the
sha256 of every file; `verify_prepared` checks it. A folder is written into a staging folder
beside its target under an exclusive lock and renamed into place, so readers never see half a
model and two `prepare` runs do not interleave.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from core.logging import kv
from core.models.artifacts import E5_SMALL_ARTIFACTS, Artifact, sha256_file

logger = logging.getLogger(__name__)

MANIFEST_NAME = "vraagbaak-manifest.json"
"""The file in a prepared folder that records where it came from and the hash of every file."""
FORMAT_VERSION = 1
"""Bumped whenever the conversion changes what it writes; a folder of another version is rebuilt."""


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
            if sha256_file(path) != expected["sha256"]:
                return f"{name} has the wrong sha256"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable manifest: {exc}"
    return None


def write_json(path: Path, content: object) -> None:
    """Write `content` to `path` as indented UTF-8 JSON, creating the parent folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_manifest(folder: Path, artifacts: Sequence[Artifact], *, model: str, source: str,
                   known: dict[str, str] | None = None) -> None:
    """Record the hash of every file in `folder`; `known` gives hashes already computed, by name."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        digest = (known or {}).get(relative) or sha256_file(path)
        files[relative] = {"sha256": digest, "size": path.stat().st_size}
    write_json(folder / MANIFEST_NAME, {
        "format_version": FORMAT_VERSION,
        "model": model,
        "source": source,
        "artifacts": [asdict(artifact) for artifact in artifacts],
        "prepared_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    })


def make_readable(folder: Path) -> None:
    """World-readable like any installed model (mkdtemp makes the folder private to its owner)."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def move_into_place(staging: Path, target: Path) -> None:
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


def remove_leftovers(models_dir: Path, name: str) -> None:
    """Delete staging folders of an interrupted earlier run (we hold the lock, so none is live)."""
    for leftover in models_dir.glob(f".{name}.*.tmp"):
        logger.info("removing leftover staging folder", extra=kv(path=str(leftover)))
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
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
