"""Test files in the OLE compound file format (CFB, [MS-CFB] version 3): an Outlook .msg
([MS-OXMSG]) and the container Office uses for a password-protected workbook.

No library here writes these, so a small writer builds them: streams under 4096 bytes go into
the mini stream, larger ones into regular 512-byte sectors, and each storage's children are one
sorted chain of right siblings (a valid, if unbalanced, tree for readers).
"""

from __future__ import annotations

import datetime as dt
import struct

SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_FREE, _END, _FAT, _NONE = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
_SECTOR, _MINI, _CUTOFF = 512, 64, 4096

Tree = dict[str, "bytes | Tree"]


def compound_file(tree: Tree) -> bytes:
    """A compound file whose root storage holds `tree` (name → stream bytes, or → a sub-storage)."""
    entries: list[dict] = []

    def add(name: str, node: bytes | Tree, kind: int) -> int:
        index = len(entries)
        entry = {"name": name, "kind": kind, "data": node if isinstance(node, bytes) else b"",
                 "left": _NONE, "right": _NONE, "child": _NONE, "start": _END, "size": 0}
        entries.append(entry)
        if isinstance(node, dict):
            ordered = sorted(node.items(), key=lambda item: (len(item[0]), item[0].upper()))
            kids = [add(n, v, 2 if isinstance(v, bytes) else 1) for n, v in ordered]
            if kids:
                entry["child"] = kids[0]
                for a, b in zip(kids, kids[1:], strict=False):
                    entries[a]["right"] = b
        return index

    add("Root Entry", tree, 5)
    sectors: list[bytes] = []
    fat: list[int] = []

    def allocate(blob: bytes) -> int:
        if not blob:
            return _END
        start, count = len(sectors), -(-len(blob) // _SECTOR)
        for i in range(count):
            sectors.append(blob[i * _SECTOR:(i + 1) * _SECTOR].ljust(_SECTOR, b"\0"))
            fat.append(start + i + 1 if i < count - 1 else _END)
        return start

    mini, mini_fat = bytearray(), []
    for entry in entries[1:]:
        data = entry["data"]
        if entry["kind"] != 2 or not data:
            continue
        entry["size"] = len(data)
        if len(data) >= _CUTOFF:
            entry["start"] = allocate(data)
            continue
        start, count = len(mini) // _MINI, -(-len(data) // _MINI)
        mini += data.ljust(count * _MINI, b"\0")
        mini_fat += [start + i + 1 if i < count - 1 else _END for i in range(count)]
        entry["start"] = start
    entries[0]["start"], entries[0]["size"] = allocate(bytes(mini)), len(mini)
    mini_fat_bytes = struct.pack(f"<{len(mini_fat)}I", *mini_fat) if mini_fat else b""
    mini_fat_bytes = mini_fat_bytes.ljust(-(-len(mini_fat_bytes) // _SECTOR) * _SECTOR, b"\xff")
    mini_fat_start = allocate(mini_fat_bytes)
    directory = b"".join(_entry(e) for e in entries)
    directory += _entry(None) * (-len(entries) % 4)
    directory_start = allocate(directory)
    fat_count = 1
    while (len(sectors) + fat_count) * 4 > fat_count * _SECTOR:
        fat_count += 1
    fat_ids = list(range(len(sectors), len(sectors) + fat_count))
    fat += [_FAT] * fat_count
    fat += [_FREE] * (fat_count * 128 - len(fat))
    assert fat_count <= 109, "the writer keeps all FAT sector ids in the header"
    header = SIGNATURE + b"\0" * 16 + struct.pack(
        "<HHHHH6xIIIIIIIII", 0x3E, 3, 0xFFFE, 9, 6, 0, fat_count, directory_start, 0, _CUTOFF,
        mini_fat_start if mini_fat else _END, len(mini_fat_bytes) // _SECTOR, _END, 0)
    header += struct.pack("<109I", *(fat_ids + [_FREE] * (109 - fat_count)))
    return header + b"".join(sectors) + struct.pack(f"<{len(fat)}I", *fat)


def _entry(entry: dict | None) -> bytes:
    if entry is None:
        return b"\0" * 64 + struct.pack("<HBBIII", 0, 0, 0, _NONE, _NONE, _NONE) + b"\0" * 36 + b"\0" * 12
    name = (entry["name"] + "\0").encode("utf-16-le")
    return (name.ljust(64, b"\0") + struct.pack("<HBBIII", len(name), entry["kind"], 1, entry["left"],
                                                 entry["right"], entry["child"])
            + b"\0" * 36 + struct.pack("<IQ", entry["start"], entry["size"]))


# -- Outlook message ------------------------------------------------------------------------------

_UNICODE, _BINARY, _LONG, _TIME = 0x001F, 0x0102, 0x0003, 0x0040


def _properties(header: bytes, props: list[tuple[int, int, object]]) -> tuple[bytes, Tree]:
    """The `__properties_version1.0` stream and the `__substg1.0_*` streams of variable-length values."""
    rows, streams = [header], {}
    for pid, ptyp, value in props:
        tag = (pid << 16) | ptyp
        if ptyp == _LONG:
            rows.append(struct.pack("<IIQ", tag, 6, int(value)))  # type: ignore[call-overload]
        elif ptyp == _TIME:
            filetime = int((value - dt.datetime(1601, 1, 1, tzinfo=dt.UTC)).total_seconds() * 10_000_000)  # type: ignore[operator]
            rows.append(struct.pack("<IIQ", tag, 6, filetime))
        else:
            # a string's stream has no terminator; its size in the table counts one ([MS-OXMSG] 2.4.2.2)
            data = value.encode("utf-16-le") if ptyp == _UNICODE else value  # type: ignore[union-attr]
            rows.append(struct.pack("<IIII", tag, 6, len(data) + (2 if ptyp == _UNICODE else 0), 0))
            streams[f"__substg1.0_{pid:04X}{ptyp:04X}"] = data
    return b"".join(rows), streams


def outlook_message(*, subject: str, body: str, sender: str, to: tuple[str, str], sent: dt.datetime,
                    attachments: dict[str, bytes], message_class: str = "IPM.Note") -> bytes:
    """A .msg as Outlook saves one: message properties, one recipient, attachments by value."""
    headers = f"From: {sender}\r\nTo: {to[0]} <{to[1]}>\r\nSubject: {subject}\r\n\r\n"
    props, streams = _properties(
        struct.pack("<8xIIII8x", 1, len(attachments), 1, len(attachments)),
        [(0x001A, _UNICODE, message_class), (0x0037, _UNICODE, subject), (0x1000, _UNICODE, body),
         (0x007D, _UNICODE, headers), (0x0039, _TIME, sent)])
    tree: Tree = {"__properties_version1.0": props, **streams}
    recip_props, recip_streams = _properties(b"\0" * 8, [(0x3001, _UNICODE, to[0]), (0x39FE, _UNICODE, to[1])])
    tree["__recip_version1.0_#00000000"] = {"__properties_version1.0": recip_props, **recip_streams}
    for number, (name, data) in enumerate(attachments.items()):
        att_props, att_streams = _properties(b"\0" * 8, [(0x3705, _LONG, 1), (0x3707, _UNICODE, name),
                                                         (0x3701, _BINARY, data)])
        tree[f"__attach_version1.0_#{number:08X}"] = {"__properties_version1.0": att_props, **att_streams}
    return compound_file(tree)


def encrypted_workbook(payload: bytes) -> bytes:
    """The container Office writes for a password-protected .xlsx: EncryptionInfo (agile, XML
    descriptor) and EncryptedPackage (the size, then the ciphertext; here stand-in bytes)."""
    info = struct.pack("<HHI", 4, 4, 0x40) + (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><encryption '
        b'xmlns="http://schemas.microsoft.com/office/2006/encryption"><keyData saltSize="16" '
        b'blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" cipherChaining="ChainingModeCBC" '
        b'hashAlgorithm="SHA512" saltValue="AAAAAAAAAAAAAAAAAAAAAA=="/></encryption>')
    package = struct.pack("<Q", len(payload)) + payload
    return compound_file({"EncryptionInfo": info, "EncryptedPackage": package,
                          "\x06DataSpaces": {"Version": b"\0" * 76}})
