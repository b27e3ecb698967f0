"""The web source against a real HTTP server serving a generated mini-intranet (tests/ingest/intranet_server.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.errors import VraagbaakError
from ingest.parse import parse_file
from ingest.sources.base import SourceItem
from ingest.sources.urls import canonical_url
from ingest.sources.web import WebSource
from tests.ingest.intranet_server import BODIES, COOKIE, FOOTER, MENU, SIDEBAR, Intranet, Page, sentences

DELAY = 0.05
TIMEOUT = 0.4
EXPECTED = {"/", "/verlof", "/thuiswerken", "/thuiswerken/apparatuur", "/thuiswerken/apparatuur/laptop", "/nieuws",
            "/nieuws/kantine", "/pagina", "/reiskosten", "/documenten/handboek.pdf", "/traag"}


def web_source(site: Intranet, **options: object) -> WebSource:
    defaults: dict[str, object] = {"start_urls": [site.url("/")], "delay_s": DELAY, "timeout_s": TIMEOUT}
    return WebSource("intranet", **{**defaults, **options})  # type: ignore[arg-type]


def paths(items: list[SourceItem], site: Intranet) -> set[str]:
    prefix = site.url("")
    return {item.uri.removeprefix(prefix) for item in items}


@dataclass
class Crawl:
    site: Intranet
    source: WebSource
    items: list[SourceItem]

    def item(self, path: str) -> SourceItem:
        return next(i for i in self.items if i.uri == self.site.url(path))


@pytest.fixture(scope="module")
def crawl() -> Iterator[Crawl]:
    """One full first crawl (start page and sitemap), shared by the tests that only read it."""
    with Intranet(slow_s=1.5) as site:
        source = web_source(site, sitemap=site.url("/sitemap.xml"))
        yield Crawl(site, source, list(source.scan({})))


def test_crawl_yields_each_page_once_under_its_canonical_url(crawl: Crawl) -> None:
    uris = [item.uri for item in crawl.items]
    assert len(uris) == len(set(uris))
    assert paths(crawl.items, crawl.site) == EXPECTED
    assert all(canonical_url(uri) == uri for uri in uris)
    # the duplicate behind rel=canonical was fetched but is indexed only as /pagina
    assert crawl.site.hits("/pagina-kopie")
    assert "?" not in " ".join(h.path for h in crawl.site.hits("/pagina"))  # tracking parameters dropped


def test_sitemap_index_pages_are_crawled_as_start_pages() -> None:
    with Intranet() as site:
        source = web_source(site, start_urls=[], sitemap=site.url("/sitemap.xml"), max_depth=0)
        items = list(source.scan({}))
        assert paths(items, site) == {"/", "/verlof", "/nieuws/kantine"}
        assert b"saladebar" in (next(i for i in items if i.uri.endswith("/kantine")).data or b"")
        assert [h.path for h in site.hits()][:3] == ["/robots.txt", "/sitemap.xml", "/sitemap-paginas.xml"]
        assert source.complete is True


def test_robots_disallowed_pages_are_never_fetched(crawl: Crawl) -> None:
    assert crawl.site.hits("/prive/salarissen") == []
    assert len(crawl.site.hits("/robots.txt")) == 1
    assert all(h.headers.get("User-Agent", "").startswith("VraagbaakBot/1.0") for h in crawl.site.hits())


def test_redirect_target_is_indexed_under_its_final_url(crawl: Crawl) -> None:
    assert [h.status for h in crawl.site.hits("/oud-adres")] == [301]
    reiskosten = crawl.item("/reiskosten")
    assert reiskosten.link == crawl.site.url("/reiskosten")
    assert b"0,23 euro per kilometer" in (reiskosten.data or b"")


def test_gone_pages_images_and_other_hosts_are_not_yielded(crawl: Crawl) -> None:
    assert [h.status for h in crawl.site.hits("/bestaat-niet")] == [404]
    assert crawl.site.hits("/afbeeldingen/logo.png") == []  # never worth a request
    assert not any("rijksoverheid" in i.uri or "bestaat-niet" in i.uri for i in crawl.items)


def test_slow_page_becomes_an_error_item_and_the_crawl_goes_on(crawl: Crawl) -> None:
    slow = crawl.item("/traag")
    assert slow.error is not None and "timeout" in slow.error and slow.data is None
    slow_at = crawl.site.hits("/traag")[0].at
    assert any(h.at > slow_at for h in crawl.site.hits("/thuiswerken/apparatuur"))
    # its links were never seen, so pages only it links to could look gone: nothing may be removed
    assert crawl.source.complete is False


def test_linked_pdf_is_yielded_with_its_bytes_and_suffix(crawl: Crawl) -> None:
    pdf = crawl.item("/documenten/handboek.pdf")
    assert pdf.suffix == ".pdf" and (pdf.data or b"").startswith(b"%PDF")
    parsed = parse_file(Path("handboek.pdf"), pdf.data)
    assert "36 uur per week" in " ".join(b.text for b in parsed.blocks)


def test_pages_carry_validators_and_links_for_the_next_run(crawl: Crawl) -> None:
    home = crawl.item("/")
    assert home.suffix == ".html" and home.state["etag"] and home.state["last_modified"]
    assert crawl.site.url("/thuiswerken") in home.state["links"]
    assert crawl.site.url("/prive/salarissen") in home.state["links"]  # robots is checked when fetching
    assert not any("rijksoverheid" in link for link in home.state["links"])


def test_requests_to_a_host_are_spaced_by_the_delay(crawl: Crawl) -> None:
    arrivals = sorted(h.at for h in crawl.site.hits())
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert len(gaps) > 10 and min(gaps) >= DELAY


def test_robots_crawl_delay_wins_when_larger() -> None:
    with Intranet(crawl_delay=1) as site:
        list(web_source(site, max_pages=1).scan({}))
        robots, home = site.hits("/robots.txt")[0], site.hits("/")[0]
        assert home.at - robots.at >= 1.0


def test_second_scan_gets_not_modified_items_without_downloading_again(crawl: Crawl) -> None:
    site, started = crawl.site, time.monotonic()
    source = web_source(site, exclude=["/traag"])
    items = list(source.scan({item.uri: item.state for item in crawl.items}))
    assert paths(items, site) == EXPECTED - {"/traag"}
    assert all(i.not_modified and i.data is None and i.error is None for i in items)
    assert all(i.state == crawl.item(i.uri.removeprefix(site.url(""))).state for i in items)
    page_hits = [h for h in site.hits() if h.at >= started and h.path not in (
        "/robots.txt", "/oud-adres", "/bestaat-niet", "/pagina-kopie")]
    assert len(page_hits) == len(items) and {h.status for h in page_hits} == {304}
    assert all(h.headers.get("If-None-Match") for h in page_hits)
    # the deep pages were reached through the links stored with their 304'd parents
    assert site.url("/thuiswerken/apparatuur/laptop") in {i.uri for i in items}
    assert source.complete is True


def test_changed_page_is_fetched_again() -> None:
    with Intranet() as site:
        source = web_source(site, exclude=["/traag"])
        first = {i.uri: i for i in source.scan({})}
        verlof = site.resources["/verlof"]
        title, layout, body = BODIES["/verlof"]
        site.set_page(Page("/verlof", title, layout, body.replace("165 vakantie-uren", "180 vakantie-uren")))
        assert site.resources["/verlof"].etag != verlof.etag
        second = {i.uri: i for i in source.scan({uri: i.state for uri, i in first.items()})}
        changed = second[site.url("/verlof")]
        assert not changed.not_modified and b"180 vakantie-uren" in (changed.data or b"")
        assert changed.state["etag"] == site.resources["/verlof"].etag
        assert all(i.not_modified for uri, i in second.items() if uri != site.url("/verlof"))


def test_max_pages_truncates_and_marks_the_listing_incomplete() -> None:
    with Intranet() as site:
        source = web_source(site, max_pages=3, exclude=["/traag"])
        items = list(source.scan({}))
        assert len(items) <= 3 and len([h for h in site.hits() if h.path != "/robots.txt"]) == 3
        assert source.complete is False


def test_max_depth_limits_the_crawl_without_truncating_it() -> None:
    with Intranet() as site:
        source = web_source(site, max_depth=1, exclude=["/traag"])
        found = paths(list(source.scan({})), site)
        assert "/thuiswerken" in found and "/thuiswerken/apparatuur" not in found
        assert site.hits("/thuiswerken/apparatuur") == []
        assert source.complete is True  # depth is part of the crawl's definition, like exclude


def test_include_indexes_only_matching_pages_but_crawls_through_others() -> None:
    with Intranet() as site:
        source = web_source(site, include=["/thuiswerken*"], exclude=["/traag", "re:^/nieuws"])
        found = paths(list(source.scan({})), site)
        assert found == {"/thuiswerken", "/thuiswerken/apparatuur", "/thuiswerken/apparatuur/laptop"}
        assert site.hits("/nieuws") == [] and site.hits("/")  # excluded never fetched; home crawled


def test_oversized_response_is_an_error_item() -> None:
    with Intranet() as site:
        source = web_source(site, max_bytes=1000)
        items = list(source.scan({}))
        assert len(items) == 1 and "larger than the limit of 1000 bytes" in (items[0].error or "")
        assert source.complete is False


def test_bad_configuration_is_a_clear_error() -> None:
    with pytest.raises(VraagbaakError, match="not an http"):
        WebSource("intranet", start_urls=["ftp://intranet/"])
    with pytest.raises(VraagbaakError, match="start_urls or a sitemap"):
        WebSource("intranet")


def test_extraction_drops_menu_sidebar_cookie_banner_and_footer_of_a_div_soup_page(crawl: Crawl) -> None:
    verlof = crawl.item("/verlof")
    assert b'class="menu"' in (verlof.data or b"") and b"<main" not in (verlof.data or b"")
    parsed = parse_file(Path("verlof.html"), verlof.data)
    text = " ".join(" ".join(b.text for b in parsed.blocks).split())
    for sentence in sentences(BODIES["/verlof"][2]):
        assert sentence in text
    for boilerplate in [COOKIE.split(". ")[0], *(label for _, label in MENU), *SIDEBAR, *FOOTER]:
        assert boilerplate not in text
    assert [b.text for b in parsed.blocks if b.kind == "heading"][:3] == [
        "Verlof en vakantiedagen", "Verlof aanvragen", "Bijzonder verlof"]
