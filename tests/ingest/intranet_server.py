"""A generated mini-intranet on a real HTTP server (127.0.0.1, random port) for the web source tests
and the HTML extraction benchmark (bench/html_extract.py).

Dutch pages in five layouts that intranets really have: semantic HTML5 (`<header>`, `<nav>`, `<main>`,
`<aside>`, `<footer>`), semantic with boilerplate inside `<main>`, "div soup" without any semantic tag
(class="menu", "sidebar", cookie banner, breadcrumbs, related pages, footer div with address), the same
with Dutch class names ("hoofdmenu", "zijbalk", "inhoud", "voettekst"), and an old table layout. Every page knows which of its sentences are body and which are boilerplate.

The server has robots.txt (disallows /prive/), a sitemap index, a 301 redirect, a link to a 404, a
slow page, a duplicate reachable with tracking parameters and through rel=canonical, a PDF made with
reportlab, ETag/Last-Modified with 304 answers, and a request log with arrival times.
"""

from __future__ import annotations

import email.utils
import hashlib
import html
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from lxml import html as lxml_html

MENU = [("/", "Startpagina intranet"), ("/verlof", "Personeel en salaris"), ("/thuiswerken", "Werkplek en ICT"),
        ("/nieuws", "Nieuws en agenda"), ("/prive/salarissen", "Smoelenboek collega's")]
COOKIE = ("Wij gebruiken functionele cookies om het intranet goed te laten werken. "
          "Kies Alles accepteren of stel je voorkeuren in.")
SIDEBAR = ["Roosterplanner openen", "Storing melden bij de servicedesk", "Wachtwoord vergeten of verlopen?"]
RELATED = ["Declaraties indienen via Mijn HR", "Ziekmelding doorgeven aan je leidinggevende",
           "Pensioenregeling bij het ABP bekijken"]
CRUMBS = "U bent hier: Home › HR-zaken › deze pagina"
SHARE = "Deel deze pagina via e-mail of Teams"
FOOTER = ["Gemeente Havenstad, Stadhuisplein 1, 1234 AB Havenstad", "Telefoon servicedesk 010 123 45 67",
          "Privacyverklaring en cookiebeleid", "Copyright 2024 Gemeente Havenstad, alle rechten voorbehouden"]
LAYOUTS = ("semantic", "semantic-leaky", "divsoup", "divsoup-nl", "tables")


@dataclass
class Page:
    path: str
    title: str
    layout: str
    body: str
    """The page's own content (HTML fragment, starting with its h1)."""
    canonical: str | None = None

    def render(self) -> str:
        return _render(self)


def _menu() -> str:
    return "".join(f'<li><a href="{href}">{html.escape(label)}</a></li>' for href, label in MENU)


def _links(labels: list[str], hrefs: list[str]) -> str:
    return "".join(f'<li><a href="{h}">{html.escape(t)}</a></li>' for t, h in zip(labels, hrefs, strict=True))


_RELATED_HREFS = ["/verlof", "/thuiswerken", "https://www.abp.example/pensioen"]


