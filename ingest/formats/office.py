"""What Office Open XML files (DOCX, PPTX, XLSX) share: the ZIP package, its document properties,
and the two look-alikes that are not readable packages at all: a password-protected file (an
OLE compound file holding `EncryptionInfo` and `EncryptedPackage`) and an old binary .doc/.xls/.ppt
saved under a new suffix."""

from __future__ import annotations

import io
import logging
import zipfile

from lxml import etree

from core.errors import ErrorCode, VraagbaakError

log = logging.getLogger(__name__)

CFB_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE compound file (old Office, MSG, encrypted OOXML)
_NOUN = {"docx": "document", "pptx": "presentation", "xlsx": "workbook"}
_OLD = {"docx": ".doc", "pptx": ".ppt", "xlsx": ".xls"}
_CORE_NAMES = {"title": "title", "creator": "author", "version": "version", "subject": "subject",
               "keywords": "keywords", "category": "category", "contentStatus": "status"}


def check_package(data: bytes, kind: str) -> None:
    """Raise a clear PARSE_FAILED when `data` is not an OOXML package of this kind."""
    if data.startswith(CFB_SIGNATURE):
        if is_encrypted_package(data):
            raise VraagbaakError(ErrorCode.PARSE_FAILED, f"the {_NOUN[kind]} is password-protected")
        raise VraagbaakError(ErrorCode.PARSE_FAILED,
                             f"this is an old binary Office file ({_OLD[kind]}) with a .{kind} name: "
                             f"open it in Office and save it as .{kind}")
    if not data.startswith(b"PK"):
        raise VraagbaakError(ErrorCode.PARSE_FAILED, f"not a .{kind} file (no Office Open XML package)")


def is_encrypted_package(data: bytes) -> bool:
    """A compound file with an `EncryptionInfo` stream: how Office stores a password-protected OOXML file.

    Directory entries hold stream names in UTF-16LE, so the name is looked for as such.
    """
    return data.startswith(CFB_SIGNATURE) and "EncryptionInfo".encode("utf-16-le") in data


def package_properties(data: bytes) -> dict[str, object]:
    """Core properties (title, author, version, ...) and custom properties (any name) of a package.

    Custom properties come first, so an explicit "Version" outranks the core one.
    """
    custom: dict[str, object] = {}
    core: dict[str, object] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            names = set(package.namelist())
            if "docProps/custom.xml" in names:
                root = etree.fromstring(package.read("docProps/custom.xml"))
                for prop in root:
                    name = prop.get("name")
                    value = next(iter(prop), None)
                    if name and value is not None and value.text:
                        custom[name] = value.text.strip()
            if "docProps/core.xml" in names:
                root = etree.fromstring(package.read("docProps/core.xml"))
                for element in root:
                    local = etree.QName(element).localname
                    if local in _CORE_NAMES and element.text and element.text.strip():
                        core[_CORE_NAMES[local]] = element.text.strip()
    except (zipfile.BadZipFile, etree.XMLSyntaxError, KeyError, OSError) as exc:
        log.info("no readable document properties", extra={"ctx": {"error": str(exc)[:200]}})
    return {**custom, **{k: v for k, v in core.items() if k not in custom}}
