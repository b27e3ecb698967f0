"""A hostile parse function for ParsePool tests, loaded by a real worker process by dotted path
(`ParsePool(target="tests.ingest.slow_parser:parse")`). The file name says how to misbehave;
any other file is parsed by the real `parse_file`."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ingest.parse import ParsedDocument, parse_file


def parse(path: Path, data: bytes | None = None) -> ParsedDocument:
    name = Path(path).name
    if name.startswith("hang"):
        time.sleep(3600)
    if name.startswith("segfault"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if name.startswith("exit"):
        os._exit(3)
    if name.startswith("huge"):
        blob = bytearray(8 * 1024**3)  # 8 GB: over any limit the tests set
        blob[-1] = 1
    if name.startswith("raise"):
        raise KeyError("a parser bug")
    return parse_file(path, data)
