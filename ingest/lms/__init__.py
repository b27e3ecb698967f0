"""E-learning packages → a course of lessons, each lesson one document for the index.

Formats: SCORM 1.2 and 2004 (and plain IMS content packages), cmi5, IMS Common Cartridge (Canvas exports
included) and Moodle course backups (.mbz). A package is a zip (.zip, .imscc, .mbz), a tar.gz (.mbz), an
unpacked folder, or, for cmi5, a course structure file on its own. Everything is read in memory within
`PackageLimits`; see `ingest/lms/archive.py` for what is refused and why.

    course = read_package(Path("phishing.zip"))
    for lesson in course.lessons:
        lesson.path, lesson.blocks, lesson.launch
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from core.errors import ErrorCode, VraagbaakError
from ingest.lms.archive import MANIFESTS, PackageLimits, open_archive
from ingest.lms.cartridge import CartridgeReader
from ingest.lms.cmi5 import Cmi5Reader
from ingest.lms.course import Course, CourseReader, Lesson
from ingest.lms.moodle import MoodleReader
from ingest.lms.scorm import ScormReader
from ingest.lms.sniff import sniff

__all__ = ["Course", "Lesson", "PackageLimits", "is_package", "read_package", "READERS"]

log = logging.getLogger(__name__)

# the first reader that claims a package reads it; a package with several manifests is read by the first
READERS: tuple[CourseReader, ...] = (MoodleReader(), Cmi5Reader(), CartridgeReader(), ScormReader())


def is_package(path: Path) -> bool:
    """Cheap sniff: a zip/imscc/mbz/tar.gz holding imsmanifest.xml, cmi5.xml or moodle_backup.xml at its root,
    a folder with one of those at its root, or a cmi5 course structure file on its own. A caller walking a
    tree reads a folder for which this is true as one package and does not descend into it."""
    return sniff(path)


def read_package(path: Path, limits: PackageLimits = PackageLimits()) -> Course:
    """Read a package into a course. VraagbaakError(PARSE_FAILED) with a clear reason when the package is
    invalid, unsafe or too large; (EMPTY_DOCUMENT) when none of its lessons has any text."""
    with open_archive(path, limits) as archive:
        reader = next((r for r in READERS if r.claims(archive)), None)
        if reader is None:
            raise VraagbaakError(ErrorCode.PARSE_FAILED,
                                 f"'{path.name}' has no {', '.join(MANIFESTS[:-1])} or {MANIFESTS[-1]} at its root; "
                                 f"it is not a SCORM, cmi5, Common Cartridge or Moodle backup package")
        course = reader.read(archive)
        warnings = tuple(archive.warnings) + course.warnings
    if not any(lesson.has_text for lesson in course.lessons):
        reasons = "; ".join(warnings[:3])
        found = f"none of the {len(course.lessons)} lessons" if course.lessons else "no lesson"
        raise VraagbaakError(ErrorCode.EMPTY_DOCUMENT, f"{found} in '{path.name}' has any text"
                                                       + (f" ({reasons})" if reasons else ""))
    log.info("package read", extra={"ctx": {"package": path.name, "format": course.format,
                                            "lessons": len(course.lessons), "warnings": len(warnings)}})
    return dataclasses.replace(course, warnings=warnings)
