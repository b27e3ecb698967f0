"""A package's members, read in memory: zip (also .imscc, .mbz), tar.gz (.mbz), a folder, or one XML file.

Nothing is extracted to disk. Member names are normalised to relative posix paths; a member with an
absolute path, a `..` segment or a link is skipped with a warning (and the whole package refused when it
is the manifest). The limits are checked on the declared sizes when the package is opened and again on
the bytes actually read, so a zip bomb or a gzip bomb stops with a clear reason instead of filling memory.
Members that are archives themselves are never opened: nested packages are not followed.
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import re
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from core.errors import ErrorCode, VraagbaakError

MANIFESTS = ("imsmanifest.xml", "cmi5.xml", "moodle_backup.xml")
STANDALONE_CMI5 = "cmi5.xml"
# members below this size are never called bombs: small text compresses far better than large files do
RATIO_FLOOR = 1 << 20
# a tar stream is kept in memory only for the members a reader can use; media and blobs are counted, not kept
_KEPT_SUFFIXES = (".xml", ".html", ".htm", ".xhtml", ".txt", ".text", ".md", ".markdown", ".qti", ".pdf", ".docx",
                  ".pptx")
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class PackageLimits:
    """How far a package may expand before it is refused (zip bombs, runaway exports)."""

    max_members: int = 20000
    max_total_bytes: int = 500_000_000
    max_member_bytes: int = 50_000_000
    max_ratio: float = 200.0


def member_name(raw: str) -> str | None:
    """A member's relative posix path, or None when it is absolute or climbs out of the package."""
    name = raw.replace("\\", "/")
    if not name or name.startswith("/") or _DRIVE.match(name) or "\x00" in name:
        return None
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def resolve_href(base: str, href: str) -> str | None:
    """An href from a manifest as a member path relative to the package root (query and fragment dropped).

    Returns None for an external URL or a path that leaves the package; `base` is the folder the href is
    relative to ("" for the root)."""
    href = href.strip()
    if not href:
        return None
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or href.startswith("//"):
        return None
    path = unquote(parts.path).replace("\\", "/")
    if not path or path.startswith("/") or _DRIVE.match(path):
        return None
    joined = posixpath.normpath(posixpath.join(base, path))
    if joined == ".." or joined.startswith("../") or joined.startswith("/"):
        return None
    return member_name(joined)


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _refuse(message: str) -> VraagbaakError:
    return VraagbaakError(ErrorCode.PARSE_FAILED, message)


class Archive:
    """The members of one package by normalised name. Use as a context manager."""

    standalone = False  # True for a lone course-structure file: nothing else can be in the package

    def __init__(self, source: Path, limits: PackageLimits) -> None:
        self.source = source
        self.limits = limits
        self.warnings: list[str] = []
        self._members: dict[str, object] = {}   # name → backend key
        self._sizes: dict[str, int] = {}
        self._lower: dict[str, str] | None = None
        self._read_total = 0
        self._declared_total = 0
        self._unsafe: list[str] = []

    # -- what a reader uses ------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Member names in package order (files only)."""
        return list(self._members)

    def find(self, name: str | None) -> str | None:
        """The member called `name`, matching case-insensitively when the exact name is absent."""
        if not name:
            return None
        if name in self._members:
            return name
        if self._lower is None:
            self._lower = {}
            for member in self._members:
                self._lower.setdefault(member.lower(), member)
        return self._lower.get(name.lower())

    def read(self, name: str) -> bytes:
        """A member's bytes; VraagbaakError when it is too large, unreadable, or would pass the total."""
        if name not in self._members:
            raise _refuse(f"'{name}' is not in the package")
        declared = self._sizes.get(name, 0)
        if declared > self.limits.max_member_bytes:
            raise _refuse(f"'{name}' is {_size(declared)} (limit {_size(self.limits.max_member_bytes)} a file)")
        data = self._read(name, self._members[name])
        if len(data) > self.limits.max_member_bytes:
            raise _refuse(f"'{name}' expands to more than {_size(self.limits.max_member_bytes)} "
                          f"(limit {_size(self.limits.max_member_bytes)} a file)")
        self._read_total += len(data)
        if self._read_total > self.limits.max_total_bytes:
            raise _refuse(f"package expands to more than {_size(self._read_total)} while reading "
                          f"(limit {_size(self.limits.max_total_bytes)})")
        return data

    def close(self) -> None:
        """Release the open file, if any."""

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- for the backends --------------------------------------------------------------------------

    def _read(self, name: str, key: object) -> bytes:
        raise NotImplementedError

    def _add(self, raw: str, key: object, size: int, *, link: bool = False) -> None:
        name = member_name(raw)
        if name is None or link:
            self._unsafe.append(raw)
            why = "is a link" if link else "has an unsafe path"
            self.warnings.append(f"member '{raw}' {why}; skipped")
            return
        if len(self._members) >= self.limits.max_members:
            raise _refuse(f"package has more than {self.limits.max_members} members (limit {self.limits.max_members})")
        if size > self.limits.max_member_bytes:
            raise _refuse(f"member '{name}' expands to {_size(size)} "
                          f"(limit {_size(self.limits.max_member_bytes)} a file)")
        self._declared_total += size
        if self._declared_total > self.limits.max_total_bytes:
            raise _refuse(f"package expands to more than {_size(self._declared_total)} "
                          f"(limit {_size(self.limits.max_total_bytes)})")
        self._members[name] = key
        self._sizes[name] = size

    def _settle(self) -> None:
        """After listing: refuse an unsafe manifest; re-root a package zipped with its folder around it."""
        if not any(m in self._members for m in MANIFESTS):
            for raw in self._unsafe:
                if posixpath.basename(raw.replace("\\", "/")) in MANIFESTS:
                    raise _refuse(f"the package's manifest has an unsafe path or is a link ('{raw}'); refused")
            tops = {name.split("/", 1)[0] for name in self._members}
            if len(tops) == 1 and all("/" in name for name in self._members):
                top = tops.pop()
                if any(f"{top}/{m}" in self._members for m in MANIFESTS):
                    cut = len(top) + 1
                    self._members = {name[cut:]: key for name, key in self._members.items()}
                    self._sizes = {name[cut:]: size for name, size in self._sizes.items()}
                    self.warnings.append(f"the package's content sits in folder '{top}/'; read from there")


