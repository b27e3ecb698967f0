"""The web side of privacy. uvicorn's access log keeps the method, the path and the status of each
request, never the client's address nor the query string (a compliance search holds question text,
a sign-in callback a code): the filter rewrites each access record before any handler sees it, however
uvicorn was started. At start-up, expired sessions, questions left waiting and gap-topic mentions of
records that are gone are purged (assistant/privacy.py)."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from assistant.privacy import purge_expired
from core.logging import kv

log = logging.getLogger(__name__)

ACCESS_LOGGER = "uvicorn.access"
CLIENT = "-"
QUERY = "?[query left out]"


class AccessLogPrivacy(logging.Filter):
    """uvicorn's access record `'%s - "%s %s HTTP/%s" %d'` (client, method, path with query, version,
    status) without the client address and the query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _client, method, path, version, status = args
            base, query, _ = str(path).partition("?")
            record.args = (CLIENT, method, base + (QUERY if query else ""), version, status)
        return True


def guard_access_log() -> None:
    """Put the filter on uvicorn's access logger (once)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, AccessLogPrivacy) for f in logger.filters):
        logger.addFilter(AccessLogPrivacy())


def start(app: FastAPI) -> None:
    """Lifespan: guard the access log; purge what has expired. A failed purge is logged, never fatal."""
    guard_access_log()
    try:
        purge_expired(app.state.database, app.state.settings.audit.retention_days)
    except Exception as exc:
        log.warning("privacy purge failed", extra=kv(error=f"{type(exc).__name__}: {exc}"[:300]))
