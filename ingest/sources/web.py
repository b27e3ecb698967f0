"""The intranet website source: a polite breadth-first crawl within the allowed hosts.

Each page or linked document (PDF, DOCX, ...) becomes one item under its canonical URL (see
`ingest.sources.urls`): after redirects the final URL, and a page's rel=canonical when it is in scope.
Re-runs are conditional: a page's ETag/Last-Modified and outlinks are kept in its `state`; a 304
yields a not-modified item and the crawl goes on with the stored links.

What happens to each URL: 404/410 → nothing (the page is gone); 5xx, timeouts, oversized responses,
connection errors → an item with `error` (the pipeline keeps the old version); robots.txt-disallowed,
excluded or other-host URLs are never fetched; responses of a type Vraagbaak cannot read are skipped.
`complete` turns False when the listing may miss pages: `max_pages` reached, a sitemap that could not
be read, or a page that failed without links from an earlier run to continue with. `max_depth` is
part of the crawl's definition (like `exclude`), not a truncation.
"""

from __future__ import annotations

import email.utils
import logging
import posixpath
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from core.errors import ErrorCode, VraagbaakError
from ingest.parse import MEDIA_TYPES
from ingest.sources.base import Source, SourceItem
from ingest.sources.fetch import Http, Response
from ingest.sources.urls import Scope, canonical_url, host_of, page_links, parse_sitemap

log = logging.getLogger(__name__)

USER_AGENT = "VraagbaakBot/1.0 (+self-hosted assistant)"
MAX_REDIRECTS = 5
_MAX_SITEMAPS = 50
_GONE = (404, 410)
_REDIRECTS = (301, 302, 303, 307, 308)
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_DOCUMENT_TYPES = {
    "application/pdf": ".pdf", "text/markdown": ".md", "text/plain": ".txt", "text/csv": ".csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel.sheet.macroenabled.12": ".xlsm", "message/rfc822": ".eml",
    "application/vnd.ms-outlook": ".msg",
}
_GENERIC_TYPES = ("", "application/octet-stream", "binary/octet-stream", "application/download",
                  "application/force-download", "application/x-download")


@dataclass(frozen=True)
class _Visit:
    url: str
    depth: int


class WebSource(Source):
    """An intranet website. `start_urls` and/or `sitemap` say where the crawl begins."""

    kind: ClassVar[str] = "web"

    def __init__(self, source_id: str, *, start_urls: list[str] | tuple[str, ...] = (), sitemap: str | None = None,
                 allowed_hosts: list[str] | tuple[str, ...] | None = None, include: list[str] | tuple[str, ...] = (),
                 exclude: list[str] | tuple[str, ...] = (), max_pages: int = 500, max_depth: int = 5,
                 delay_s: float = 0.5, timeout_s: float = 10.0, max_bytes: int = 20 * 1024 * 1024,
                 user_agent: str = USER_AGENT, groups: tuple[str, ...] | list[str] = (),
                 metadata: Mapping[str, Any] | None = None) -> None:
        super().__init__(source_id, groups=tuple(groups))
        starts = [canonical_url(u) for u in start_urls]
        bad = [u for u, c in zip(start_urls, starts, strict=True) if c is None]
        if bad or (sitemap and canonical_url(sitemap) is None):
            raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"source '{source_id}': not an http(s) URL: "
                                                           f"{(bad or [sitemap])[0]}")
        if not starts and not sitemap:
            raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"source '{source_id}': give start_urls or a sitemap")
        self.metadata = dict(metadata or {})
        self.start_urls = tuple(u for u in starts if u is not None)
        self.sitemap = canonical_url(sitemap) if sitemap else None
        hosts = allowed_hosts or [host_of(u) for u in (*self.start_urls, *([self.sitemap] if self.sitemap else []))]
        self.scope = Scope(frozenset(h.lower().removesuffix(":80").removesuffix(":443") for h in hosts),
                           tuple(include), tuple(exclude))
        self.max_pages, self.max_depth = max_pages, max_depth
        self.delay_s, self.timeout_s, self.max_bytes, self.user_agent = delay_s, timeout_s, max_bytes, user_agent

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "start_urls": list(self.start_urls), "sitemap": self.sitemap,
                "allowed_hosts": sorted(self.scope.hosts), "include": list(self.scope.include),
                "exclude": list(self.scope.exclude), "max_pages": self.max_pages, "max_depth": self.max_depth}

    def scan(self, previous: Mapping[str, Mapping[str, Any]]) -> Iterator[SourceItem]:
        self.complete = True
        with Http(user_agent=self.user_agent, timeout_s=self.timeout_s, max_bytes=self.max_bytes,
                  delay_s=self.delay_s) as http:
            yield from _Crawl(self, http, previous).run()


