"""Ingestion throughput on a generated corpus of mixed formats (≥ 500 pages).

Usage: python bench/ingest.py [--pages N] [--keep DIR]
Writes PDFs (reportlab), DOCX (python-docx), HTML and Markdown made from the demo policies'
paragraphs into a temporary folder, ingests it into a fresh embedded store and prints pages/s,
chunks/s and the share of wall time per stage (parse, chunk, embed, sparse, upsert, other).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# run as `python bench/ingest.py`, this file's folder comes first on the path and its name would
# hide the `ingest` package: look in the repository root instead
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from qdrant_client import QdrantClient  # noqa: E402

from core.db import Database  # noqa: E402
from core.embedding import load_embedder  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.store import QdrantStore  # noqa: E402
from ingest.isolate import ParsePool  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from ingest.registry import Registry  # noqa: E402

WORDS_PER_PAGE = 450


def paragraphs() -> list[str]:
    found = []
    for source in sorted((ROOT / "demo" / "sources").glob("*.md")):
        for block in source.read_text(encoding="utf-8").split("\n\n"):
            block = " ".join(block.split())
            if len(block.split()) >= 25 and not block.startswith(("#", "|", "---")):
                found.append(block)
    return found


def generate(folder: Path, pages: int, seed: int = 7) -> int:
    """Write about `pages` pages in four formats; returns the page count written."""
    from docx import Document as Docx
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    rng = random.Random(seed)
    texts = paragraphs()
    styles = getSampleStyleSheet()
    written = 0
    index = 0
    while written < pages:
        index += 1
        kind = ("pdf", "docx", "html", "md")[index % 4]
        doc_pages = rng.randint(2, 8) if kind == "pdf" else rng.randint(1, 3)
        sections = [(f"{s + 1}. Onderwerp {rng.randint(1, 99)}", rng.sample(texts, 3)) for s in range(doc_pages * 2)]
        title = f"Document {index} ({kind})"
        if kind == "pdf":
            story = [Paragraph(title, styles["Title"])]
            for number, (heading, body) in enumerate(sections):
                story.append(Paragraph(heading, styles["Heading2"]))
                story += [Paragraph(p, styles["BodyText"]) for p in body]
                if number % 2 == 1:
                    story.append(PageBreak())
            SimpleDocTemplate(str(folder / f"doc{index:04d}.pdf"), pagesize=A4, title=title).build(story)
        elif kind == "docx":
            document = Docx()
            document.add_heading(title, level=1)
            for heading, body in sections:
                document.add_heading(heading, level=2)
                for p in body:
                    document.add_paragraph(p)
            document.save(str(folder / f"doc{index:04d}.docx"))
        elif kind == "html":
            body = "".join(f"<h2>{h}</h2>" + "".join(f"<p>{p}</p>" for p in ps) for h, ps in sections)
            (folder / f"doc{index:04d}.html").write_text(
                f"<html><head><title>{title}</title></head><body><nav>menu</nav><main><h1>{title}</h1>{body}"
                "</main></body></html>", encoding="utf-8")
        else:
            body = "\n\n".join(f"## {h}\n\n" + "\n\n".join(ps) for h, ps in sections)
            (folder / f"doc{index:04d}.md").write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
        written += doc_pages
    return written


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=520)
    parser.add_argument("--keep", type=Path, help="write the corpus here instead of a temporary folder")
    args = parser.parse_args()
    settings = Settings()
    embedder = load_embedder(settings.embedding, settings.models_dir)
    with tempfile.TemporaryDirectory() as scratch:
        corpus = args.keep or Path(scratch) / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        pages = generate(corpus, args.pages)
        files = len(list(corpus.iterdir()))
        # windows as the product keeps them (RETRIEVAL__WINDOW_WEIGHT > 0): their embedding counts as "embed"
        windows = settings.retrieval.window_weight > 0
        store = QdrantStore(QdrantClient(path=str(Path(scratch) / "store")), "bench", local=True, windows=windows)
        registry = Registry(Database.open(f"sqlite:///{Path(scratch) / 'bench.db'}"))
        # as `vraagbaak ingest` runs: parsing in an isolated worker (its start-up is not timed)
        with ParsePool.from_settings(settings.ingest, workers=1) as pool:
            pool.parse(ROOT / "demo" / "corpus" / "notities" / "faq-team-planning.md")  # worker warm
            started = time.perf_counter()
            report = Ingestor(store, embedder, settings.ingest, registry, parse=pool.parse).ingest_folder(
                corpus, "bench")
            wall = time.perf_counter() - started
        store.close()
    stages = dict(report.stage_seconds)
    stages["other"] = max(wall - sum(stages.values()), 0.0)
    print(f"embedding backend {settings.embedding.backend}, windows {'on' if windows else 'off'}")
    print(f"{files} files, ~{pages} pages, {report.chunks} chunks, {len(report.failed)} failed, wall {wall:.1f} s")
    print(f"pages/s {pages / wall:.1f} · chunks/s {report.chunks / wall:.1f}")
    print("| stage | seconds | share |\n|---|---|---|")
    for stage, seconds in stages.items():
        print(f"| {stage} | {seconds:.1f} | {seconds / wall:.0%} |")
    print(f"everything but embedding: {(wall - stages['embed']) / wall:.0%} of the wall time")


if __name__ == "__main__":
    main()
