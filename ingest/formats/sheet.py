"""Spreadsheets: XLSX/XLSM through openpyxl (read-only, cached formula values) and CSV.

Each sheet becomes a heading (its name) and its rows as `cell | cell` lines, cut into table blocks
of a few dozen rows that each start with the sheet's first row (usually the column names), so a
chunk of a long sheet still says what its columns are. Empty rows and columns are left out.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from core.errors import ErrorCode, VraagbaakError
from ingest.formats.office import check_package, package_properties
from ingest.lifecycle import lifecycle_metadata
from ingest.parsed import Block, ParsedDocument
from ingest.text import decode, rows_text

MAX_ROWS = 5_000  # per sheet; the rest is left out with a warning
MAX_COLUMNS = 100
_ROWS_PER_BLOCK = 40
_WORDS_PER_BLOCK = 200


def parse_xlsx(path: Path, data: bytes) -> ParsedDocument:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    check_package(data, "xlsx")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError) as exc:
        raise VraagbaakError(ErrorCode.PARSE_FAILED, f"not a readable workbook ({str(exc)[:160]})") from exc
    blocks: list[Block] = []
    warnings: list[str] = []
    try:
        for sheet in workbook.worksheets:
            if getattr(sheet, "sheet_state", "visible") != "visible":
                continue  # hidden sheets hold lookups and scratch work, not what people read
            rows, truncated = _limited(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True))
            rows = _without_empty_columns([[_cell(v) for v in row] for row in rows])
            if truncated:
                warnings.append(f"sheet '{sheet.title}' has more than {MAX_ROWS} rows; only the first "
                                f"{MAX_ROWS} were read")
            if (sheet.max_column or 0) > MAX_COLUMNS:
                warnings.append(f"sheet '{sheet.title}' has {sheet.max_column} columns; only the first "
                                f"{MAX_COLUMNS} were read")
            if rows:
                blocks.append(Block(sheet.title, "heading", 1))
                blocks.extend(_table_blocks(rows))
    finally:
        workbook.close()
    raw = package_properties(data)
    metadata: dict[str, object] = {"sheets": [s.title for s in workbook.worksheets]}
    metadata.update(lifecycle_metadata(raw))
    warnings.extend(metadata.pop("warnings", []))  # type: ignore[arg-type]
    if warnings:
        metadata["warnings"] = warnings
    return ParsedDocument(title=str(raw.get("title") or ""), blocks=tuple(blocks), media_type="xlsx",
                          metadata=metadata, parser="openpyxl")


def parse_csv(path: Path, data: bytes) -> ParsedDocument:
    text = decode(data)
    sample = text[:20_000]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=";,\t|")
    except csv.Error:
        dialect = csv.excel  # one column, or too irregular to tell: commas
    rows, truncated = _limited(csv.reader(io.StringIO(text), dialect))
    rows = _without_empty_columns([[" ".join(cell.split()) for cell in row[:MAX_COLUMNS]] for row in rows])
    metadata: dict[str, object] = {"delimiter": dialect.delimiter}
    if truncated:
        metadata["warnings"] = [f"the file has more than {MAX_ROWS} rows; only the first {MAX_ROWS} were read"]
    return ParsedDocument(title="", blocks=tuple(_table_blocks(rows)), media_type="csv", metadata=metadata,
                          parser="csv")


def _limited(rows: Iterable[Sequence[object]]) -> tuple[list[Sequence[object]], bool]:
    """Up to MAX_ROWS non-empty rows, and whether there were more."""
    kept: list[Sequence[object]] = []
    for row in rows:
        if not any(v is not None and str(v).strip() for v in row):
            continue
        if len(kept) == MAX_ROWS:
            return kept, True
        kept.append(row)
    return kept, False


def _without_empty_columns(rows: list[list[str]]) -> list[list[str]]:
    width = max((len(r) for r in rows), default=0)
    used = [c for c in range(width) if any(c < len(r) and r[c] for r in rows)]
    return [[r[c] if c < len(r) else "" for c in used] for r in rows]


def _table_blocks(rows: list[list[str]]) -> list[Block]:
    """Rows in blocks of a few dozen; each block after the first repeats the header row."""
    if not rows:
        return []
    header, blocks, piece, words = rows[0], [], [rows[0]], 0
    for row in rows[1:]:
        row_words = sum(len(cell.split()) for cell in row)
        if len(piece) > 1 and (len(piece) >= _ROWS_PER_BLOCK or words + row_words > _WORDS_PER_BLOCK):
            blocks.append(Block(rows_text(piece), "table"))
            piece, words = [header], 0
        piece.append(row)
        words += row_words
    blocks.append(Block(rows_text(piece), "table"))
    return blocks


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.10g}"
    return " ".join(str(value).split())
