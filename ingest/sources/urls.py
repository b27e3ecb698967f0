"""URLs for the web source: one canonical form per page, the crawl's scope, links and sitemaps.

A page is indexed once however it is linked: scheme and host in lower case, default port dropped,
fragment dropped, tracking parameters (utm_*, fbclid, gclid, ...) dropped, the other query
parameters sorted, `.`/`..` resolved.
"""

from __future__ import annotations

import fnmatch
import gzip
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from lxml import etree
from lxml import html as lxml_html

_TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|_ga|_gl|yclid)$", re.I)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
# links to these are never documents Vraagbaak reads: not worth a request
_NOT_DOCUMENTS = {".jpg", ".jpeg", ".png", ".gif", ".svg", ".webp", ".ico", ".bmp", ".tif", ".tiff", ".mp3",
                  ".mp4", ".avi", ".mov", ".wmv", ".webm", ".wav", ".zip", ".7z", ".rar", ".gz", ".tar", ".exe",
                  ".msi", ".dmg", ".iso", ".css", ".js", ".woff", ".woff2", ".ttf", ".eot", ".ics", ".vcf"}


def canonical_url(url: str, base: str | None = None) -> str | None:
    """The canonical form of a (relative) http(s) URL, or None when it is not a web page address."""
    try:
        parts = urlsplit(urljoin(base, url.strip()) if base else url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = parts.path or "/"
    resolved = posixpath.normpath(path)
    if path.endswith("/") and resolved != "/":
        resolved += "/"
    resolved = resolved.replace("//", "/")
    path = _ESCAPE.sub(lambda m: m.group(0).upper(), quote(resolved, safe="/%:@!$&'()*+,;=-._~"))
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    return urlunsplit((scheme, host, path, urlencode(sorted(query)), ""))


def host_of(url: str) -> str:
    """host[:port] of a canonical URL."""
    return urlsplit(url).netloc


@dataclass(frozen=True)
class Scope:
    """Which URLs the crawl may fetch (`allows`) and which pages it indexes (`indexes`).

    Patterns match the path (with the query, when there is one): a pattern that starts with `re:` is a
    regular expression searched in it, anything else a glob (`/nieuws/*`). Excluded URLs are never
    fetched; when `include` is set, other pages are still crawled for their links but not indexed.
    """

    hosts: frozenset[str]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def allows(self, url: str) -> bool:
        if host_of(url) not in self.hosts:
            return False
        if posixpath.splitext(urlsplit(url).path)[1].lower() in _NOT_DOCUMENTS:
            return False
        return not any(_matches(p, url) for p in self.exclude)

    def indexes(self, url: str) -> bool:
        return self.allows(url) and (not self.include or any(_matches(p, url) for p in self.include))


def _matches(pattern: str, url: str) -> bool:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    if pattern.startswith("re:"):
        return re.search(pattern[3:], target) is not None
    return fnmatch.fnmatchcase(target, pattern) or fnmatch.fnmatchcase(parts.path, pattern)


@dataclass(frozen=True)
class PageLinks:
    links: tuple[str, ...]
    """Canonical URLs of the page's links, in page order, without duplicates."""
    canonical: str | None
    """The page's `<link rel="canonical">`, canonicalised."""
    noindex: bool
    nofollow: bool


def page_links(html: bytes, url: str) -> PageLinks:
    """Links, rel=canonical and robots meta of an HTML page fetched from `url`."""
    try:
        tree = lxml_html.fromstring(html)
    except (etree.ParserError, ValueError):
        return PageLinks((), None, False, False)
    base = next(iter(tree.xpath("//base/@href")), None)
    base = urljoin(url, base) if base else url
    robots = " ".join(tree.xpath("//meta[translate(@name,'ROBTS','robts')='robots']/@content")).lower()
    canonical = next((canonical_url(h, base) for h in tree.xpath("//link[@href][contains(concat(' ', "
                      "translate(@rel,'CANONIL','canonil'), ' '), ' canonical ')]/@href")), None)
    links: dict[str, None] = {}
    for href in tree.xpath("//a/@href|//area/@href"):
        link = canonical_url(href, base)
        if link is not None:
            links.setdefault(link, None)
    return PageLinks(tuple(links), canonical, "noindex" in robots or "none" in robots,
                     "nofollow" in robots or "none" in robots)


@dataclass(frozen=True)
class Sitemap:
    pages: tuple[str, ...]
    sitemaps: tuple[str, ...]
    """Further sitemaps, when this one is a sitemap index."""


def parse_sitemap(data: bytes, url: str) -> Sitemap:
    """The <loc> entries of a sitemap (gzipped or not) or sitemap index; raises ValueError when the
    file is not a sitemap."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"the sitemap is not valid XML ({exc})") from exc
    kind = etree.QName(root).localname
    if kind not in ("urlset", "sitemapindex"):
        raise ValueError(f"not a sitemap (root element <{kind}>)")
    locs = _locs(root.iter("{*}loc"), url)
    return Sitemap(() if kind == "sitemapindex" else locs, locs if kind == "sitemapindex" else ())


def _locs(elements: Iterable[etree._Element], base: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for element in elements:
        url = canonical_url(element.text or "", base)
        if url is not None:
            found.setdefault(url, None)
    return tuple(found)