def _render(page: Page) -> str:
    head = f"<title>{html.escape(page.title)} - Intranet Havenstad</title>"
    if page.canonical:
        head += f'<link rel="canonical" href="{page.canonical}">'
    footer = "".join(f"<p>{html.escape(line)}</p>" for line in FOOTER) + \
        '<p><a href="mailto:servicedesk@havenstad.example">Mail de servicedesk</a></p>'
    related = f"<h2>Gerelateerde pagina's</h2><ul>{_links(RELATED, _RELATED_HREFS)}</ul>"
    sidebar = "<h3>Snel naar</h3><ul>" + "".join(f'<li><a href="/">{s}</a></li>' for s in SIDEBAR) + "</ul>"
    cookie = f'<div class="cookie-banner" id="cookie-consent"><p>{COOKIE}</p><button>Alles accepteren</button></div>'
    if page.layout == "semantic":
        body = (f'{cookie}<header><a class="logo" href="/">Intranet Havenstad</a><nav class="menu"><ul>{_menu()}'
                f'</ul></nav></header><nav class="breadcrumbs" aria-label="Kruimelpad"><p>{CRUMBS}</p></nav>'
                f"<main>{page.body}</main><aside>{related}{sidebar}</aside><footer>{footer}</footer>")
    elif page.layout == "semantic-leaky":
        body = (f'{cookie}<header><nav class="menu"><ul>{_menu()}</ul></nav></header><main>'
                f'<div class="breadcrumbs"><p>{CRUMBS}</p></div>{page.body}<div class="share"><p>{SHARE}</p></div>'
                f'<div class="related">{related}</div></main><footer>{footer}</footer>')
    elif page.layout == "divsoup":
        body = (f'{cookie}<div id="top"><div class="logo">Intranet Havenstad</div><div class="menu"><ul>{_menu()}'
                f'</ul></div></div><div class="breadcrumbs"><p>{CRUMBS}</p></div><div id="wrapper">'
                f'<div id="sidebar">{sidebar}</div><div class="content">{page.body}'
                f'<div class="share"><p>{SHARE}</p></div></div><div class="related">{related}</div></div>'
                f'<div class="footer">{footer}</div>')
    elif page.layout == "divsoup-nl":  # Dutch class names that no extraction library knows
        body = (f'<div id="melding-cookies"><p>{COOKIE}</p></div><div class="kop"><div class="hoofdmenu"><ul>'
                f'{_menu()}</ul></div></div><div class="kruimelpad"><p>{CRUMBS}</p></div><div class="pagina">'
                f'<div class="zijbalk">{sidebar}</div><div class="inhoud">{page.body}'
                f'<div class="delen"><p>{SHARE}</p></div></div><div class="zie-ook">{related}</div></div>'
                f'<div class="voettekst">{footer}</div>')
    elif page.layout == "tables":
        body = (f'<table width="100%" border="0"><tr><td colspan="2" class="top"><b>Intranet Havenstad</b></td></tr>'
                f'<tr><td class="left" width="200"><ul>{_menu()}</ul>{sidebar}</td><td class="content">'
                f'{page.body}</td></tr><tr><td colspan="2" class="bottom">{footer}</td></tr></table>')
    else:
        raise ValueError(f"unknown layout {page.layout}")
    return f'<!doctype html><html lang="nl"><head><meta charset="utf-8">{head}</head><body>{body}</body></html>'


