"""Main-content extraction from intranet HTML: hand-written rules against trafilatura.

Usage: python bench/html_extract.py

The pages are the generated mini-intranet of the web source tests (tests/ingest/intranet_server.py):
every content page wrapped in five layouts (semantic HTML5; semantic with breadcrumbs, share and related
links inside <main>; div soup without semantic tags; an old table layout), each with a menu, cookie
banner, breadcrumbs, sidebar, related pages and a footer with address and links. Each page knows its
body sentences and its boilerplate sentences. A sentence counts as extracted when it appears in the
extracted text (whitespace-normalised, case-insensitive).

- precision: extracted body sentences / all extracted known sentences (body + boilerplate)
- recall: extracted body sentences / all body sentences
- headings: body h1-h3 that came out as heading blocks / all body h1-h3
Methods: (a) hand-written (`<main>`/`<article>`/role=main, drop nav/header/footer/aside/...; the parser
before trafilatura); (b) trafilatura with its default options; (b2) trafilatura in precision mode with
its minimum sizes lowered; (c) ingest.formats.html_content: layout tables, inline <code> and several
<article>s straightened out, then (b2); when that loses every heading, (b2) pointed at the block around
the page's <h1>; else (a) when it finds nothing; (d) what ingest.parse does now. All end in
unstructured's partition_html, as the parser does.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lxml import html as lxml_html  # noqa: E402

from ingest.formats.html_content import BOILERPLATE_TAGS, _trafilatura, main_content  # noqa: E402
from ingest.parse import Block, _prepare_unstructured, _unstructured_blocks, parse_file  # noqa: E402
from tests.ingest.intranet_server import ExtractionCase, extraction_cases  # noqa: E402


def _partition(body_html: str) -> list[Block]:
    from unstructured.partition.html import partition_html

    _prepare_unstructured()
    return _unstructured_blocks(partition_html(text=body_html))


def handwritten(page: str) -> list[Block]:
    """The rules `_parse_html` used before trafilatura."""
    tree = lxml_html.fromstring(page.encode("utf-8"), parser=lxml_html.HTMLParser(encoding="utf-8"))
    main = tree.xpath("//main") or tree.xpath("//article") or tree.xpath("//*[@role='main']")
    root = main[0] if main else tree
    for tag in BOILERPLATE_TAGS:
        for node in root.xpath(f".//{tag}"):
            node.drop_tree()
    return _partition(f"<html><body>{lxml_html.tostring(root, encoding='unicode')}</body></html>")


def trafilatura_default(page: str) -> list[Block]:
    import trafilatura

    extracted = trafilatura.extract(page, output_format="html", include_tables=True, include_links=False)
    return _partition(extracted) if extracted else []


def trafilatura_tuned(page: str) -> list[Block]:
    """The options main_content uses (precision mode, minimum sizes lowered), nothing else."""
    extracted = _trafilatura(page)
    return _partition(extracted) if extracted else []


def trafilatura_or_handwritten(page: str) -> list[Block]:
    """What ingest.parse uses: layout tables and multiple articles straightened out, then the tuned
    trafilatura, else the hand-written rules."""
    return _partition(main_content(page)[1])


def current_parser(page: str) -> list[Block]:
    return list(parse_file(Path("page.html"), page.encode("utf-8")).blocks)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _check(cases: list[ExtractionCase]) -> None:
    """The measurement is only fair when no boilerplate sentence occurs inside body text and back."""
    for case in cases:
        body_text = _norm(" ".join(case.body))
        clash = [b for b in case.boilerplate if _norm(b) in body_text]
        clash += [s for s in case.body if any(_norm(s) in _norm(b) for b in case.boilerplate)]
        if clash:
            raise SystemExit(f"{case.name}: sentences both body and boilerplate: {clash}")


def measure(method: Callable[[str], list[Block]], cases: list[ExtractionCase]) -> dict[str, list[float]]:
    """Per layout: [body found, body total, boilerplate found, boilerplate total, headings kept, headings,
    seconds, pages]."""
    figures: dict[str, list[float]] = defaultdict(lambda: [0.0] * 8)
    for case in cases:
        started = time.perf_counter()
        blocks = method(case.html)
        seconds = time.perf_counter() - started
        text = _norm(" ".join(b.text for b in blocks))
        heading_blocks = {_norm(b.text) for b in blocks if b.kind == "heading"}
        headings = [_norm(h) for h in case.headings]
        row = [sum(_norm(s) in text for s in case.body), len(case.body),
               sum(_norm(s) in text for s in case.boilerplate), len(case.boilerplate),
               sum(h in heading_blocks for h in headings), len(headings), seconds, 1]
        for layout in (case.name.split(":")[0], "all"):
            figures[layout] = [a + b for a, b in zip(figures[layout], row, strict=True)]
    return figures


def main() -> None:
    cases = extraction_cases()
    _check(cases)
    methods = {"(a) hand-written": handwritten, "(b) trafilatura, defaults": trafilatura_default,
               "(b2) trafilatura, tuned": trafilatura_tuned, "(c) tuned + pre-processing, else (a)":
               trafilatura_or_handwritten, "(d) ingest.parse now": current_parser}
    for method in methods.values():  # warm up imports and unstructured's first-call set-up
        method(cases[0].html)
    print(f"{len(cases)} pages; {sum(len(c.body) for c in cases)} body and "
          f"{sum(len(c.boilerplate) for c in cases)} boilerplate sentences\n")
    print("| method | layout | precision | recall | boilerplate kept | headings as headings | ms/page |")
    print("|---|---|---|---|---|---|---|")
    for name, method in methods.items():
        for layout, (bf, bt, pf, pt, hk, ht, secs, n) in sorted(measure(method, cases).items()):
            precision = bf / (bf + pf) if bf + pf else 0.0
            print(f"| {name} | {layout} | {precision:.3f} | {bf / bt:.3f} | {int(pf)}/{int(pt)} | "
                  f"{int(hk)}/{int(ht)} | {1000 * secs / n:.1f} |")


if __name__ == "__main__":
    main()
