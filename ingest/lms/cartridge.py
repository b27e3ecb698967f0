"""IMS Common Cartridge 1.x (.imscc, or unpacked), including what Canvas adds to its exports.

Items in the organization are modules and lessons. A lesson is read according to its resource's type: web
content (HTML, or a PDF/DOCX/PPTX the general parser reads), web links, discussion topics, QTI quizzes
(questions and answer options), assignments and Canvas wiki pages. Canvas exports pages, assignments and
quizzes that sit in no module as resources only; those become lessons directly under the course.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from ingest.lms.archive import Archive
from ingest.lms.content import (
    Pages,
    attr,
    below,
    field_blocks,
    fragment_text,
    heading,
    is_document,
    is_html,
    kid,
    local,
    question_blocks,
    raw_text,
    text,
)
from ingest.lms.course import Course, Lesson, title_only
from ingest.lms.manifest import MANIFEST, Resource, is_cartridge, lesson_path, read_manifest
from ingest.parse import Block

_CANVAS_SETTINGS = "assignment_settings.xml"


@dataclass(frozen=True)
class _Read:
    kind: str
    entry: str
    title: str
    blocks: tuple[Block, ...]
    launch: str | None = None


class CartridgeReader:
    """Common Cartridge: imsmanifest.xml whose schema or namespaces say IMS CC."""

    def claims(self, archive: Archive) -> bool:
        return archive.find(MANIFEST) == MANIFEST and is_cartridge(archive)

    def read(self, archive: Archive) -> Course:
        manifest = read_manifest(archive)
        pages = Pages(archive)
        course_title = manifest.lom_title or manifest.title or archive.source.stem
        lessons: list[Lesson] = []
        placed: set[str] = set()
        for item in manifest.items:
            resource = manifest.resources.get(item.ref)
            if resource is None:
                pages.warnings.append(f"item '{item.title}' references missing resource '{item.ref}'")
                lessons.append(Lesson("", item.title, lesson_path(course_title, item, item.title), "webcontent",
                                      title_only(item.title), None))
                continue
            placed.add(resource.identifier)
            read = _read(resource, item.title, pages)
            if read is None:
                pages.warnings.append(f"'{item.title}': resource type '{resource.type}' is not read")
                read = _Read("other", resource.href or "", item.title, ())
            title = item.title or read.title
            lessons.append(Lesson(read.entry, title, lesson_path(course_title, item, title), read.kind,
                                  read.blocks or title_only(title), read.launch))
        for resource in _unplaced(manifest.resources, placed):
            read = _read(resource, "", pages)
            if read is None or not any(b.kind != "heading" for b in read.blocks):
                if read is not None and read.entry and pages.archive.find(read.entry):
                    pages.warnings.append(f"'{read.entry}' (in no module) has no text; skipped")
                continue
            title = read.title or posixpath.basename(read.entry)
            lessons.append(Lesson(read.entry, title, (course_title, title), read.kind, read.blocks, read.launch))
        return Course(format="imscc", title=course_title, lessons=tuple(lessons),
                      warnings=tuple(manifest.warnings + pages.warnings))


def _unplaced(resources: dict[str, Resource], placed: set[str]) -> list[Resource]:
    """Content resources no item points to (Canvas pages, assignments, quizzes outside modules)."""
    depended = {d for r in resources.values() for d in r.dependencies}
    chosen = []
    for resource in resources.values():
        if resource.identifier in placed or resource.identifier in depended or resource.variant_of:
            continue
        kind = resource.type.lower()
        href = resource.href or ""
        wiki = kind == "webcontent" and href.startswith("wiki_content/") and is_html(href)
        canvas = kind.startswith("associatedcontent") and (
            _settings(resource) is not None or href.endswith("course_settings/syllabus.html"))
        if wiki or canvas or kind.startswith(("imsdt_", "imswl_", "assignment_", "imsbasiclti_")) \
                or (kind.startswith("imsqti_") and kind.endswith("/assessment")):
            chosen.append(resource)
    return chosen


def _settings(resource: Resource) -> str | None:
    return next((f for f in resource.files if posixpath.basename(f) == _CANVAS_SETTINGS), None)


def _read(resource: Resource, title: str, pages: Pages) -> _Read | None:
    kind = resource.type.lower()
    for prefix, reader in _READERS:
        if kind.startswith(prefix) and (prefix != "imsqti_" or "assessment" in kind):
            return reader(resource, title, pages)
    return None


def _xml_file(resource: Resource) -> str | None:
    return resource.href or next((f for f in resource.files if f.lower().endswith((".xml", ".qti"))), None)


def _webcontent(resource: Resource, title: str, pages: Pages) -> _Read:
    entry = resource.href or next(iter(resource.files), "")
    kind = "wiki" if entry.startswith("wiki_content/") else "webcontent"
    if not entry or not is_document(entry):
        if entry:
            pages.warnings.append(f"'{title or entry}': '{entry}' is not a text format; kept with its title only")
        return _Read(kind, entry, title, ())
    found_title, blocks = pages.read([entry], title or entry)
    return _Read(kind, entry, title or found_title, blocks)


def _weblink(resource: Resource, title: str, pages: Pages) -> _Read:
    entry = _xml_file(resource) or ""
    root = pages.xml(entry, title or entry)
    own_title = text(kid(root, "title"))
    url = attr(kid(root, "url"), "href") or None
    name = title or own_title
    blocks = (heading(name), Block(f"{name}: {url}", "text")) if url else ()
    return _Read("url", entry, name, blocks, url)


def _titled_text(kind: str, resource: Resource, title: str, pages: Pages) -> _Read:
    """A discussion topic or an assignment: an XML file with a title and an (HTML) text."""
    entry = _xml_file(resource) or ""
    root = pages.xml(entry, title or entry)
    body = kid(root, "text")
    fmt = "html" if "html" in (attr(body, "texttype") or "text/html") else "text"
    return _Read(kind, entry, title or text(kid(root, "title")), field_blocks(raw_text(body), fmt))


def _discussion(resource: Resource, title: str, pages: Pages) -> _Read:
    return _titled_text("discussion", resource, title, pages)


def _assignment(resource: Resource, title: str, pages: Pages) -> _Read:
    return _titled_text("assignment", resource, title, pages)


def _lti(resource: Resource, title: str, pages: Pages) -> _Read:
    entry = _xml_file(resource) or ""
    root = pages.xml(entry, title or entry)
    name = title or text(kid(root, "title"))
    description = text(kid(root, "description"))
    url = text(kid(root, "secure_launch_url")) or text(kid(root, "launch_url")) or None
    blocks = (heading(name), Block(description, "text")) if description else ()
    return _Read("lti", entry, name, blocks, url)


def _canvas(resource: Resource, title: str, pages: Pages) -> _Read | None:
    """Canvas's associated content: an assignment (HTML + assignment_settings.xml) or the syllabus."""
    settings = _settings(resource)
    entry = resource.href or ""
    if settings is None and not entry.endswith("course_settings/syllabus.html"):
        return None
    if settings is None and pages.archive.find(entry) is None:
        return _Read("syllabus", entry, "", ())  # Canvas lists the syllabus even when there is none
    own_title = text(kid(pages.xml(settings, title or entry), "title")) if settings else "Syllabus"
    found_title, blocks = pages.read([entry], title or own_title) if is_html(entry) else ("", ())
    kind = "assignment" if settings else "syllabus"
    return _Read(kind, entry, title or own_title or found_title, blocks)