class ZipArchive(Archive):
    def __init__(self, source: Path, limits: PackageLimits) -> None:
        super().__init__(source, limits)
        try:
            self._zip = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise _refuse(f"not a readable zip archive (truncated or corrupt: {exc})") from exc
        try:
            infos = self._zip.infolist()
            if len(infos) > limits.max_members:
                raise _refuse(f"package has {len(infos)} members (limit {limits.max_members})")
            declared = sum(info.file_size for info in infos)
            if declared > limits.max_total_bytes:
                raise _refuse(f"package expands to {_size(declared)} (limit {_size(limits.max_total_bytes)})")
            for info in infos:
                if info.is_dir():
                    continue
                self._check_ratio(info)
                mode = info.external_attr >> 16
                self._add(info.filename, info, info.file_size, link=stat.S_ISLNK(mode))
            self._settle()
        except BaseException:
            self._zip.close()
            raise

    def _check_ratio(self, info: zipfile.ZipInfo) -> None:
        if info.file_size <= RATIO_FLOOR:
            return
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > self.limits.max_ratio:
            raise _refuse(f"member '{info.filename}' expands {ratio:.0f} times, to {_size(info.file_size)} "
                          f"(limit {self.limits.max_ratio:.0f} times): a zip bomb?")

    def _read(self, name: str, key: object) -> bytes:
        assert isinstance(key, zipfile.ZipInfo)
        if key.flag_bits & 0x1:
            raise _refuse(f"'{name}' is encrypted")
        try:
            with self._zip.open(key) as handle:
                return handle.read(self.limits.max_member_bytes + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError,
                ValueError) as exc:
            raise _refuse(f"cannot read '{name}' from the zip ({type(exc).__name__}: {exc})") from exc

    def close(self) -> None:
        self._zip.close()


class _CountingReader(io.RawIOBase):
    """A decompressed stream that refuses to expand past the package limits (gzip bombs)."""

    def __init__(self, inner: BinaryIO, compressed_size: int, limits: PackageLimits) -> None:
        self._inner = inner
        self._compressed = max(compressed_size, 1)
        self._limits = limits
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        # tar headers and padding add a little over the members' own sizes
        if self.count > self._limits.max_total_bytes + (self._limits.max_members + 2) * 1024:
            raise _refuse(f"package expands to more than {_size(self.count)} "
                          f"(limit {_size(self._limits.max_total_bytes)})")
        ratio = self.count / self._compressed
        if self.count > RATIO_FLOOR and ratio > self._limits.max_ratio:
            raise _refuse(f"package expands {ratio:.0f} times its compressed size "
                          f"(limit {self._limits.max_ratio:.0f} times): a gzip bomb?")
        return n