BODIES = {
    "/": ("Welkom op het intranet", "semantic", """<h1>Welkom op het intranet</h1>
<p>Hier vind je alles wat je nodig hebt voor je werk bij de gemeente Havenstad. De servicedesk is op werkdagen
bereikbaar van acht tot vijf.</p>
<h2>Veelgevraagd</h2>
<ul><li><a href="/oud-adres">Vergoeding van reiskosten voor woon-werkverkeer</a></li>
<li><a href="/bestaat-niet">Het oude handboek voor nieuwe medewerkers</a></li>
<li><a href="/traag">Overzicht van alle vergaderruimtes</a></li>
<li><a href="/pagina?utm_source=mail&amp;utm_medium=nieuwsbrief">Parkeren bij het stadhuis</a></li>
<li><a href="/pagina-kopie">Parkeren voor bezoekers van het stadhuis</a></li>
<li><a href="/documenten/handboek.pdf">Personeelshandboek als PDF downloaden</a></li>
<li><a href="/afbeeldingen/logo.png">Logo van de gemeente voor presentaties</a></li>
<li><a href="https://www.rijksoverheid.example/cao">Cao gemeenten op de site van de rijksoverheid</a></li></ul>
<h2>Laatste nieuws</h2>
<p>De kantine heeft sinds maandag een nieuwe saladebar met lokale producten.</p>"""),
    "/verlof": ("Verlof en vakantiedagen", "divsoup", """<h1>Verlof en vakantiedagen</h1>
<p>Een medewerker met een volledig dienstverband van 36 uur heeft recht op 165 vakantie-uren per jaar.
Parttimers krijgen vakantie-uren naar rato van hun contracturen.</p>
<h2>Verlof aanvragen</h2>
<p>Je vraagt verlof minstens twee weken vooraf aan in het portaal Mijn HR. Je leidinggevende beoordeelt de
aanvraag binnen vijf werkdagen.</p>
<h2>Bijzonder verlof</h2>
<ul><li>Bij je eigen huwelijk krijg je twee dagen bijzonder verlof.</li>
<li>Bij een verhuizing krijg je een dag bijzonder verlof per kalenderjaar.</li></ul>
<table><tr><th>Soort verlof</th><th>Duur</th></tr><tr><td>Zwangerschapsverlof</td><td>zestien weken</td></tr>
<tr><td>Geboorteverlof partner</td><td>een keer de wekelijkse werktijd</td></tr></table>"""),
    "/thuiswerken": ("Thuiswerken", "semantic-leaky", """<h1>Thuiswerken</h1>
<p>Je mag in overleg met je team tot drie dagen per week thuiswerken. Op dinsdag werkt iedereen op kantoor.</p>
<h2>Vergoeding</h2>
<p>Voor elke thuiswerkdag krijg je een thuiswerkvergoeding van 2,35 euro netto. De vergoeding wordt elke maand
automatisch uitbetaald met je salaris.</p>
<p>Welke spullen je krijgt lees je bij <a href="/thuiswerken/apparatuur">apparatuur voor thuis</a>.</p>"""),
    "/thuiswerken/apparatuur": ("Apparatuur voor thuis", "tables", """<h1>Apparatuur voor thuis</h1>
<p>Iedere medewerker die thuiswerkt krijgt een bureaustoel en een tweede beeldscherm in bruikleen. Je bestelt ze
via de webwinkel van Facilitaire Zaken.</p>
<p>Bij uit dienst treden lever je de spullen weer in bij de balie in de hal van het stadhuis.</p>
<p>Lees ook de regels voor de <a href="/thuiswerken/apparatuur/laptop">laptop van de zaak</a>.</p>"""),
    "/thuiswerken/apparatuur/laptop": ("Laptop van de zaak", "divsoup", """<h1>Laptop van de zaak</h1>
<p>Je laptop van de zaak gebruik je alleen voor je werk en je vergrendelt hem altijd als je wegloopt.</p>"""),
    "/nieuws": ("Nieuws", "semantic", """<h1>Nieuws</h1>
<article><h2><a href="/nieuws/kantine">Nieuwe saladebar in de kantine</a></h2>
<p>Vanaf maandag kun je in de kantine kiezen uit salades met groenten van boeren uit de regio.</p></article>
<article><h2>Verkiezingen ondernemingsraad</h2>
<p>In mei kies je een nieuwe ondernemingsraad. Kandidaten melden zich voor 1 april bij de griffie.</p></article>"""),
    "/nieuws/kantine": ("Nieuwe saladebar", "divsoup", """<h1>Nieuwe saladebar in de kantine</h1>
<p>De kantine is op vrijdagmiddag gesloten vanwege de verbouwing van de keuken.</p>"""),
    "/pagina": ("Parkeren bij het stadhuis", "divsoup", """<h1>Parkeren bij het stadhuis</h1>
<p>Medewerkers parkeren gratis in de garage onder het stadhuis met hun toegangspas. Bezoekers parkeren op het
plein en krijgen een uitrijkaart bij de receptie.</p>
<h2>Fietsen</h2><p>De fietsenstalling naast de hoofdingang heeft oplaadpunten voor elektrische fietsen.</p>"""),
    "/reiskosten": ("Reiskosten", "semantic", """<h1>Reiskosten woon-werkverkeer</h1>
<p>Voor woon-werkverkeer krijg je 0,23 euro per kilometer tot een maximum van 30 kilometer enkele reis.
Reis je met het openbaar vervoer, dan vergoedt de gemeente het volledige abonnement.</p>
<h2>Zakelijke reizen</h2><p>Dienstreizen declareer je binnen twee maanden met de bonnetjes erbij.</p>"""),
    "/traag": ("Vergaderruimtes", "semantic", "<h1>Vergaderruimtes</h1><p>Alle vergaderruimtes staan op de derde"
                                               " verdieping en reserveer je in Outlook.</p>"),
    "/prive/salarissen": ("Salarissen", "semantic", "<h1>Salarissen</h1><p>Dit is een vertrouwelijke lijst met de"
                                                     " salarissen van alle medewerkers.</p>"),
}
HANDBOOK_LINES = ["Personeelshandboek gemeente Havenstad", "Artikel 1. Werktijden",
                  "De normale werktijd is 36 uur per week, verdeeld over vijf dagen."]
