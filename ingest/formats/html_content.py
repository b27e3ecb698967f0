"""The main content of a web page, without menus, cookie banners, breadcrumbs, sidebars and footers.

trafilatura finds the content (in its precision mode, with its minimum sizes lowered: intranet pages
are often a heading and two sentences); hand-written rules are the fallback when it finds nothing:
the page's `<main>`/`<article>`/role=main (else the whole body) without nav/header/footer/aside.
Measured on a generated intranet in four layouts (bench/html_extract.py, figures in docs/ingest.md):
the rules alone keep most boilerplate of pages without semantic tags; trafilatura keeps almost none.

Two things are straightened out first, because they mislead both methods: a layout table (an old
intranet's page grid: cells holding headings or tables) becomes plain blocks, and several `<article>`
elements become sections (trafilatura would keep only the first one of a news overview).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from lxml import html as lxml_html

log = logging.getLogger(__name__)

BOILERPLATE_TAGS = ("nav", "header", "footer", "aside", "script", "style", "noscript", "template")
_LAYOUT_CELL_CONTENT = ".//td//*[self::h1 or self::h2 or self::h3 or self::h4 or self::table or self::form]"
_TABLE_PARTS = ("table", "thead", "tbody", "tfoot", "tr", "td", "th")
_MIN_TEXT = 20  # characters; trafilatura's defaults (250 extracted, 1 output) drop short pages


def main_content(text: str) -> tuple[str, str]:
    """(title, HTML of the main content) of a page; the HTML keeps headings, lists and tables."""
    tree = lxml_html.fromstring(text.encode("utf-8"), parser=lxml_html.HTMLParser(encoding="utf-8"))
    title = " ".join(" ".join(tree.xpath("//title//text()")).split())
    _unwrap_layout_tables(tree)
    articles = tree.xpath("//article")
    if len(articles) > 1:
        for article in articles:
            article.tag = "section"
    page = lxml_html.tostring(tree, encoding="unicode")
    extracted = _trafilatura(page)
    if extracted is not None and not _lost_headings(extracted, tree):
        return title, extracted
    around = _heading_container(tree)
    if around is not None:  # trafilatura missed the content block: point it at the one around the heading
        around.set("id", "content")
        page = lxml_html.tostring(tree, encoding="unicode")
        extracted = _trafilatura(page) or extracted
    if extracted is not None:
        return title, extracted
    log.debug("trafilatura found no main content; using the page's semantic container")
    return title, _semantic_container(tree)


def _trafilatura(page: str) -> str | None:
    import trafilatura

    extracted = trafilatura.extract(page, output_format="html", fast=True, favor_precision=True,
                                    include_tables=True, include_links=False, include_images=False,
                                    include_comments=False, deduplicate=False, config=_config())
    if not extracted:
        return None
    body = lxml_html.fromstring(extracted)
    return extracted if len(" ".join(body.text_content().split())) >= _MIN_TEXT else None


@lru_cache(maxsize=1)
def _config() -> Any:
    from trafilatura.settings import use_config

    config = use_config()
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", str(_MIN_TEXT))
    config.set("DEFAULT", "MIN_OUTPUT_SIZE", str(_MIN_TEXT // 2))
    return config


def _lost_headings(extracted: str, tree: lxml_html.HtmlElement) -> bool:
    """trafilatura's recovery path (no content block found) returns paragraphs without headings."""
    return re.search(r"<h[1-6][\s>]", extracted) is None and bool(tree.xpath("//body//h1"))


def _heading_container(tree: lxml_html.HtmlElement) -> lxml_html.HtmlElement | None:
    """The block around the page's first <h1> that holds more than its heading and one paragraph."""
    headings = tree.xpath("//body//h1")
    if not headings:
        return None
    heading_text = len(headings[0].text_content())
    for ancestor in headings[0].iterancestors("div", "section", "td"):
        if len(" ".join(ancestor.text_content().split())) > 3 * heading_text + 200:
            return ancestor
    return None


def _unwrap_layout_tables(tree: lxml_html.HtmlElement) -> None:
    """Tables whose cells hold headings, tables or forms are page layout: their rows and cells
    become divs (innermost first, so a data table inside a layout cell stays a table)."""
    for table in reversed(tree.xpath("//table")):
        if not table.xpath(_LAYOUT_CELL_CONTENT):
            continue
        own = [part for part in table.iter(*_TABLE_PARTS)
               if part is table or (part.tag != "table" and next(part.iterancestors("table")) is table)]
        for part in own:
            part.tag = "div"
            for attribute in [a for a in part.attrib if a not in ("id", "class", "role")]:
                del part.attrib[attribute]


def _semantic_container(tree: lxml_html.HtmlElement) -> str:
    main = tree.xpath("//main") or tree.xpath("//article") or tree.xpath("//*[@role='main']")
    root = main[0] if main else tree
    for tag in BOILERPLATE_TAGS:
        for node in root.xpath(f".//{tag}"):
            node.drop_tree()
    return f"<html><body>{lxml_html.tostring(root, encoding='unicode')}</body></html>"