class TarArchive(Archive):
    """A tar or tar.gz, read in one streaming pass; members a reader can use are kept in memory."""

    def __init__(self, source: Path, limits: PackageLimits, *, compressed: bool) -> None:
        super().__init__(source, limits)
        self._data: dict[str, bytes] = {}
        try:
            with source.open("rb") as raw:
                inner: BinaryIO = gzip.GzipFile(fileobj=raw) if compressed else raw  # type: ignore[assignment]
                counter = _CountingReader(inner, source.stat().st_size, limits)
                stream = io.BufferedReader(counter, buffer_size=1 << 16)
                with tarfile.open(fileobj=stream, mode="r|") as tar:
                    for member in tar:
                        self._take(tar, member)
        except VraagbaakError:
            raise
        except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise _refuse(f"not a readable tar archive (truncated or corrupt: {type(exc).__name__}: {exc})") from exc
        self._settle()

    def _take(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        if member.isdir():
            return
        if member.issym() or member.islnk():
            self._add(member.name, member.name, 0, link=True)
            return
        if not member.isfile():
            self.warnings.append(f"member '{member.name}' is not a regular file; skipped")
            return
        self._add(member.name, member.name, member.size)
        name = member_name(member.name)
        if name is not None and name.lower().endswith(_KEPT_SUFFIXES):
            handle = tar.extractfile(member)
            if handle is not None:
                self._data[member.name] = handle.read(self.limits.max_member_bytes + 1)

    def _read(self, name: str, key: object) -> bytes:
        assert isinstance(key, str)
        if key not in self._data:
            raise _refuse(f"'{name}' is not a text format; its content was not kept")
        return self._data[key]


class FolderArchive(Archive):
    """An unpacked package on disk; links are not followed."""

    def __init__(self, source: Path, limits: PackageLimits) -> None:
        super().__init__(source, limits)
        for folder, dirs, files in os.walk(source, followlinks=False):
            for linked in [d for d in dirs if (Path(folder) / d).is_symlink()]:
                self._add((Path(folder) / linked).relative_to(source).as_posix(), None, 0, link=True)
                dirs.remove(linked)
            dirs.sort()
            for file in sorted(files):
                path = Path(folder) / file
                rel = path.relative_to(source).as_posix()
                if path.is_symlink():
                    self._add(rel, path, 0, link=True)
                elif path.is_file():
                    self._add(rel, path, path.stat().st_size)
        self._settle()

    def _read(self, name: str, key: object) -> bytes:
        assert isinstance(key, Path)
        with key.open("rb") as handle:
            return handle.read(self.limits.max_member_bytes + 1)


class SingleFileArchive(Archive):
    """A cmi5 course structure on its own (allowed by cmi5 when every AU has an absolute URL)."""

    standalone = True

    def __init__(self, source: Path, limits: PackageLimits) -> None:
        super().__init__(source, limits)
        self._add(STANDALONE_CMI5, source, source.stat().st_size)

    def _read(self, name: str, key: object) -> bytes:
        assert isinstance(key, Path)
        return key.read_bytes()


def head_of(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def is_zip(head: bytes) -> bool:
    return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))


def is_gzip(head: bytes) -> bool:
    return head.startswith(b"\x1f\x8b")


def is_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def looks_like_course_structure(head: bytes) -> bool:
    text = head.decode("utf-8", errors="replace")
    return re.search(r"<(\w+:)?courseStructure[\s>]", text) is not None


def open_archive(path: Path, limits: PackageLimits) -> Archive:
    """Open a package for reading; VraagbaakError when it is not an archive or folder we can read."""
    if path.is_file() and path.name in MANIFESTS:  # the manifest of an unpacked package: read its folder
        path = path.parent
    if path.is_dir():
        return FolderArchive(path, limits)
    if not path.is_file():
        raise _refuse(f"'{path.name}' does not exist")
    head = head_of(path)
    if is_zip(head):
        return ZipArchive(path, limits)
    if is_gzip(head):
        return TarArchive(path, limits, compressed=True)
    if is_tar(head):
        return TarArchive(path, limits, compressed=False)
    if looks_like_course_structure(head):
        return SingleFileArchive(path, limits)
    shown = head[:24].decode("utf-8", errors="replace").replace("\n", " ").strip()
    raise _refuse(f"'{path.name}' is not a zip or tar.gz package, nor a cmi5 course structure "
                  f"(it starts with '{shown}')")
