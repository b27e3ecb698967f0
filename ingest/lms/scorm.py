"""SCORM 1.2 and SCORM 2004 packages (and plain IMS content packages): the default organization's items are
modules and lessons; each lesson is the launch file of its resource, then the resource's other HTML files."""

from __future__ import annotations

import posixpath
import re

from ingest.lms.archive import Archive
from ingest.lms.content import Pages, is_document, is_html
from ingest.lms.course import Course, Lesson, title_only
from ingest.lms.manifest import (
    MANIFEST,
    Item,
    Manifest,
    Resource,
    is_cartridge,
    launch_link,
    lesson_path,
    read_manifest,
)

_LANGUAGE_SUFFIX = re.compile(r"[_-]([a-z]{2})$", re.IGNORECASE)
_NUMBERS = re.compile(r"(\d+)")


class ScormReader:
    """SCORM 1.2 / 2004 / IMS content package: imsmanifest.xml that is not a Common Cartridge."""

    def claims(self, archive: Archive) -> bool:
        return archive.find(MANIFEST) == MANIFEST and not is_cartridge(archive)

    def read(self, archive: Archive) -> Course:
        manifest = read_manifest(archive)
        pages = Pages(archive)
        course_title = manifest.title or archive.source.stem
        items = manifest.items or _resource_items(manifest)
        unlisted = _unlisted_html(archive, manifest)
        lessons = []
        for item in items:
            resource = manifest.resources.get(item.ref)
            if resource is None:
                pages.warnings.append(f"item '{item.title}' references missing resource '{item.ref}'")
                lessons.append(Lesson(entry="", title=item.title, path=lesson_path(course_title, item, item.title),
                                      kind="sco", blocks=title_only(item.title), launch=None))
                continue
            lessons.append(self._lesson(course_title, item, resource, pages, unlisted))
        warnings = tuple(manifest.warnings + pages.warnings)
        return Course(format=_version(manifest), title=course_title, lessons=tuple(lessons), warnings=warnings)

    def _lesson(self, course_title: str, item: Item, resource: Resource, pages: Pages,
                unlisted: list[str]) -> Lesson:
        title = item.title
        entry = resource.href or next(iter(resource.files), "")
        names = [entry] if entry and is_document(entry) else []
        names += [f for f in resource.files if is_html(f) and f != entry]
        found_title, blocks = pages.read(names, title or entry)
        title = title or found_title or posixpath.basename(entry)
        if not any(b.kind != "heading" for b in blocks) and is_html(entry):
            extra = _player_pages(entry, unlisted, pages.used)
            if extra:
                pages.warnings.append(
                    f"'{title}': '{entry}' has no text of its own (a script-driven player?); read {len(extra)} "
                    f"HTML files beside it that the manifest does not list")
                blocks = blocks + pages.read(extra, title)[1]
        kind = resource.scormtype if resource.scormtype in ("sco", "asset") else "asset"
        return Lesson(entry=entry, title=title, path=lesson_path(course_title, item, title), kind=kind,
                      blocks=blocks or title_only(title), launch=launch_link(resource, item.parameters))


def _version(manifest: Manifest) -> str:
    version = manifest.schemaversion.lower()
    if version.startswith("1.2"):
        return "scorm12"
    if "2004" in version or "1.3" in version:
        return "scorm2004"
    if any("adlcp_rootv1p2" in ns for ns in manifest.namespaces):
        return "scorm12"
    if any("adlcp_v1p3" in ns or "adlseq" in ns for ns in manifest.namespaces):
        return "scorm2004"
    return "imscp"


def _resource_items(manifest: Manifest) -> list[Item]:
    """A package without organization: every resource with a launch file is a lesson."""
    return [Item(title="", modules=(), ref=r.identifier, parameters="")
            for r in manifest.resources.values() if r.href and is_document(r.href)]


def _unlisted_html(archive: Archive, manifest: Manifest) -> list[str]:
    declared = manifest.declared()
    names = [n for n in archive.names() if is_html(n) and n not in declared]
    # shallow pages first (media embeds sit deeper than chapters), then in natural order (m3-9 before m3-10)
    return sorted(names, key=lambda n: (n.count("/"), [int(p) if p.isdigit() else p.lower()
                                                       for p in _NUMBERS.split(n)]))


def _player_pages(entry: str, unlisted: list[str], used: set[str]) -> list[str]:
    """Pages a script-driven player loads at run time: unlisted HTML under the launch file's folder, in the
    launch file's language when its name has one (index_en.html → *_en.html and files without a language)."""
    folder = posixpath.dirname(entry)
    prefix = f"{folder}/" if folder else ""
    language = _LANGUAGE_SUFFIX.search(posixpath.splitext(posixpath.basename(entry))[0])
    chosen = []
    for name in unlisted:
        if not name.startswith(prefix) or name in used:
            continue
        own = _LANGUAGE_SUFFIX.search(posixpath.splitext(posixpath.basename(name))[0])
        if language and own and own.group(1).lower() != language.group(1).lower():
            continue
        chosen.append(name)
    return chosen
