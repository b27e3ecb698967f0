"""Real Dutch government PDFs through the real pipeline: every chunk knows its page, the registry
knows each document's page count, parser and language."""

from __future__ import annotations

from pathlib import Path

import pypdfium2
import pytest

from core.db import Database
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from ingest.pipeline import Ingestor, document_id
from ingest.registry import Registry
from tests.conftest import shared_data


@pytest.mark.slow
@pytest.mark.shared_data
def test_dutch_government_pdfs_keep_their_page_numbers(store: QdrantStore, embedder: Embedder, settings: Settings,
                                                      tmp_path: Path) -> None:
    folder = shared_data("corpora", "dutch-gov-pdfs", "pbl_appl-docchat", "docs", "KNMI_werkinstructies_selectie")
    registry = Registry(Database.open(f"sqlite:///{tmp_path / 'app.db'}"))
    report = Ingestor(store, embedder, settings.ingest, registry).ingest_folder(folder, "knmi")
    pdfs = sorted(p for p in folder.iterdir() if p.suffix == ".pdf")
    assert len(report.new) == len(pdfs) == 6 and not report.failed
    for pdf in pdfs:
        pages = len(pypdfium2.PdfDocument(pdf.read_bytes()))
        entry = registry.get(document_id("knmi", pdf.name))
        assert entry is not None and entry.status == "indexed" and entry.parser == "pypdfium2"
        assert entry.language == "nl" and entry.pages == pages
        passages = store.passages(entry.doc_id, groups=None)
        assert len(passages) == entry.chunk_count
        numbers = [p.page for p in passages]
        assert all(n is not None and 1 <= n <= pages for n in numbers), pdf.name
        assert numbers == sorted(numbers)  # reading order
        assert len(set(numbers)) >= 0.6 * pages  # chunks start on most pages (a chunk carries its first page)
