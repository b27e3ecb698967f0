"""Turning what a package holds into text: its XML (matched on local names, so any namespace or version
works) and its HTML files and escaped HTML fields, through the same parser as every other document."""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Iterator
from pathlib import Path

from lxml import etree
from lxml import html as lxml_html

from core.errors import ErrorCode, VraagbaakError
from ingest.lms.archive import Archive
from ingest.parse import Block, media_type_of, parse_file

_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                              remove_comments=True, remove_pis=True)
_HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".shtml")
_SPACES = re.compile(r"\s+")
PREFERRED_LANGUAGES = ("nl", "en")
MOODLE_NULL = "$@NULL@$"


# -- XML ------------------------------------------------------------------------------------------

def parse_xml(data: bytes, what: str) -> etree._Element:
    """The root element; VraagbaakError naming the file and the first error when it is not XML."""
    if not data.strip():
        raise VraagbaakError(ErrorCode.PARSE_FAILED, f"{what} is empty")
    try:
        return etree.fromstring(data, parser=_XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise VraagbaakError(ErrorCode.PARSE_FAILED, f"{what} is not well-formed XML ({exc})") from exc


def local(element: object) -> str:
    """An element's name without namespace ("" for comments and the like)."""
    tag = getattr(element, "tag", None)
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def kids(element: etree._Element | None, name: str | None = None) -> list[etree._Element]:
    """Direct child elements, all or those with this local name."""
    if element is None:
        return []
    return [c for c in element if local(c) and (name is None or local(c) == name)]


def kid(element: etree._Element | None, name: str) -> etree._Element | None:
    return next(iter(kids(element, name)), None)


def path(element: etree._Element | None, *names: str) -> etree._Element | None:
    """The first element down a chain of child names."""
    for name in names:
        element = kid(element, name)
    return element


def below(element: etree._Element | None, name: str) -> Iterator[etree._Element]:
    """Descendants with this local name, in document order."""
    if element is None:
        return iter(())
    return (e for e in element.iter() if local(e) == name)


def attr(element: etree._Element | None, name: str) -> str | None:
    """An attribute by local name, ignoring case and namespace (adlcp:scormType and adlcp:scormtype alike)."""
    if element is None:
        return None
    wanted = name.lower()
    for key, value in element.attrib.items():
        if str(key).rsplit("}", 1)[-1].lower() == wanted:
            return str(value)
    return None


def text(element: etree._Element | None) -> str:
    """All text inside an element, whitespace collapsed; Moodle's null marker reads as empty."""
    if element is None:
        return ""
    value = _SPACES.sub(" ", "".join(element.itertext())).strip()
    return "" if value == MOODLE_NULL else value


def raw_text(element: etree._Element | None) -> str:
    """An element's text as stored (an escaped HTML field, unescaped by the XML parser)."""
    if element is None:
        return ""
    value = "".join(element.itertext()).strip()
    return "" if value == MOODLE_NULL else value


def langstring(element: etree._Element | None) -> str:
    """The best of several <langstring lang=..> (cmi5) or <string language=..> (LOM): Dutch, English, first."""
    if element is None:
        return ""
    options = [(attr(e, "lang") or attr(e, "language") or "", text(e)) for e in element.iter()
               if local(e) in ("langstring", "string") and text(e)]
    if not options:
        return text(element)
    for preferred in PREFERRED_LANGUAGES:
        for lang, value in options:
            if lang.lower().split("-")[0] == preferred:
                return value
    return options[0][1]


# -- text -----------------------------------------------------------------------------------------

def heading(title: str, level: int = 1) -> Block:
    return Block(title, "heading", level)


def is_html(name: str) -> bool:
    return name.lower().endswith(_HTML_SUFFIXES)


def is_document(name: str) -> bool:
    """Whether the general parser reads this member (HTML, PDF, DOCX, PPTX, Markdown, text)."""
    return is_html(name) or media_type_of(Path(name)) is not None


def document_blocks(name: str, data: bytes) -> tuple[str, tuple[Block, ...]]:
    """A member's title and blocks; ("", ()) when it has no text. VraagbaakError when it cannot be parsed."""
    suffix = posixpath.splitext(name)[1].lower()
    parse_as = Path(name).with_suffix(".html") if suffix in (".xhtml", ".shtml") else Path(name)
    try:
        parsed = parse_file(parse_as, data)  # the bytes are given: nothing is read from disk
    except VraagbaakError as exc:
        if exc.code is ErrorCode.EMPTY_DOCUMENT:
            return "", ()
        raise
    return parsed.title, parsed.blocks


def field_blocks(value: str, fmt: str = "html") -> tuple[Block, ...]:
    """Blocks from a text field stored in a package: escaped HTML (default), "markdown" or "text"."""
    if not value.strip():
        return ()
    if fmt == "html" and "<" not in value:
        value, fmt = html.unescape(value), "text"
    name = {"html": "field.html", "markdown": "field.md"}.get(fmt, "field.txt")
    data = (f"<html><body>{value}</body></html>" if fmt == "html" else value).encode("utf-8")
    try:
        return document_blocks(name, data)[1]
    except VraagbaakError:
        flat = fragment_text(value) if fmt == "html" else value
        return (Block(flat, "text"),) if flat.strip() else ()


def fragment_text(value: str) -> str:
    """A short HTML fragment (a quiz option) as one line of text."""
    if not value.strip():
        return ""
    if "<" not in value:
        return _SPACES.sub(" ", html.unescape(value)).strip()
    try:
        tree = lxml_html.fragment_fromstring(value, create_parent="div")
    except (etree.ParserError, ValueError):
        return _SPACES.sub(" ", re.sub(r"<[^>]+>", " ", value)).strip()
    for br in tree.iter("br", "p", "li", "div"):
        br.tail = " " + (br.tail or "")
    return _SPACES.sub(" ", tree.text_content()).strip()


def question_blocks(number: int, question: str, options: list[str]) -> list[Block]:
    """One quiz question as text and its answer options as list items (which option is right is not said)."""
    blocks = [Block(f"{number}. {question}" if question else f"{number}.", "text")]
    blocks.extend(Block("• " + option, "list") for option in options if option)
    return blocks


class Pages:
    """Reads package members into lesson text; each member's text goes to the first lesson that asks."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.used: set[str] = set()
        self.warnings: list[str] = []

    def read(self, names: list[str], lesson: str) -> tuple[str, tuple[Block, ...]]:
        """The first member's title and the blocks of all of them, in order; a missing or unreadable
        member is a warning, a member already read for another lesson is passed over."""
        first_title = ""
        blocks: list[Block] = []
        for wanted in names:
            name = self.archive.find(wanted)
            if name is None:
                self.warnings.append(f"'{lesson}': '{wanted}' is not in the package")
                continue
            if name in self.used:
                continue
            self.used.add(name)
            try:
                title, found = document_blocks(name, self.archive.read(name))
            except VraagbaakError as exc:
                self.warnings.append(f"'{lesson}': cannot read '{name}' ({exc.message})")
                continue
            first_title = first_title or title
            if blocks and found and title and found[0].kind != "heading":
                blocks.append(heading(title))
            blocks.extend(found)
        return first_title, tuple(blocks)

    def xml(self, name: str | None, lesson: str) -> etree._Element | None:
        """A member parsed as XML, or None with a warning when it is missing or not XML."""
        member = self.archive.find(name)
        if member is None:
            self.warnings.append(f"'{lesson}': '{name}' is not in the package" if name
                                 else f"'{lesson}': its resource names no file")
            return None
        self.used.add(member)
        try:
            return parse_xml(self.archive.read(member), f"'{member}'")
        except VraagbaakError as exc:
            self.warnings.append(f"'{lesson}': {exc.message}")
            return None
