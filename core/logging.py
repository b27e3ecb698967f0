"""Logging set-up: one line per event, with key=value context."""

from __future__ import annotations

import logging
import sys


class KeyValueFormatter(logging.Formatter):
    """Formats records as `time level logger message key=value ...` from the record's `ctx` extra."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        ctx = getattr(record, "ctx", None)
        if ctx:
            pairs = " ".join(f"{key}={value!r}" if isinstance(value, str) and " " in value else f"{key}={value}"
                             for key, value in ctx.items())
            return f"{base} {pairs}"
        return base


def configure_logging(level: str = "INFO") -> None:
    """Route the root logger to stderr with the key=value format; quiet noisy libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "urllib3", "sentence_transformers", "transformers", "unstructured",
                  "pdfminer", "filelock", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def kv(**context: object) -> dict[str, dict[str, object]]:
    """`log.info("indexed", extra=kv(doc_id=...))` attaches key=value context to one record."""
    return {"ctx": context}
