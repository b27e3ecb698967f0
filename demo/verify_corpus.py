#!/usr/bin/env python3
"""Sanity checks for the demo corpus and the demo question set.

Checks:
* PDFs (demo/corpus/beleid/*.pdf): open with pypdfium2, >= 2 pages, text layer
  on every page;
* DOCX: open with python-docx, use "Heading 1" and "Heading 2" styles;
* HTML: <html lang>, <title>, <nav>, <main>, <footer> and an <h1>;
* Markdown notes: YAML front matter with title, author and date;
* eval/datasets/demo-qa.jsonl: schema, q001, existing expected_documents,
  every answer keyword present in the text of at least one expected document,
  every document used at least once, and the minimum counts;
* total corpus size < 2 MB and (with --build-check) that the generated
  PDF/DOCX files match demo/build_corpus.py.

Usage (from the repository root)::

    .venv/bin/python demo/verify_corpus.py [--build-check]
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
QA = HERE.parent / "eval" / "datasets" / "demo-qa.jsonl"

errors: list[str] = []


def fail(msg: str) -> None:
    errors.append(msg)


def norm(text: str) -> str:
    text = text.replace("\u00a0", " ").replace("\u2019", "'")
    return re.sub(r"\s+", " ", text).strip().lower()


# ---------------------------------------------------------------- extraction

class _HtmlInfo(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.lang = ""
        self.title = ""
        self._in_title = False
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        if tag == "html":
            self.lang = dict(attrs).get("lang", "")
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        self.text.append(data)


def read_pdf(path: Path) -> tuple[str, str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    pages = len(pdf)
    if pages < 2:
        fail(f"{path.name}: only {pages} page(s)")
    texts = []
    for i in range(pages):
        page_text = pdf[i].get_textpage().get_text_range()
        if len(page_text.strip()) < 200:
            fail(f"{path.name}: page {i + 1} has (almost) no text layer")
        texts.append(page_text)
    title = pdf.get_metadata_dict().get("Title", "")
    if not title:
        fail(f"{path.name}: no PDF title metadata")
    lang = "en" if path.stem in _english_sources() else "nl"
    return "\n".join(texts), lang


def read_docx(path: Path) -> tuple[str, str]:
    import docx

    d = docx.Document(str(path))
    styles = Counter(p.style.name for p in d.paragraphs)
    for needed in ("Heading 1", "Heading 2"):
        if styles[needed] == 0:
            fail(f"{path.name}: no paragraphs with style '{needed}'")
    parts = [p.text for p in d.paragraphs]
    for table in d.tables:
        for row in table.rows:
            parts.extend(c.text for c in row.cells)
    words = sum(len(p.split()) for p in parts)
    if words < 800:
        fail(f"{path.name}: only {words} words, expected a 2-5 page document")
    lang = (d.core_properties.language or "nl")[:2]
    return "\n".join(parts), lang


def read_html(path: Path) -> tuple[str, str]:
    info = _HtmlInfo()
    info.feed(path.read_text(encoding="utf-8"))
    for tag in ("nav", "main", "footer", "h1", "title"):
        if not info.tags[tag]:
            fail(f"{path.relative_to(CORPUS)}: missing <{tag}>")
    if info.lang not in ("nl", "en"):
        fail(f"{path.relative_to(CORPUS)}: <html lang> is '{info.lang}'")
    return " ".join(info.text), info.lang


def read_md(path: Path) -> tuple[str, str]:
    text = path.read_text(encoding="utf-8")
    m = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    if not m:
        fail(f"{path.name}: no YAML front matter")
        return text, "nl"
    try:
        import yaml

        meta = yaml.safe_load(m.group(1)) or {}
    except ImportError:  # pragma: no cover - PyYAML is normally installed
        meta = dict(line.split(":", 1) for line in m.group(1).splitlines() if ":" in line)
    for key in ("title", "author", "date"):
        if key not in meta:
            fail(f"{path.name}: front matter lacks '{key}'")
    return text, str(meta.get("language", "nl"))


def _english_sources() -> set[str]:
    names = set()
    for src in (HERE / "sources").glob("*.md"):
        head = src.read_text(encoding="utf-8").split("---")[1]
        if re.search(r"^language:\s*en\s*$", head, re.M):
            out = re.search(r"^output:\s*(\S+)", head, re.M).group(1)
            names.add(Path(out).stem)
    return names


def load_corpus() -> dict[str, tuple[str, str]]:
    docs: dict[str, tuple[str, str]] = {}
    readers = {".pdf": read_pdf, ".docx": read_docx, ".html": read_html, ".md": read_md}
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file():
            reader = readers.get(path.suffix)
            if reader is None:
                fail(f"unexpected file in corpus: {path.relative_to(CORPUS)}")
                continue
            docs[path.relative_to(CORPUS).as_posix()] = reader(path)
    return docs


# ---------------------------------------------------------------- checks

def check_layout(docs: dict[str, tuple[str, str]]) -> None:
    by_folder = Counter(k.split("/")[0] for k in docs)
    minimum = {"intranet": 10, "beleid": 5, "elearning": 5, "notities": 3}
    for folder, n in minimum.items():
        if by_folder[folder] < n:
            fail(f"{folder}/ has {by_folder[folder]} documents, expected >= {n}")
    kinds = Counter(Path(k).suffix for k in docs if k.startswith("beleid/"))
    if kinds[".pdf"] < 2 or kinds[".docx"] < 2:
        fail(f"beleid/ needs >= 2 PDF and >= 2 DOCX, has {dict(kinds)}")
    size = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    if size >= 2 * 1024 * 1024:
        fail(f"corpus is {size} bytes, expected < 2 MB")
    print(f"corpus: {len(docs)} documents, {size / 1024:.0f} KiB, per folder {dict(by_folder)}")


def check_qa(docs: dict[str, tuple[str, str]]) -> None:
    rows = [json.loads(line) for line in QA.read_text(encoding="utf-8").splitlines() if line.strip()]
    fields = ["id", "question", "language", "answerable", "expected_documents",
              "reference_answer", "answer_keywords", "category"]
    ids = [r.get("id") for r in rows]
    if len(set(ids)) != len(ids):
        fail("duplicate ids in demo-qa.jsonl")
    if not rows or rows[0].get("id") != "q001" or rows[0].get("question") != "Hoeveel vakantiedagen heb ik?":
        fail("q001 must be 'Hoeveel vakantiedagen heb ik?'")
    used: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    norm_text = {k: norm(v[0]) for k, v in docs.items()}
    for r in rows:
        rid = r.get("id")
        if list(r.keys()) != fields:
            fail(f"{rid}: fields {list(r.keys())} != {fields}")
            continue
        if r["language"] not in ("nl", "en"):
            fail(f"{rid}: bad language")
        if not r["question"].strip() or not r["reference_answer"].strip():
            fail(f"{rid}: empty question or reference_answer")
        exp = r["expected_documents"]
        if r["answerable"]:
            if not exp:
                fail(f"{rid}: answerable but no expected_documents")
            if not 1 <= len(r["answer_keywords"]) <= 3:
                fail(f"{rid}: needs 1-3 answer_keywords")
            for doc in exp:
                if doc not in docs:
                    fail(f"{rid}: expected document {doc} does not exist")
                used[doc] += 1
            for kw in r["answer_keywords"]:
                if not any(norm(kw) in norm_text.get(d, "") for d in exp):
                    fail(f"{rid}: keyword {kw!r} not found in {exp}")
            src_langs = {docs[d][1] for d in exp if d in docs}
            cross = r["language"] not in src_langs
            counts["answerable"] += 1
            counts[f"answerable_{r['language']}"] += 1
            counts["cross_lingual"] += cross
        else:
            if exp or r["answer_keywords"]:
                fail(f"{rid}: unanswerable question with documents or keywords")
            counts["unanswerable"] += 1
            counts[f"unanswerable_{r['language']}"] += 1
    unused = sorted(set(docs) - set(used))
    if unused:
        fail(f"documents without a question: {unused}")
    want = {"answerable": 45, "answerable_en": 12, "cross_lingual": 8, "unanswerable": 12,
            "unanswerable_nl": 1, "unanswerable_en": 1}
    for key, n in want.items():
        if counts[key] < n:
            fail(f"{key}: {counts[key]} < {n}")
    print(f"questions: {len(rows)} total; " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-check", action="store_true",
                        help="also verify the PDF/DOCX files are up to date with build_corpus.py")
    args = parser.parse_args()
    if args.build_check:
        res = subprocess.run([sys.executable, str(HERE / "build_corpus.py"), "--check"])
        if res.returncode:
            fail("generated PDF/DOCX are out of date: run demo/build_corpus.py")
    docs = load_corpus()
    check_layout(docs)
    check_qa(docs)
    for e in errors:
        print("ERROR:", e, file=sys.stderr)
    print("OK" if not errors else f"{len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