class _Crawl:
    """One scan: the queue, what has been seen, and what each response turns into."""

    def __init__(self, source: WebSource, http: Http, previous: Mapping[str, Mapping[str, Any]]) -> None:
        self.source, self.http, self.previous = source, http, previous
        self.scope = source.scope
        self.queue: deque[_Visit] = deque()
        self.seen: set[str] = set()
        """URLs queued or fetched (any hop of a redirect, any name of a page)."""
        self.done: set[str] = set()
        """Canonical URLs already handled: yielded, gone or failed."""
        self.fetched = 0

    def run(self) -> Iterator[SourceItem]:
        for url in self.source.start_urls:
            self._enqueue(url, 0)
        if self.source.sitemap:
            for url in self._sitemap_pages(self.source.sitemap):
                self._enqueue(url, 0)
        while self.queue:
            visit = self.queue.popleft()
            if visit.url in self.done:
                continue
            if self.fetched >= self.source.max_pages:
                log.warning("page limit reached; the listing is incomplete",
                            extra={"ctx": {"source": self.source.source_id, "max_pages": self.source.max_pages}})
                self.source.complete = False
                return
            yield from self._visit(visit)

    def _enqueue(self, url: str, depth: int) -> None:
        if url in self.seen or depth > self.source.max_depth or not self.scope.allows(url):
            return
        self.seen.add(url)
        self.queue.append(_Visit(url, depth))

    def _follow(self, links: list[str] | tuple[str, ...], depth: int) -> None:
        for link in links:
            self._enqueue(link, depth + 1)

    def _visit(self, visit: _Visit) -> Iterator[SourceItem]:
        self.fetched += 1
        url = visit.url
        for _ in range(MAX_REDIRECTS + 1):
            if not self.http.allowed(url):
                log.info("disallowed by robots.txt", extra={"ctx": {"url": url}})
                return
            response = self.http.get(url, self._validators(url), want=_readable)
            self.seen.add(url)
            location = response.header("Location") if response.status in _REDIRECTS else None
            if location is None:
                break
            target = canonical_url(location, url)
            if target is None or not self.scope.allows(target):
                yield from self._left_scope(visit.url, url, location)
                return
            if target in self.done:
                return
            url = target
        else:
            yield from self._failed(url, f"more than {MAX_REDIRECTS} redirects", visit.depth)
            return
        yield from self._handle(url, response, visit.depth)

    def _handle(self, url: str, response: Response, depth: int) -> Iterator[SourceItem]:
        self.done.add(url)
        if response.error is not None:
            yield from self._failed(url, response.error, depth)
        elif response.status == 304 and url in self.previous:
            state = self.previous[url]
            self._follow(state.get("links") or (), depth)
            yield SourceItem(url, str(state.get("suffix") or ".html"), link=url, metadata=self.source.metadata,
                             state=state, not_modified=True)
        elif response.status in _GONE:
            log.info("page gone", extra={"ctx": {"url": url, "status": response.status}})
        elif response.status != 200:
            yield from self._failed(url, f"the server answered HTTP {response.status}", depth)
        elif response.body is None:
            log.info("not a readable document type; skipped",
                     extra={"ctx": {"url": url, "type": response.header("Content-Type")}})
        else:
            yield from self._fetched(url, response, depth)

    def _fetched(self, url: str, response: Response, depth: int) -> Iterator[SourceItem]:
        suffix = _suffix(response)
        if suffix is None:
            log.info("not a readable document type; skipped",
                     extra={"ctx": {"url": url, "type": response.header("Content-Type")}})
            return
        body = response.body or b""
        state: dict[str, Any] = {"suffix": suffix}
        for key, header in (("etag", "ETag"), ("last_modified", "Last-Modified")):
            if response.header(header):
                state[key] = response.header(header)
        uri, index = url, self.scope.indexes(url)
        if suffix == ".html":
            page = page_links(body, url)
            links = [] if page.nofollow else [link for link in page.links if self.scope.allows(link)]
            state["links"] = links
            self._follow(links, depth)
            index = index and not page.noindex
            if page.canonical and page.canonical != url and self.scope.indexes(page.canonical):
                if page.canonical in self.done:
                    return
                uri = page.canonical
                self.done.add(uri)
        if not index:
            return
        yield SourceItem(uri, suffix, data=body, link=uri, modified=_timestamp(response.header("Last-Modified")),
                         size=len(body), metadata=self.source.metadata, state=state)

    def _failed(self, url: str, reason: str, depth: int) -> Iterator[SourceItem]:
        """An error item; the crawl goes on with the page's links from the last run, when there are."""
        self.done.add(url)
        state = self.previous.get(url) or {}
        links = state.get("links")
        if links is not None:
            self._follow(links, depth)
        elif state.get("suffix", ".html") == ".html":
            self.source.complete = False  # its links are unknown: pages only it links to look gone
        log.warning("fetch failed", extra={"ctx": {"url": url, "reason": reason}})
        if self.scope.indexes(url):
            yield SourceItem(url, str(state.get("suffix") or _url_suffix(url) or ".html"), link=url,
                             state=state, error=reason)

    def _left_scope(self, start: str, url: str, location: str) -> Iterator[SourceItem]:
        """A redirect out of the allowed hosts: nothing to index, unless the page was indexed before
        (then it is reported, and kept: a login page in front of the intranet must not empty it)."""
        log.info("redirect leaves the crawl's scope", extra={"ctx": {"url": url, "location": location}})
        for name in (start, url):
            if name in self.previous and name not in self.done:
                self.done.add(name)
                yield SourceItem(name, str(self.previous[name].get("suffix") or ".html"), link=name,
                                 state=self.previous[name], error=f"redirected to {location}, outside the crawl")

    def _validators(self, url: str) -> dict[str, str]:
        state = self.previous.get(url) or {}
        headers = {}
        if state.get("etag"):
            headers["If-None-Match"] = str(state["etag"])
        if state.get("last_modified"):
            headers["If-Modified-Since"] = str(state["last_modified"])
        return headers

    def _sitemap_pages(self, first: str) -> list[str]:
        pages: list[str] = []
        todo, read = deque([first]), set()
        while todo and len(read) < _MAX_SITEMAPS:
            url = todo.popleft()
            read.add(url)
            if not self.http.allowed(url):
                continue
            response = self.http.get(url)
            try:
                if response.error or response.status != 200 or response.body is None:
                    raise ValueError(response.error or f"HTTP {response.status}")
                sitemap = parse_sitemap(response.body, url)
            except ValueError as exc:
                log.warning("sitemap unreadable; the listing is incomplete", extra={"ctx": {"url": url,
                                                                                            "reason": str(exc)}})
                self.source.complete = False
                continue
            pages.extend(sitemap.pages)
            todo.extend(s for s in sitemap.sitemaps if s not in read and self.scope.allows(s))
        return pages


def _readable(headers: httpx.Headers) -> bool:
    content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
    return content_type in _HTML_TYPES or content_type in _DOCUMENT_TYPES or content_type in _GENERIC_TYPES


def _suffix(response: Response) -> str | None:
    """".html" for a page, the document's suffix, or None when Vraagbaak cannot read it."""
    content_type = (response.header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type in _HTML_TYPES:
        return ".html"
    if content_type in _DOCUMENT_TYPES:
        return _DOCUMENT_TYPES[content_type]
    disposition = response.header("Content-Disposition") or ""
    name = disposition.split("filename=")[-1].strip('"; ') if "filename=" in disposition else ""
    return _url_suffix(name) or _url_suffix(response.url)


def _url_suffix(url: str) -> str | None:
    suffix = posixpath.splitext(urlsplit(url).path)[1].lower()
    return suffix if suffix in MEDIA_TYPES else None


def _timestamp(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
