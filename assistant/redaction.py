"""The personal text of an answer record, the salted digests that stand in for it in the audit hash,
and erasing it (GDPR art. 17) without breaking the hash chain.

Personal text is what the asker wrote or what was written for them: the question, the standalone
question, the answer, each answer sentence (`support[i].text`) and each quoted span (`cited[i].quote`,
from which an extractive answer is built). Since hash format 2 (`assistant/records.py`) the chain does
not hash that text itself but, per field, HMAC-SHA256 under a random per-record salt of `path` and
text. Erasure keeps those digests (in `redaction`), replaces the text with `ERASED` and deletes the
salt: the record still verifies, any other change to it is still detected, and without the salt a
digest cannot confirm a guess of what was asked. Records hashed in format 1 (before this existed)
lose their text the same way; their own hash can then no longer be recomputed, only their links.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

ERASED = "[erased at the user's request]"
"""Stands in every erased text field."""

TEXT_COLUMNS = ("question", "standalone_question", "answer")
LIST_FIELDS = (("support", "text"), ("cited", "quote"))
"""(column, key) of the personal text inside each entry of a JSON list column."""


def personal_text(row: Any) -> dict[str, str]:
    """The record's personal text by path (`question`, `support.0.text`, `cited.1.quote`, …)."""
    found = {name: value for name in TEXT_COLUMNS if isinstance(value := getattr(row, name), str)}
    for column, key in LIST_FIELDS:
        for index, entry in enumerate(getattr(row, column) or ()):
            if isinstance(entry, dict) and isinstance(entry.get(key), str):
                found[f"{column}.{index}.{key}"] = entry[key]
    return found


def field_digest(salt: str, path: str, value: str) -> str:
    return hmac.digest(salt.encode("utf-8"), f"{path}\n{value}".encode(), "sha256").hex()  # HMAC-SHA256


def field_digests(row: Any) -> dict[str, str]:
    """What stands in for the personal text in a format-2 hash: the digests kept at erasure, else
    those of the text under the record's salt."""
    kept = (row.redaction or {}).get("digests")
    if isinstance(kept, dict):
        return {str(path): str(digest) for path, digest in kept.items()}
    salt = row.salt or ""
    return {path: field_digest(salt, path, value) for path, value in personal_text(row).items()}


def with_digests(record: dict[str, Any], digests: dict[str, str]) -> dict[str, Any]:
    """A copy of the record's hashed columns with each personal text replaced by its digest. A digest
    whose place is gone (a list entry removed) is kept aside, so the hash still covers it."""
    out = dict(record)
    for column, _key in LIST_FIELDS:
        if isinstance(out.get(column), list):
            out[column] = [dict(e) if isinstance(e, dict) else e for e in out[column]]
    unplaced = {}
    for path, digest in sorted(digests.items()):
        column, _, rest = path.partition(".")
        if not rest:
            out[column] = digest
            continue
        index, _, key = rest.partition(".")
        entries = out.get(column)
        if index.isdigit() and isinstance(entries, list) and int(index) < len(entries) \
                and isinstance(entries[int(index)], dict):
            entries[int(index)][key] = digest
        else:
            unplaced[path] = digest
    if unplaced:
        out["unplaced_digests"] = unplaced
    return out


def redact(row: Any, *, at: datetime, reason: str, erasure_id: str, intact: bool) -> int:
    """Erase the record's personal text in place (the caller commits); returns how many fields.
    `intact`: whether the record's hash still matched just before — kept, because a format-1
    record's hash cannot be recomputed afterwards (format 2 keeps its digests and stays checkable)."""
    from assistant.records import timestamp

    texts = personal_text(row)
    digests = field_digests(row) if (row.hash_format or 1) >= 2 else None
    for name in TEXT_COLUMNS:
        if name in texts:
            setattr(row, name, ERASED)
    for column, key in LIST_FIELDS:
        entries = getattr(row, column)
        if entries:
            setattr(row, column, [{**e, key: ERASED} if isinstance(e, dict) and isinstance(e.get(key), str) else e
                                  for e in entries])
    row.salt = None
    row.redaction = {"at": timestamp(at), "reason": reason, "erasure_id": erasure_id, "fields": len(texts),
                     "intact_at_erasure": intact, **({"digests": digests} if digests is not None else {})}
    return len(texts)


def redaction_problem(row: Any) -> str | None:
    """For a redacted record: why it is not as erasure left it (text back in a field, digests that do
    not match its fields), else None."""
    texts = personal_text(row)
    if any(value != ERASED for value in texts.values()):
        return "a field erased at the user's request holds text again"
    digests = (row.redaction or {}).get("digests")
    if (row.hash_format or 1) >= 2 and (not isinstance(digests, dict) or set(digests) != set(texts)):
        return "the digests kept at erasure do not match the record's fields"
    return None
