"""Moodle course backups (.mbz, zip or tar.gz): moodle_backup.xml lists the sections and activities;
sections/section_N/section.xml names a section; activities/<module>_<id>/<module>.xml holds an activity's
text in escaped HTML fields. Each activity is a lesson under its section, in the course's own order.

Read: page, book (chapters), label, url, lesson (pages), glossary (entries), forum, assignment and quiz
(intro, and the quiz's questions from questions.xml), plus the intro of any other module. Not read: the
files of file/folder activities (a warning says so), SCORM or IMS packages inside the backup (never
followed), and forum posts (people's own contributions, not course material).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from core.errors import ErrorCode, VraagbaakError
from ingest.lms.archive import Archive
from ingest.lms.content import (
    Pages,
    below,
    field_blocks,
    fragment_text,
    heading,
    kid,
    kids,
    local,
    parse_xml,
    question_blocks,
    raw_text,
    text,
)
from ingest.lms.course import Course, Lesson, title_only
from ingest.parse import Block

BACKUP = "moodle_backup.xml"
_FORMATS = {"0": "html", "1": "html", "2": "text", "4": "markdown"}   # Moodle's FORMAT_MOODLE/HTML/PLAIN/MARKDOWN
_KINDS = {"assign": "assignment", "resource": "file"}
_OPTION_QTYPES = {"multichoice", "truefalse", "multichoiceset", "oumultiresponse"}


@dataclass(frozen=True)
class _Activity:
    moduleid: str
    sectionid: str
    modulename: str
    title: str
    directory: str


@dataclass(frozen=True)
class _Section:
    number: int
    name: str
    summary: tuple[Block, ...]
    sequence: tuple[str, ...]
    entry: str


class MoodleReader:
    """A Moodle backup: moodle_backup.xml at the package root."""

    def claims(self, archive: Archive) -> bool:
        return archive.find(BACKUP) == BACKUP

    def read(self, archive: Archive) -> Course:
        root = parse_xml(archive.read(BACKUP), BACKUP)
        if local(root) != "moodle_backup":
            raise VraagbaakError(ErrorCode.PARSE_FAILED, f"{BACKUP} has root element <{local(root)}>, "
                                                         f"expected <moodle_backup>")
        information = kid(root, "information")
        contents = kid(information, "contents")
        if contents is None:
            raise VraagbaakError(ErrorCode.PARSE_FAILED, f"{BACKUP} lists no contents (no <information>/<contents>)")
        pages = Pages(archive)
        course_xml = pages.xml("course/course.xml", "course") if archive.find("course/course.xml") else None
        title = (text(kid(course_xml, "fullname")) or text(kid(information, "original_course_fullname"))
                 or archive.source.stem)
        sections = {text(kid(s, "sectionid")): self._section(s, pages) for s in kids(kid(contents, "sections"))}
        activities = [_Activity(*(text(kid(a, f)) for f in ("moduleid", "sectionid", "modulename", "title",
                                                              "directory")))
                      for a in kids(kid(contents, "activities"), "activity")]
        quizzes = _QuestionBank(archive, pages)
        placed: list[tuple[tuple[int, int, int], Lesson]] = []  # (course order, lesson)
        for section in sections.values():
            if any(b.kind != "heading" for b in section.summary):
                placed.append(((section.number, -1, 0), Lesson(section.entry, section.name, (title, section.name),
                                                               "section", section.summary, None)))
        for index, activity in enumerate(activities):
            section = sections.get(activity.sectionid)
            where = (title, section.name) if section else (title,)
            placed.append((_course_order(index, activity, section), _lesson(activity, where, pages, quizzes)))
        lessons = tuple(lesson for _, lesson in sorted(placed, key=lambda pair: pair[0]))
        return Course(format="moodle", title=title, lessons=lessons, warnings=tuple(pages.warnings))

    def _section(self, listed: etree._Element, pages: Pages) -> _Section:
        directory = text(kid(listed, "directory"))
        entry = f"{directory}/section.xml"
        root = pages.xml(entry, f"section {text(kid(listed, 'title'))}") if directory else None
        number_text = text(kid(root, "number")) or text(kid(listed, "title"))
        number = int(number_text) if number_text.isdigit() else 0
        name = text(kid(root, "name"))
        if not name:
            listed_title = text(kid(listed, "title"))
            name = listed_title if listed_title and not listed_title.isdigit() else (
                "General" if number == 0 else f"Section {number}")
        summary = _field(root, "summary")
        return _Section(number, name, summary, tuple(text(kid(root, "sequence")).split(",")), entry)


def _course_order(index: int, activity: _Activity, section: _Section | None) -> tuple[int, int, int]:
    """Section number, then the place in the section's sequence, then the backup's order."""
    if section is None:
        return (1 << 30, 0, index)
    position = section.sequence.index(activity.moduleid) if activity.moduleid in section.sequence else 1 << 20
    return (section.number, position, index)


def _field(node: etree._Element | None, name: str) -> tuple[Block, ...]:
    """A text field and its <name>format sibling, as blocks."""
    element = kid(node, name)
    fmt = _FORMATS.get(text(kid(node, f"{name}format")), "html")
    return field_blocks(raw_text(element), fmt)


def _lesson(activity: _Activity, where: tuple[str, ...], pages: Pages, quizzes: _QuestionBank) -> Lesson:
    module = activity.modulename
    entry = f"{activity.directory}/{module}.xml"
    kind = _KINDS.get(module, module)
    root = pages.xml(entry, activity.title) if activity.directory else None
    node = kid(root, module)
    name = text(kid(node, "name")) or activity.title
    if node is None:
        return Lesson(entry, name, where + (name,), kind, title_only(name), None)
    blocks, launch = _MODULES.get(module, _intro_only)(node, name, pages, quizzes)
    return Lesson(entry, name, where + (name,), kind, tuple(blocks) or title_only(name), launch)


_Handler = Callable[[etree._Element, str, Pages, "_QuestionBank"], tuple[list[Block], str | None]]


def _intro_only(node: etree._Element, name: str, pages: Pages, quizzes: _QuestionBank) -> tuple[list[Block], None]:
    return list(_field(node, "intro")), None


def _page(node: etree._Element, name: str, pages: Pages, quizzes: _QuestionBank) -> tuple[list[Block], None]:
    intro, content = _field(node, "intro"), _field(node, "content")
    same = [b.text for b in intro] == [b.text for b in content[:len(intro)]]
    return list(content if same else intro + content), None


def _book(node: etree._Element, name: str, pages: Pages, quizzes: _QuestionBank) -> tuple[list[Block], None]:
    blocks = list(_field(node, "intro"))
    for chapter in below(kid(node, "chapters"), "chapter"):
        if text(kid(chapter, "hidden")) == "1":
            continue
        level = 2 if text(kid(chapter, "subchapter")) == "1" else 1
        title = text(kid(chapter, "title"))
        if title:
            blocks.append(heading(title, level))
        blocks.extend(_field(chapter, "content"))
    return blocks, None


def _lesson_pages(node: etree._Element, name: str, pages: Pages, quizzes: _QuestionBank) -> tuple[list[Block], None]:
    blocks = list(_field(node, "intro"))
    for page in below(kid(node, "pages"), "page"):
        title = text(kid(page, "title"))
        if title:
            blocks.append(heading(title))
        blocks.extend(_field(page, "contents"))
    return blocks, None


def _glossary(node: etree._Element, name: str, pages: Pages, quizzes: _QuestionBank) -> tuple[list[Block], None]:
    blocks = list(_field(node, "intro"))
    for entry in below(kid(node, "entries"), "entry"):
        concept = text(kid(entry, "concept"))
        if concept:
            blocks.append(heading(concept, 2))
        blocks.extend(_field(entry, "definition"))
    return blocks, None


def _url(node: etree._Element, name: str, pages: Pages, quizzes: _QuestionBank) -> tuple[list[Block], str | None]:
    url = text(kid(node, "externalurl")) or None
    blocks = list(_field(node, "intro"))
    if url:
        blocks.append(Block(f"{name}: {url}", "text"))
    return blocks, url


def _assign(node: etree._Element, name: str, pages: Pages, quizzes: _QuestionBank) -> tuple[list[Block], None]:
    return list(_field(node, "intro") + _field(node, "activity")), None


def _files(node: etree._Element, name: str, pages: Pages, quizzes: _QuestionBank) -> tuple[list[Block], None]:
    pages.warnings.append(f"'{name}': the files of a {local(node)} activity are not read (only its description)")
    return list(_field(node, "intro")), None


def _package(node: etree._Element, name: str, pages: Pages, quizzes: _QuestionBank) -> tuple[list[Block], None]:
    pages.warnings.append(f"'{name}': the {local(node)} package inside the backup is not followed "
                          f"(only its description is read)")
    return list(_field(node, "intro")), None


def _quiz(node: etree._Element, name: str, pages: Pages, quizzes: _QuestionBank) -> tuple[list[Block], None]:
    blocks = list(_field(node, "intro"))
    for number, question in enumerate(quizzes.of(node), start=1):
        qtype = text(kid(question, "qtype"))
        options = [fragment_text(raw_text(kid(a, "answertext"))) for a in below(question, "answer")] \
            if qtype in _OPTION_QTYPES else []
        blocks.extend(question_blocks(number, fragment_text(raw_text(kid(question, "questiontext"))), options))
    return blocks, None


_MODULES: dict[str, _Handler] = {
    "page": _page, "book": _book, "lesson": _lesson_pages, "glossary": _glossary, "url": _url,
    "assign": _assign, "resource": _files, "folder": _files, "scorm": _package, "imscp": _package,
    "quiz": _quiz,
}


class _QuestionBank:
    """questions.xml, read when the first quiz asks: questions by id, by bank entry (Moodle 4) and by category."""

    def __init__(self, archive: Archive, pages: Pages) -> None:
        self._archive = archive
        self._pages = pages
        self._loaded = False
        self.by_id: dict[str, etree._Element] = {}
        self.by_entry: dict[str, etree._Element] = {}
        self.by_category: dict[str, list[etree._Element]] = {}

    def _load(self) -> None:
        self._loaded = True
        if self._archive.find("questions.xml") is None:
            return
        root = self._pages.xml("questions.xml", "question bank")
        for category in kids(root, "question_category"):
            questions = self.by_category.setdefault(category.get("id", ""), [])
            for question in below(category, "question"):
                self.by_id[question.get("id", "")] = question
            entries = list(below(category, "question_bank_entry"))
            for entry in entries:  # Moodle 4: versions of one question; the last is the current one
                versions = list(below(entry, "question"))
                if versions:
                    self.by_entry[entry.get("id", "")] = versions[-1]
                    questions.append(versions[-1])
            if not entries:
                questions.extend(below(category, "question"))

    def of(self, quiz: etree._Element) -> list[etree._Element]:
        """The quiz's questions in slot order; a random slot stands for the questions of its category."""
        if not self._loaded:
            self._load()
        found: list[etree._Element] = []
        for instance in below(kid(quiz, "question_instances"), "question_instance"):
            # Moodle 2.7-3.x name the question in <questionid>, up to 2.6 in <question>
            question = self.by_id.get(text(kid(instance, "questionid")) or text(kid(instance, "question")))
            reference = next(below(instance, "question_reference"), None)
            if question is None and reference is not None:
                question = self.by_entry.get(text(kid(reference, "questionbankentryid")))
            if question is not None and text(kid(question, "qtype")) != "random":
                found.append(question)
                continue
            category = self._category_of(instance, question)
            found.extend(q for q in self.by_category.get(category, []) if text(kid(q, "qtype")) != "random")
        unique: dict[int, etree._Element] = {}
        for question in found:
            unique.setdefault(id(question), question)
        return list(unique.values())

    def _category_of(self, instance: etree._Element, random: etree._Element | None) -> str:
        if random is not None:
            parent = next((a for a in random.iterancestors() if local(a) == "question_category"), None)
            return parent.get("id", "") if parent is not None else ""
        reference = next(below(instance, "question_set_reference"), None)
        try:
            condition = json.loads(text(kid(reference, "filtercondition")) or "{}")
        except ValueError:
            return ""
        if not isinstance(condition, dict):
            return ""
        if "questioncategoryid" in condition:
            return str(condition["questioncategoryid"])
        values = condition.get("filter", {}).get("category", {}).get("values", [])  # Moodle 4.3+
        return str(values[0]) if isinstance(values, list) and values else ""
