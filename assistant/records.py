"""Answer records: every answer (and every refusal, with its reason) is stored in the application
database with what is needed to audit it later — who asked (pseudonymously), what was retrieved and
cited (with the version hash of each cited document), how it was generated and verified, and the
time per stage. The compliance and content-gap views are built on these records.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from assistant.retrieve import Retrieval
from core.db import AnswerRecord, Database
from core.errors import ErrorCode, VraagbaakError
from core.logging import kv
from core.settings import Settings
from core.types import Answer

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
"""The user id of questions asked without signing in."""

_KEY_FILE = "pseudonym.key"


def pseudonym(user_id: str, secret: str) -> str:
    """The user id as stored: HMAC-SHA256 under the installation's secret (hex). Stable for one user
    and one secret; without the secret it cannot be traced back, nor recomputed from a guessed id."""
    return hmac.new(secret.encode("utf-8"), user_id.encode("utf-8"), hashlib.sha256).hexdigest()


def installation_secret(data_dir: Path) -> str:
    """The per-installation pseudonym key kept in the data folder, created (random, readable by the
    owner only) on first use."""
    path = data_dir / _KEY_FILE
    if path.is_file():
        secret = path.read_text(encoding="utf-8").strip()
        if secret:
            return secret
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    log.info("pseudonym key created", extra=kv(path=str(path)))
    return secret


@dataclass(frozen=True)
class GeneratorInfo:
    """What wrote the answer beyond the generator's name: the model and the prompt template version."""

    model: str = ""
    prompt_version: str | None = None


class AnswerLog:
    """Stores answer records in the application database."""

    def __init__(self, database: Database, secret: str) -> None:
        if not secret:
            raise VraagbaakError(ErrorCode.CONFIG_INVALID, "The pseudonym secret must not be empty.")
        self.database = database
        self._secret = secret

    @classmethod
    def build(cls, settings: Settings, database: Database) -> AnswerLog:
        """With the configured pseudonym secret, or the installation's own key in the data folder."""
        configured = settings.answer.pseudonym_secret
        secret = configured.get_secret_value() if configured else installation_secret(settings.data_dir)
        return cls(database, secret)

    def pseudonym(self, user_id: str | None) -> str:
        return pseudonym(user_id or ANONYMOUS, self._secret)

    def record(self, answer: Answer, retrieval: Retrieval | None, user: str | None,
               info: GeneratorInfo = GeneratorInfo()) -> str:
        """Store one answer; returns the record id. A failed write raises `VraagbaakError`
        (STORE_UNAVAILABLE): the caller decides whether the answer may still be given."""
        hits = retrieval.hits if retrieval is not None else ()
        row = AnswerRecord(
            record_id=uuid.uuid4().hex,
            user_pseudonym=self.pseudonym(user),
            question=answer.question,
            standalone_question=answer.standalone_question,
            language=answer.language,
            answered=answer.answered,
            verdict=answer.verdict,
            refusal_reason=answer.refusal_reason,
            answer=answer.text,
            confidence=float(answer.confidence),
            support_rate=answer.support_rate,
            support=[{"sentence": i, "support": s.support, "supported": s.supported, "citations": list(s.citations)}
                     for i, s in enumerate(answer.sentences)] if answer.answered else [],
            retrieved=[{"chunk_id": h.passage.chunk_id, "doc_id": h.passage.doc_id, "version": h.passage.version,
                        "score": float(h.score), "dense_score": float(h.dense_score)} for h in hits],
            cited=[{"number": c.number, "chunk_id": c.chunk_id, "doc_id": c.doc_id, "version": c.version,
                    "uri": c.uri, "quote_start": c.quote_start, "quote_end": c.quote_end, "score": float(c.score)}
                   for c in answer.citations],
            generator=answer.generator,
            model=info.model,
            prompt_version=info.prompt_version,
            timings_ms=dict(answer.timings_ms),
            thread_id=answer.thread_id,
        )
        try:
            with self.database.session() as session:
                session.add(row)
        except Exception as exc:
            raise VraagbaakError(ErrorCode.STORE_UNAVAILABLE,
                                 f"The answer could not be recorded: {type(exc).__name__}: {str(exc)[:200]}") from exc
        return row.record_id
