"""PDF text extraction speed: pypdfium2 (used) against pypdf, on real PDFs.

Usage: python bench/pdf_parsers.py [FOLDER]   (default ../shared/data/corpora/dutch-gov-pdfs)
Prints pages, seconds and pages/s per parser, and how much text each found.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def with_pypdfium2(data: bytes) -> tuple[int, int]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    chars = 0
    for i in range(len(pdf)):
        textpage = pdf[i].get_textpage()
        chars += len(textpage.get_text_range())
        textpage.close()
    pages = len(pdf)
    pdf.close()
    return pages, chars


def with_pypdf(data: bytes) -> tuple[int, int]:
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), sum(len(page.extract_text() or "") for page in reader.pages)


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1].parent / "shared/data/corpora/dutch-gov-pdfs"
    files = sorted(folder.rglob("*.pdf"))
    if not files:
        print(f"no PDFs under {folder} (the shared data is not here)")
        return
    blobs = [f.read_bytes() for f in files]
    print(f"{len(files)} PDFs from {folder}")
    print("| parser | pages | seconds | pages/s | characters |\n|---|---|---|---|---|")
    for name, parse in (("pypdfium2", with_pypdfium2), ("pypdf", with_pypdf)):
        started = time.perf_counter()
        pages = chars = 0
        for blob in blobs:
            p, c = parse(blob)
            pages, chars = pages + p, chars + c
        seconds = time.perf_counter() - started
        print(f"| {name} | {pages} | {seconds:.2f} | {pages / seconds:.0f} | {chars} |")


if __name__ == "__main__":
    main()