SLOW_PATH = "/traag"


def site_pages() -> dict[str, Page]:
    """The intranet's HTML pages by path (fresh objects, so a test may change them)."""
    pages = {path: Page(path, title, layout, body) for path, (title, layout, body) in BODIES.items()}
    pages["/pagina"].canonical = "/pagina"
    pages["/pagina-kopie"] = Page("/pagina-kopie", pages["/pagina"].title, "semantic", pages["/pagina"].body,
                                  canonical="/pagina")
    return pages


# -- the known body and boilerplate sentences (for extraction measurements) ---------------------------

_UNIT_TAGS = ("h1", "h2", "h3", "p", "li", "td", "th")


def sentences(fragment: str) -> list[str]:
    """The measurable sentences of an HTML fragment: the text of each block element, split at sentence
    ends, whitespace-normalised; pieces under 12 characters are too short to tell apart."""
    tree = lxml_html.fragment_fromstring(fragment, create_parent="div")
    units = []
    for node in tree.iter(*_UNIT_TAGS):
        if any(child.tag in _UNIT_TAGS for child in node.iter() if child is not node):
            continue
        text = " ".join(node.text_content().split())
        units.extend(s for s in re.split(r"(?<=[.!?])\s+", text) if len(s) >= 12)
    return units


def boilerplate_sentences() -> list[str]:
    return [COOKIE.split(". ")[0] + ".", COOKIE.split(". ")[1], *(label for _, label in MENU if len(label) >= 12),
            *SIDEBAR, *RELATED, "Gerelateerde pagina's", CRUMBS, SHARE, *FOOTER, "Mail de servicedesk"]


@dataclass(frozen=True)
class ExtractionCase:
    name: str
    html: str
    body: list[str]
    boilerplate: list[str]
    headings: list[str]


def extraction_cases() -> list[ExtractionCase]:
    """Every content page in every layout: the same body text wrapped in each kind of page chrome."""
    cases = []
    for path, (title, _, body) in BODIES.items():
        for layout in LAYOUTS:
            page = Page(path, title, layout, body)
            headings = [" ".join(h.text_content().split()) for h in
                        lxml_html.fragment_fromstring(body, create_parent="div").iter("h1", "h2", "h3")]
            cases.append(ExtractionCase(f"{layout}:{path}", page.render(), sentences(body), boilerplate_sentences(),
                                        headings))
    return cases


# -- the server ---------------------------------------------------------------------------------------

@dataclass
class Resource:
    body: bytes
    content_type: str
    modified: float
    status: int = 200
    location: str | None = None

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass(frozen=True)
class Hit:
    path: str
    status: int
    at: float
    """time.monotonic() when the request arrived."""
    headers: dict[str, str] = field(default_factory=dict)


