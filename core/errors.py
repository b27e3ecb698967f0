"""One error type for the whole product, with a code that the web layer maps to an HTTP status."""

from __future__ import annotations

import enum


class ErrorCode(enum.Enum):
    """Why something failed. `web/` maps each code to an HTTP status; nothing else knows HTTP."""

    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    UNAUTHORIZED = "unauthorized"
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    UNSUPPORTED_FILE = "unsupported_file"
    PARSE_FAILED = "parse_failed"
    PARSE_TIMEOUT = "parse_timeout"
    EMPTY_DOCUMENT = "empty_document"
    FILE_TOO_LARGE = "file_too_large"
    MODEL_UNAVAILABLE = "model_unavailable"
    STORE_UNAVAILABLE = "store_unavailable"
    LLM_UNAVAILABLE = "llm_unavailable"
    IDP_UNAVAILABLE = "idp_unavailable"
    DATASET_INVALID = "dataset_invalid"
    CONFIG_INVALID = "config_invalid"
    INTERNAL = "internal"


class VraagbaakError(Exception):
    """An expected failure with a code and a message fit to show to the person who caused it."""

    def __init__(self, code: ErrorCode, message: str, **context: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message
