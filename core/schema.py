"""The index schema: one Qdrant collection, a named dense vector and a named sparse BM25 vector.

Every point is one chunk; its payload carries what retrieval filters on and what a citation
and a deep link need. The names here are the contract between ingest and assistant.
"""

from __future__ import annotations

DENSE = "dense"
SPARSE = "bm25"

# Payload keys.
DOC_ID = "doc_id"
VERSION = "version"
SOURCE_ID = "source_id"
URI = "uri"
PATH = "path"
TITLE = "title"
MEDIA_TYPE = "media_type"
SECTION_PATH = "section_path"
PAGE = "page"
TEXT = "text"
LANGUAGE = "language"
START = "start"
END = "end"
ORDINAL = "ordinal"
CHUNK_COUNT = "chunk_count"
GROUPS = "groups"
DOC_LANGUAGE = "doc_language"
LINK = "link"
LIFECYCLE = "lifecycle"
ACTIVE = "active"
"""False while a new document version is being written; readers never see such points. The
switch to the new version (activate new, delete old) is one step under the store's lock."""
INDEXED_AT = "indexed_at"
SUPERSEDED = "superseded"
EFFECTIVE_TS = "effective_ts"
EXPIRES_TS = "expires_ts"
"""Lifecycle: a superseded document, one whose expiry date has passed and one not yet effective
are left out of answers unless `retrieval.include_stale` is set (filtered inside the query)."""

WINDOWS_SUFFIX = "-windows"
"""The second collection, `<collection>-windows`: one point per window of consecutive chunks of a
document (ingest.chunk.windows) with its dense vector and the document's access and lifecycle
payload, so the same filters apply inside its query. Hybrid retrieval ranks windows and gives each
chunk its window's vote (core.store.QdrantStore.search)."""
FIRST = "first"
LAST = "last"
WHOLE = "whole"
"""Payload of a window: the ordinals of its first and last chunk; whether it is the whole document
(those do not vote)."""

KEYWORD_INDEXES = (DOC_ID, VERSION, SOURCE_ID, GROUPS, LANGUAGE, MEDIA_TYPE)
BOOL_INDEXES = (ACTIVE, SUPERSEDED, WHOLE)
FLOAT_INDEXES = (EFFECTIVE_TS, EXPIRES_TS)
"""Payload fields a Qdrant server indexes (local mode scans and needs none)."""
