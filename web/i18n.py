"""Interface texts in Dutch and English, one module per area in `web/texts/` (merged here)."""

from __future__ import annotations

from functools import cache

from web.texts import admin, auth, common, compliance, employee, learning, review

AREAS = (common, auth, employee, compliance, learning, admin, review)
LANGUAGES = ("nl", "en")


@cache
def _merged(language: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for area in AREAS:
        merged.update(area.TEXTS[language])
    return merged


def texts(language: str) -> dict[str, str]:
    return _merged("en" if language == "en" else "nl")


def disclosure(language: str) -> str:
    return texts(language)["disclosure"]


def duplicate_or_missing_keys() -> list[str]:
    """Keys defined twice across areas, or in one language only (a test keeps this empty)."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for area in AREAS:
        nl, en = area.TEXTS["nl"], area.TEXTS["en"]
        problems += [f"{area.__name__}: {k} only in {'nl' if k in nl else 'en'}" for k in set(nl) ^ set(en)]
        for key in nl:
            if key in seen:
                problems.append(f"{key} in {seen[key]} and {area.__name__}")
            seen[key] = area.__name__
    return problems