def _quiz(resource: Resource, title: str, pages: Pages) -> _Read:
    entry = next((f for f in resource.files if f.lower().endswith((".xml", ".qti"))), resource.href or "")
    root = pages.xml(entry, title or entry)
    assessment = next(below(root, "assessment"), None)
    blocks: list[Block] = []
    for number, item in enumerate(below(root, "item"), start=1):
        presentation = kid(item, "presentation")
        question = next((_mattext(m) for m in below(presentation, "mattext")
                         if not any(local(a) == "response_label" for a in m.iterancestors())), "")
        options = [_mattext(next(below(label, "mattext"), None)) for label in below(presentation, "response_label")]
        blocks.extend(question_blocks(number, question, options))
    return _Read("quiz", entry, title or attr(assessment, "title") or "", tuple(blocks))


def _mattext(element: etree._Element | None) -> str:
    if element is None:
        return ""
    value = raw_text(element)
    return fragment_text(value) if "html" in (attr(element, "texttype") or "") else " ".join(value.split())


_READERS: tuple[tuple[str, Callable[[Resource, str, Pages], _Read | None]], ...] = (
    ("webcontent", _webcontent),
    ("imswl_", _weblink),
    ("imsdt_", _discussion),
    ("imsqti_", _quiz),
    ("assignment_", _assignment),
    ("imsbasiclti_", _lti),
    ("associatedcontent", _canvas),
)
