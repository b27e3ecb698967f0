"""What an e-learning package reads into: a course of lessons, each one document for the index."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ingest.lms.archive import Archive
from ingest.parse import Block


@dataclass(frozen=True)
class Lesson:
    """One unit a learner opens (SCO, AU, page, quiz, ...), with its text and where it sits in the course."""

    entry: str                  # path inside the package of the lesson's launch/content file (posix, relative)
    title: str
    path: tuple[str, ...]       # course → module(s) → lesson title
    kind: str                   # "sco" | "asset" | "au" | "webcontent" | "wiki" | "page" | "book" | "quiz" | ...
    blocks: tuple[Block, ...]   # the lesson's text; a lesson without readable content has its title only
    launch: str | None          # what a deep link opens (SCORM/cmi5 launch, weblink URL), else None

    @property
    def has_text(self) -> bool:
        """Whether the lesson has body text, not just its title."""
        return any(block.kind != "heading" for block in self.blocks)


@dataclass(frozen=True)
class Course:
    format: str                 # "scorm12" | "scorm2004" | "imscp" | "cmi5" | "imscc" | "moodle"
    title: str
    lessons: tuple[Lesson, ...]
    warnings: tuple[str, ...]   # what was skipped or missing, e.g. "item X references missing resource Y"


class CourseReader(Protocol):
    """One package format: whether a package is in it, and reading it into a course."""

    def claims(self, archive: Archive) -> bool:
        """Whether this reader reads the package (its manifest is at the package root)."""
        ...

    def read(self, archive: Archive) -> Course:
        """The course; VraagbaakError(PARSE_FAILED) when the manifest is missing or invalid."""
        ...


def title_only(title: str) -> tuple[Block, ...]:
    """The blocks of a lesson kept without content: its title as a heading (or nothing without one)."""
    return (Block(title, "heading", 1),) if title else ()
