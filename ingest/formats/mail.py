"""E-mail: .eml (MIME, the stdlib `email` package) and Outlook .msg (python-oxmsg).

The subject is the title; From/To/Cc/Date go into metadata; the body is the plain-text part when
there is one, else the HTML part as text; attachments are listed by name (not read).
"""

from __future__ import annotations

import datetime as dt
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from lxml import html as lxml_html

from core.errors import ErrorCode, VraagbaakError
from ingest.formats.office import CFB_SIGNATURE
from ingest.parsed import Block, ParsedDocument
from ingest.text import decode

_PARAGRAPHS = re.compile(r"\n\s*\n")
_BLOCK_TAGS = ("p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre")


def parse_eml(path: Path, data: bytes) -> ParsedDocument:
    message = BytesParser(policy=policy.default).parsebytes(data)
    if not any(message.get(name) for name in ("from", "subject", "date", "message-id")):
        raise VraagbaakError(ErrorCode.PARSE_FAILED, "not an e-mail message (no From, Subject or Date header)")
    body = ""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is not None:
        body = _part_text(part)
        if part.get_content_subtype() == "html":
            body = html_text(body)
    attachments = [name for name in (_header_text(a.get_filename() or "") for a in message.iter_attachments())
                   if name]
    metadata = {key: value for key, value in (
        ("from", _header(message, "from")), ("to", _header(message, "to")), ("cc", _header(message, "cc")),
        ("date", _date(message.get("date"))), ("message_id", _header(message, "message-id")),
    ) if value}
    if message.get_content_type() in ("application/pkcs7-mime", "multipart/encrypted") and not body:
        raise VraagbaakError(ErrorCode.PARSE_FAILED, "the message is encrypted (S/MIME or PGP)")
    return _mail_document(_header(message, "subject"), body, attachments, metadata, "eml", "email")


def parse_msg(path: Path, data: bytes) -> ParsedDocument:
    from oxmsg import Message

    if not data.startswith(CFB_SIGNATURE):
        raise VraagbaakError(ErrorCode.PARSE_FAILED, "not an Outlook .msg file (no OLE compound file)")
    try:
        message = Message.load(data)
        subject, body, html = _z(message.subject), _z(message.body), _z(message.html_body)
        attachments = [_z(a.file_name) for a in message.attachments if _z(a.file_name)]
        metadata: dict[str, object] = {"from": _z(message.sender),
                                       "to": ", ".join(_recipient(r) for r in message.recipients),
                                       "date": message.sent_date.isoformat() if message.sent_date else "",
                                       "message_class": _z(message.message_class)}
    except Exception as exc:  # olefile and oxmsg raise many kinds; a damaged file is not a crash
        raise VraagbaakError(ErrorCode.PARSE_FAILED,
                             f"not a readable Outlook message ({type(exc).__name__}: {str(exc)[:160]})") from exc
    message_class = str(metadata["message_class"])
    if ".SMIME" in message_class.upper() or any(n.lower() == "smime.p7m" for n in attachments):
        raise VraagbaakError(ErrorCode.PARSE_FAILED, "the message is encrypted or signed with S/MIME")
    text = body.strip() or html_text(html)
    metadata = {k: v for k, v in metadata.items() if v}
    return _mail_document(subject, text, attachments, metadata, "msg", "python-oxmsg")


def html_text(html: str) -> str:
    """The readable text of an HTML body, one paragraph per block element."""
    if not html.strip():
        return ""
    tree = lxml_html.fromstring(html)
    for node in tree.xpath("//script|//style|//head"):
        node.drop_tree()
    for node in tree.iter(*_BLOCK_TAGS):
        node.tail = "\n\n" + (node.tail or "")
    return tree.text_content()


def _mail_document(subject: str, body: str, attachments: list[str], metadata: dict[str, object],
                   media_type: str, parser: str) -> ParsedDocument:
    blocks = [Block(" ".join(p.split()), "text") for p in _PARAGRAPHS.split(body.replace("\r\n", "\n"))
              if p.strip()]
    if attachments:
        metadata["attachments"] = attachments
        blocks.append(Block("Attachments: " + ", ".join(attachments), "text"))
    if not blocks and subject:
        blocks.append(Block(subject, "text"))  # a message that is all subject still says something
    return ParsedDocument(title=subject, blocks=tuple(blocks), media_type=media_type, metadata=metadata,
                          parser=parser)


def _part_text(part: EmailMessage) -> str:
    """A text part's content; an unknown or wrong charset falls back to detection."""
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except (LookupError, UnicodeError):
        pass
    payload = part.get_payload(decode=True)
    return decode(payload) if isinstance(payload, bytes) and payload.strip() else ""


def _header(message: EmailMessage, name: str) -> str:
    value = message.get(name)
    return _header_text(str(value)) if value is not None else ""


def _header_text(value: str) -> str:
    """A header as text; raw 8-bit bytes in it (not RFC 2047 encoded) are decoded by detection."""
    if any("\udc80" <= c <= "\udcff" for c in value):
        value = decode(value.encode("utf-8", "surrogateescape"))
    return " ".join(value.split())


def _date(value: object) -> str:
    if value is None:
        return ""
    when = getattr(value, "datetime", None)
    try:
        when = when or parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return ""
    return when.isoformat() if isinstance(when, dt.datetime) else ""


def _z(value: str | None) -> str:
    """A string property without the NUL terminators some writers leave in."""
    return (value or "").replace("\x00", "")


def _recipient(recipient: object) -> str:
    name = _z(getattr(recipient, "name", ""))
    address = _z(getattr(recipient, "email_address", ""))
    return f"{name} <{address}>" if name and address and name != address else (address or name)
