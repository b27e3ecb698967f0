"""Whether a path is an e-learning package, decided cheaply: a zip's directory, the first headers of a
tar.gz, a folder's top level, or the first bytes of an XML file. Nothing is decompressed beyond a bound."""

from __future__ import annotations

import gzip
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from ingest.lms.archive import MANIFESTS, head_of, is_gzip, is_tar, is_zip, looks_like_course_structure, member_name

_TAR_BYTES = 16 << 20  # how far into a tar stream the sniff looks


def sniff(path: Path) -> bool:
    """A zip/imscc/mbz/tar.gz with a manifest at its root (or in the one folder a packer wrapped it in),
    a folder with a manifest at its root, or a cmi5 course structure file on its own."""
    try:
        if path.is_dir():
            return any((path / manifest).is_file() for manifest in MANIFESTS)
        if not path.is_file() or path.name in MANIFESTS:
            return False  # a manifest file: its folder is the package
        head = head_of(path)
        if is_zip(head):
            with zipfile.ZipFile(path) as archive:
                return any(_is_manifest(name) for name in archive.namelist())
        if is_gzip(head) or is_tar(head):
            return _sniff_tar(path, compressed=is_gzip(head))
        return path.suffix.lower() == ".xml" and looks_like_course_structure(head)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, OSError, zlib.error, ValueError,
            NotImplementedError):
        return False


def _is_manifest(raw: str) -> bool:
    name = member_name(raw)
    if name is None:
        return False
    parts = name.split("/")
    return parts[-1] in MANIFESTS and len(parts) <= 2


def _sniff_tar(path: Path, *, compressed: bool) -> bool:
    """Look through the first members' headers (Moodle writes .ARCHIVE_INDEX first, naming every file)."""
    with path.open("rb") as raw:
        inner: BinaryIO = gzip.GzipFile(fileobj=raw) if compressed else raw  # type: ignore[assignment]
        with tarfile.open(fileobj=inner, mode="r|") as tar:
            for member in tar:
                if member.isfile() and _is_manifest(member.name):
                    return True
                if member.isfile() and member_name(member.name) == ".ARCHIVE_INDEX":
                    handle = tar.extractfile(member)
                    if handle is not None and b"moodle_backup.xml" in handle.read(_TAR_BYTES):
                        return True
                if member.offset_data + member.size > _TAR_BYTES:
                    return False  # skipping on would mean decompressing this member
    return False
