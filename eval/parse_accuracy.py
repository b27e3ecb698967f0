"""Parse accuracy: our parser's text against docling's expected Markdown, per format.

Usage: python -m eval.parse_accuracy [ROOT] [--json FILE] [--no-alternatives]
(ROOT defaults to ../shared/data/parsers/docling-groundtruth). In `tests/data/<kind>/`, an input
`sources/<name>.<ext>` is expected to become `groundtruth/<name>.<ext>.md` (PDF: `<name>.md`).

Both sides become plain text (our blocks joined by lines; the Markdown with its syntax stripped and
tables as `cell | cell` rows), then casefolded word tokens (letters and digits). Two scores:
- token F1: precision/recall of the word multisets (what text was found, in any order);
- sequence ratio: rapidfuzz's normalised Indel similarity (`fuzz.ratio` / 100) of the token strings
  joined by single spaces (order matters: reading order, merged or split paragraphs).
Files that fail to parse score 0 in the "all" columns and are left out of the "parsed" ones.
Where cheap, the same pairs are scored for alternative extractors (pypdf, pdfminer.six if it is
importable, python-docx, python-pptx, lxml for HTML).
"""

from __future__ import annotations

import argparse
import html
import io
import json
import logging
import re
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from rapidfuzz import fuzz

from ingest.isolate import ParsePool
from ingest.parse import ParsedDocument

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "parsers" / "docling-groundtruth"
OURS = "vraagbaak"

_TOKEN = re.compile(r"[^\W_]+")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_AUTOLINK = re.compile(r"<(https?://[^>]+)>")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~$])")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$")
_HEADING = re.compile(r"^#{1,6}\s+")
_QUOTE = re.compile(r"^(>\s?)+")
_LIST = re.compile(r"^([-*+]|\d+[.)])\s+(\[[ xX]\]\s+)?")
_EMPHASIS = re.compile(r"(?<!\\)(\*\*|__|~~|\*|`)")


# -- text from both sides -----------------------------------------------------------------------

def markdown_to_text(markdown: str) -> str:
    """Expected Markdown → plain text: no syntax, links as their text, tables as `cell | cell`."""
    text = _COMMENT.sub("", markdown)
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("```") or _TABLE_RULE.match(line):
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip("|"))]
            line = " | ".join(_inline(c) for c in cells)
        else:
            line = _inline(_LIST.sub("", _QUOTE.sub("", _HEADING.sub("", line))))
        if line.strip(" |"):
            lines.append(line)
    return "\n".join(lines)


def _inline(text: str) -> str:
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub("", text)
    text = _TAG.sub(" ", text)
    text = _EMPHASIS.sub("", text)
    text = _ESCAPE.sub(r"\1", text)
    return " ".join(html.unescape(text).split())


def document_text(document: ParsedDocument) -> str:
    """Our parse as plain text: headings and blocks, one per line (tables are already `cell | cell`)."""
    return "\n".join(block.text for block in document.blocks)


# -- similarity ---------------------------------------------------------------------------------

def tokens(text: str) -> list[str]:
    """Casefolded words (letters and digits; punctuation and Markdown syntax are separators)."""
    return _TOKEN.findall(text.casefold())


def token_f1(predicted: str, expected: str) -> float:
    """F1 of the word multisets: 1.0 when the same words occur as often, in any order."""
    pred, ref = Counter(tokens(predicted)), Counter(tokens(expected))
    if not pred and not ref:
        return 1.0
    overlap = sum((pred & ref).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(pred.values()), overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def sequence_ratio(predicted: str, expected: str) -> float:
    """rapidfuzz's normalised Indel similarity (0..1) of the token strings; order-sensitive."""
    a, b = " ".join(tokens(predicted)), " ".join(tokens(expected))
    if not a and not b:
        return 1.0
    return fuzz.ratio(a, b) / 100


# -- pairs --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pair:
    fmt: str
    source: Path
    expected: Path


def find_pairs(root: Path) -> list[Pair]:
    """Every `groundtruth/*.md` with its input in the sibling `sources/` folder."""
    pairs = []
    for expected in sorted(root.rglob("groundtruth/*.md")):
        sources = expected.parent.parent / "sources"
        name = expected.name[:-3]  # word_sample.docx.md → word_sample.docx; multi_page.md → multi_page
        candidates = [sources / name] if Path(name).suffix else sorted(sources.glob(f"{name}.pdf"))
        source = next((c for c in candidates if c.is_file()), None)
        if source is not None:
            pairs.append(Pair(source.suffix.lower().lstrip("."), source, expected))
    return pairs


# -- alternative extractors (simple, for comparison) --------------------------------------------

def _pypdf(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(path.read_bytes())).pages)


def _pdfminer(path: Path) -> str:
    from pdfminer.high_level import extract_text  # optional: pdfminer.six, what unstructured's "fast" uses

    return str(extract_text(io.BytesIO(path.read_bytes())))


def _python_docx(path: Path) -> str:
    import docx

    document = docx.Document(str(path))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        lines += [" | ".join(cell.text for cell in row.cells) for row in table.rows]
    return "\n".join(lines)


def _python_pptx(path: Path) -> str:
    from pptx import Presentation

    lines = []
    for slide in Presentation(str(path)).slides:
        for shape in slide.shapes:
            if shape.has_text_frame:
                lines.append(shape.text_frame.text)
            if getattr(shape, "has_table", False) and shape.has_table:
                lines += [" | ".join(c.text for c in row.cells) for row in shape.table.rows]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            lines.append(slide.notes_slide.notes_text_frame.text)
    return "\n".join(lines)


