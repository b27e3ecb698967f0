"""Lifecycle metadata: who owns a document, which version it is, and when it takes effect, is
reviewed, expires or was superseded.

Documents carry this in many spellings: DOCX/PPTX/XLSX core and custom properties ("Owner",
"Eigenaar", "Ingangsdatum"), PDF document-info keys, Markdown front matter (`effective_date`),
and sidecar files. `lifecycle_metadata` maps all of them onto one set of keys:

    owner, doc_version, effective, review, expires, superseded_by

with dates as ISO strings (`2025-03-01`). A value that cannot be read is left out and named in
`warnings`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping

log = logging.getLogger(__name__)

LIFECYCLE_KEYS = ("owner", "doc_version", "effective", "review", "expires", "superseded_by")
DATE_KEYS = frozenset({"effective", "review", "expires"})

# names as written in properties and front matter, compared without case, spaces, "_" or "-"
_NAMES: dict[str, tuple[str, ...]] = {
    "owner": ("owner", "eigenaar", "documentowner", "documenteigenaar", "policyowner", "beleidseigenaar",
              "verantwoordelijke"),
    "doc_version": ("docversion", "version", "versie", "documentversion", "documentversie", "versionnumber",
                    "versienummer"),
    "effective": ("effective", "effectivedate", "effectivefrom", "ingangsdatum", "datumingang", "geldigvanaf",
                  "validfrom", "inwerkingtreding"),
    "review": ("review", "reviewdate", "nextreview", "nextreviewdate", "herzieningsdatum", "herziening",
               "reviewdatum", "evaluatiedatum", "herzien"),
    "expires": ("expires", "expiry", "expirydate", "expirationdate", "expiresdate", "vervaldatum", "geldigtot",
                "validuntil", "validto", "verloopt"),
    "superseded_by": ("supersededby", "vervangendoor", "replacedby", "vervangen"),
}
_KEY_OF = {name: key for key, names in _NAMES.items() for name in names}
_AUTHOR_NAMES = ("author", "auteur", "creator")  # the owner only when no owner is named

_MONTHS = {
    "januari": 1, "january": 1, "jan": 1, "februari": 2, "february": 2, "feb": 2, "maart": 3, "march": 3,
    "mrt": 3, "mar": 3, "april": 4, "apr": 4, "mei": 5, "may": 5, "juni": 6, "june": 6, "jun": 6,
    "juli": 7, "july": 7, "jul": 7, "augustus": 8, "august": 8, "aug": 8, "september": 9, "sept": 9,
    "sep": 9, "oktober": 10, "october": 10, "okt": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[t ].*)?$")  # matched against lower case
_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_D_MONTH_Y = re.compile(r"^(\d{1,2})\.?\s+([a-z]+)\.?,?\s+(\d{4})$")
_MONTH_D_Y = re.compile(r"^([a-z]+)\.?\s+(\d{1,2}),?\s+(\d{4})$")
_PDF_DATE = re.compile(r"^d:(\d{4})(\d{2})(\d{2})")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def lifecycle_metadata(raw: Mapping[str, object]) -> dict[str, object]:
    """The lifecycle keys found in `raw` (any of the spellings above), normalised.

    Dates become ISO date strings, versions and names strings. Unreadable values are left out and
    described in a `warnings` list (only present when there is something to say).
    """
    found: dict[str, object] = {}
    warnings: list[str] = []
    author = None
    for name, value in raw.items():
        compact = _compact(str(name))
        key = _KEY_OF.get(compact)
        if key is None:
            if compact in _AUTHOR_NAMES and author is None:
                author = _text(value)
            continue
        if key in found or _is_blank(value):
            continue  # the first spelling met wins; empty fields say nothing
        if key in DATE_KEYS:
            date = parse_date(value)
            if date is None:
                warnings.append(f"ignored {name!s}: '{str(value)[:40]}' is not a date")
                continue
            found[key] = date.isoformat()
        else:
            text = _text(value)
            if text:
                found[key] = text
    if "owner" not in found and author:
        found["owner"] = author
    if warnings:
        log.info("lifecycle values ignored", extra={"ctx": {"warnings": warnings}})
        found["warnings"] = warnings
    return found


def parse_date(value: object) -> dt.date | None:
    """A date from a date/datetime, or from text as ISO, dd-mm-yyyy, `1 maart 2025` or `March 1, 2025`."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = " ".join(str(value).strip().lower().split())
    for pattern, order in ((_ISO, "ymd"), (_PDF_DATE, "ymd"), (_COMPACT, "ymd"), (_DMY, "dmy")):
        match = pattern.match(text)
        if match:
            parts = dict(zip(order, (int(g) for g in match.groups()), strict=True))
            return _date(parts["y"], parts["m"], parts["d"])
    match = _D_MONTH_Y.match(text)
    if match and match.group(2) in _MONTHS:
        return _date(int(match.group(3)), _MONTHS[match.group(2)], int(match.group(1)))
    match = _MONTH_D_Y.match(text)
    if match and match.group(1) in _MONTHS:
        return _date(int(match.group(3)), _MONTHS[match.group(1)], int(match.group(2)))
    return None


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _compact(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value if not _is_blank(v))
    return " ".join(str(value).split()) if value is not None else ""