def handbook_pdf() -> bytes:
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)  # same bytes every time
    pdf.setTitle("Personeelshandboek")
    for y, line in zip((800, 780, 760), HANDBOOK_LINES, strict=True):
        pdf.drawString(60, y, line)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


class Intranet:
    """The mini-intranet: `with Intranet() as site: site.url("/")`. `site.log` lists every request."""

    def __init__(self, *, slow_s: float = 1.0, crawl_delay: int | None = None) -> None:
        self.slow_s = slow_s
        self.log: list[Hit] = []
        self.resources: dict[str, Resource] = {}
        self._lock = threading.Lock()
        self._clock = 1_709_280_000.0  # 2024-03-01, the pages' Last-Modified
        for page in site_pages().values():
            self.set_page(page)
        robots = "User-agent: *\nDisallow: /prive/\n" + (f"Crawl-delay: {crawl_delay}\n" if crawl_delay else "")
        self._put("/robots.txt", robots.encode(), "text/plain")
        self._put("/documenten/handboek.pdf", handbook_pdf(), "application/pdf")
        self.resources["/oud-adres"] = Resource(b"", "text/html", self._clock, 301, "/reiskosten")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.handle_error = lambda request, address: None  # a client that timed out hung up
        self._put("/sitemap.xml", _sitemap_index([self.url("/sitemap-paginas.xml")]), "application/xml")
        self._put("/sitemap-paginas.xml", _urlset([self.url(p) for p in ("/", "/verlof", "/nieuws/kantine")]),
                  "application/xml")
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def set_page(self, page: Page) -> None:
        """Add or change a page; a change gets a new ETag and a later Last-Modified."""
        self._clock += 86_400
        self._put(page.path, page.render().encode("utf-8"), "text/html; charset=utf-8")

    def _put(self, path: str, body: bytes, content_type: str) -> None:
        self.resources[path] = Resource(body, content_type, self._clock)

    def hits(self, path: str | None = None) -> list[Hit]:
        with self._lock:
            return [h for h in self.log if path is None or urlsplit(h.path).path == path]

    def __enter__(self) -> Intranet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _sitemap_index(urls: list[str]) -> bytes:
    items = "".join(f"<sitemap><loc>{u}</loc></sitemap>" for u in urls)
    return ('<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{items}</sitemapindex>").encode()


def _urlset(urls: list[str]) -> bytes:
    items = "".join(f"<url><loc>{u}</loc><lastmod>2024-03-01</lastmod></url>" for u in urls)
    return ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{items}</urlset>").encode()


def _handler(site: Intranet) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            arrived = time.monotonic()
            path = urlsplit(self.path).path
            resource = site.resources.get(path)
            status = self._status(resource)
            with site._lock:
                site.log.append(Hit(self.path, status, arrived, dict(self.headers.items())))
            if path == SLOW_PATH:
                time.sleep(site.slow_s)
            try:
                self._answer(resource, status)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting

        def _status(self, resource: Resource | None) -> int:
            if resource is None:
                return 404
            if resource.status != 200:
                return resource.status
            etag = self.headers.get("If-None-Match")
            if etag is not None:
                return 304 if etag == resource.etag else 200
            since = self.headers.get("If-Modified-Since")
            if since is not None and email.utils.parsedate_to_datetime(since).timestamp() >= int(resource.modified):
                return 304
            return 200

        def _answer(self, resource: Resource | None, status: int) -> None:
            self.send_response(status)
            if resource is not None and status in (200, 304):
                self.send_header("ETag", resource.etag)
                self.send_header("Last-Modified", email.utils.formatdate(resource.modified, usegmt=True))
            if resource is not None and resource.location:
                self.send_header("Location", resource.location)
            body = resource.body if resource is not None and status == 200 else b""
            if status == 404:
                body = b"<html><body><h1>Pagina niet gevonden</h1></body></html>"
            if body:
                self.send_header("Content-Type", resource.content_type if status == 200 else "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