def _lxml_html(path: Path) -> str:
    from lxml import html as lxml_html

    tree = lxml_html.fromstring(path.read_bytes())
    for node in tree.xpath("//script|//style|//head"):
        node.drop_tree()
    return "\n".join(t.strip() for t in tree.xpath("//text()") if t.strip())


ALTERNATIVES: dict[str, dict[str, Callable[[Path], str]]] = {
    "pdf": {"pypdf": _pypdf, "pdfminer.six": _pdfminer},
    "docx": {"python-docx": _python_docx},
    "pptx": {"python-pptx": _python_pptx},
    "html": {"lxml text": _lxml_html},
}


# -- the evaluation -----------------------------------------------------------------------------

@dataclass
class Score:
    fmt: str
    file: str
    extractor: str
    f1: float
    ratio: float
    error: str = ""


def _score(pair: Pair, extractor: str, text: str | None, error: str, expected: str) -> Score:
    if text is None:
        return Score(pair.fmt, pair.source.name, extractor, 0.0, 0.0, error or "failed")
    return Score(pair.fmt, pair.source.name, extractor, round(token_f1(text, expected), 4),
                 round(sequence_ratio(text, expected), 4))


def evaluate(root: Path, alternatives: bool = True, workers: int = 2) -> tuple[list[Score], dict[str, str]]:
    """Scores per (file, extractor), and why an alternative extractor was not run."""
    pairs = find_pairs(root)
    expected = {p: markdown_to_text(p.expected.read_text(encoding="utf-8", errors="replace")) for p in pairs}
    scores: list[Score] = []
    with ParsePool(workers=workers, timeout_s=120) as pool:
        for pair, outcome in zip(pairs, pool.imap(p.source for p in pairs), strict=True):
            text = document_text(outcome.document) if outcome.document else None
            scores.append(_score(pair, OURS, text, outcome.error.message if outcome.error else "", expected[pair]))
    skipped: dict[str, str] = {}
    if alternatives:
        for pair in pairs:
            for name, extract in ALTERNATIVES.get(pair.fmt, {}).items():
                if name in skipped:
                    continue
                try:
                    text, error = extract(pair.source), ""
                except ImportError as exc:
                    skipped[name] = f"not installed ({exc.name})"
                    continue
                except Exception as exc:  # noqa: BLE001 - an alternative failing is a score of 0, not a crash
                    text, error = None, f"{type(exc).__name__}: {str(exc)[:100]}"
                scores.append(_score(pair, name, text, error, expected[pair]))
    return scores, skipped


def summarise(scores: list[Score]) -> list[dict[str, object]]:
    """Per (format, extractor): files, parsed, mean F1 and ratio over parsed and over all, worst file."""
    groups: dict[tuple[str, str], list[Score]] = {}
    for score in scores:
        groups.setdefault((score.fmt, score.extractor), []).append(score)
    rows = []
    for (fmt, extractor), group in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] != OURS, g[0][1])):
        parsed = [s for s in group if not s.error]
        worst = min(group, key=lambda s: (s.f1, s.ratio))
        rows.append({
            "format": fmt, "extractor": extractor, "files": len(group), "parsed": len(parsed),
            "f1_parsed": round(statistics.mean(s.f1 for s in parsed), 3) if parsed else None,
            "ratio_parsed": round(statistics.mean(s.ratio for s in parsed), 3) if parsed else None,
            "f1_all": round(statistics.mean(s.f1 for s in group), 3),
            "ratio_all": round(statistics.mean(s.ratio for s in group), 3),
            "worst": f"{worst.file} (F1 {worst.f1:.2f}{', ' + worst.error[:60] if worst.error else ''})",
        })
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", nargs="?", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--json", type=Path, help="write every score and the summary here")
    parser.add_argument("--no-alternatives", action="store_true", help="score only our parser")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # font warnings of the alternative, not ours
    if not args.root.is_dir():
        sys.exit(f"no such folder: {args.root}")
    scores, skipped = evaluate(args.root, alternatives=not args.no_alternatives, workers=args.workers)
    rows = summarise(scores)
    print(f"{len({(s.fmt, s.file) for s in scores})} input/expected pairs under {args.root}")
    print("token F1 = word-multiset F1; ratio = rapidfuzz Indel similarity of the token strings;"
          " 'all' counts failed files as 0\n")
    print(f"{'format':<7}{'extractor':<14}{'files':>6}{'parsed':>7}{'F1':>7}{'ratio':>7}{'F1 all':>8}"
          f"{'ratio all':>10}  worst")
    for r in rows:
        f1, ratio = r["f1_parsed"], r["ratio_parsed"]
        print(f"{r['format']:<7}{r['extractor']:<14}{r['files']:>6}{r['parsed']:>7}"
              f"{f1 if f1 is not None else '-':>7}{ratio if ratio is not None else '-':>7}"
              f"{r['f1_all']:>8}{r['ratio_all']:>10}  {r['worst']}")
    failed = [s for s in scores if s.extractor == OURS and s.error]
    if failed:
        print("\nNot parsed by vraagbaak:")
        for reason, count in Counter(s.error for s in failed).most_common():
            print(f"  {count:>3}  {reason}")
    for name, why in skipped.items():
        print(f"\n{name}: {why}")
    if args.json:
        args.json.write_text(json.dumps({"summary": rows, "scores": [asdict(s) for s in scores],
                                         "skipped": skipped}, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
