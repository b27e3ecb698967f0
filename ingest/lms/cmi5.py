"""cmi5 course packages: cmi5.xml's course → blocks (modules) → AUs (lessons). An AU whose launch URL is a
file in the package is read from it; otherwise (a remote AU, or a file the package lacks) its text is its
title and description. The course structure is checked for what makes it unusable: not XML, no course or
title, AUs without a valid URL, ids that are not IRIs or are used twice, relative URLs without a package."""

from __future__ import annotations

import re

from lxml import etree

from core.errors import ErrorCode, VraagbaakError
from ingest.lms.archive import STANDALONE_CMI5, Archive, resolve_href
from ingest.lms.content import Pages, attr, heading, is_document, kid, kids, langstring, local, parse_xml, text
from ingest.lms.course import Course, Lesson
from ingest.parse import Block

_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_URL_BAD = re.compile(r"[\s\x00-\x1f\x7f<>\"{}|\\^`]")


def _invalid(message: str) -> VraagbaakError:
    return VraagbaakError(ErrorCode.PARSE_FAILED, f"invalid cmi5.xml: {message}")


class Cmi5Reader:
    """A zip or folder with cmi5.xml at its root, or a course structure file on its own."""

    def claims(self, archive: Archive) -> bool:
        return archive.find(STANDALONE_CMI5) == STANDALONE_CMI5

    def read(self, archive: Archive) -> Course:
        root = parse_xml(archive.read(STANDALONE_CMI5), STANDALONE_CMI5)
        if local(root) != "courseStructure":
            raise _invalid(f"the root element is <{local(root)}>, expected <courseStructure>")
        course = kid(root, "course")
        if course is None:
            raise _invalid("there is no <course> element")
        title = langstring(kid(course, "title"))
        if not title:
            raise _invalid("the course has no title")
        seen: dict[str, str] = {}
        _check_id(course, "course", seen)
        walk = _Walk(archive, Pages(archive), seen)
        walk.children(root, (title,))
        if not walk.lessons:
            raise _invalid("the course has no AU (assignable unit)")
        return Course(format="cmi5", title=title, lessons=tuple(walk.lessons),
                      warnings=tuple(walk.pages.warnings))


def _check_id(element: etree._Element, what: str, seen: dict[str, str]) -> str:
    identifier = (attr(element, "id") or "").strip()
    if not identifier:
        raise _invalid(f"a {what} has no id")
    if not _IRI.match(identifier):
        raise _invalid(f"{what} id '{identifier}' is not an IRI (it needs a scheme, such as https:)")
    if identifier in seen:
        raise _invalid(f"id '{identifier}' is used twice ({seen[identifier]} and {what})")
    seen[identifier] = what
    return identifier


class _Walk:
    def __init__(self, archive: Archive, pages: Pages, seen: dict[str, str]) -> None:
        self.archive = archive
        self.pages = pages
        self.seen = seen
        self.lessons: list[Lesson] = []
        self.first_user: dict[str, str] = {}

    def children(self, parent: etree._Element, path: tuple[str, ...]) -> None:
        for element in kids(parent):
            if local(element) == "block":
                identifier = _check_id(element, "block", self.seen)
                title = langstring(kid(element, "title")) or identifier
                self.children(element, path + (title,))
            elif local(element) == "au":
                self.lessons.append(self.au(element, path))

    def au(self, element: etree._Element, path: tuple[str, ...]) -> Lesson:
        identifier = _check_id(element, "AU", self.seen)
        title = langstring(kid(element, "title"))
        if not title:
            raise _invalid(f"AU '{identifier}' has no title")
        description = langstring(kid(element, "description"))
        url = text(kid(element, "url"))
        if not url:
            raise _invalid(f"AU '{title}' has no launch URL")
        if _URL_BAD.search(url):
            raise _invalid(f"AU '{title}' has an invalid launch URL '{url}'")
        relative = not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url)
        if relative and self.archive.standalone:
            raise _invalid(f"AU '{title}' has the relative URL '{url}', but a course structure without a "
                           f"package needs absolute URLs")
        blocks: tuple[Block, ...] = ()
        entry = STANDALONE_CMI5
        if relative:
            member = resolve_href("", url)
            found = self.archive.find(member)
            if member is None:
                self.pages.warnings.append(f"'{title}': launch URL '{url}' leaves the package; ignored")
            elif found is None:
                self.pages.warnings.append(f"'{title}': launch file '{member}' is not in the package; "
                                           f"kept with its title and description")
            else:
                entry = found
                if found in self.first_user:
                    self._note_shared(found, title)
                elif is_document(found):
                    self.first_user[found] = title
                    blocks = self.pages.read([found], title)[1]
        about = (Block(description, "text"),) if description else ()
        if not any(b.kind != "heading" for b in blocks):
            blocks = (heading(title),) + about
        else:
            blocks = about + blocks
        return Lesson(entry=entry, title=title, path=path + (title,), kind="au", blocks=blocks, launch=url)

    def _note_shared(self, member: str, title: str) -> None:
        first = self.first_user[member]
        note = f"several AUs launch '{member}'; its text is kept with the first ('{first}'), the others " \
               f"have their title and description"
        if note not in self.pages.warnings:
            self.pages.warnings.append(note)
