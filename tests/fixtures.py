"""Documents the tests write themselves: real files in each format, and broken ones."""

from __future__ import annotations

import io
from pathlib import Path

VERLOF_MD = """---
title: Verlofregeling testbedrijf
owner: HR
---
# Verlofregeling

## Vakantiedagen

Een medewerker met een volledig dienstverband van 38 uur heeft recht op 27 vakantiedagen per jaar.
Parttimers krijgen vakantiedagen naar rato van hun contracturen.

## Aanvragen

Verlof vraag je minstens twee weken vooraf aan in het portaal Mijn HR.
"""

EXPENSES_HTML = """<!doctype html><html lang="en"><head><title>Travel expenses</title></head><body>
<nav><a href="/">Home</a> <a href="/hr">HR</a> Menu item that is navigation</nav>
<main><h1>Travel expenses</h1>
<h2>Mileage</h2><p>Business trips by private car are reimbursed at 0.31 euro per kilometre.</p>
<h2>Deadline</h2><p>Submit every expense claim within 60 days of the trip, with receipts attached.</p>
<table><tr><th>Item</th><th>Limit</th></tr><tr><td>Hotel night</td><td>140 euro</td></tr></table>
</main><footer>Copyright footer text</footer></body></html>
"""


def write_docx(path: Path, title: str, sections: list[tuple[str, list[str]]]) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, level=1)
    for heading, paragraphs in sections:
        document.add_heading(heading, level=2)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    document.save(str(path))
    return path


def write_pdf(path: Path, pages: list[list[str]], title: str = "") -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    if title:
        pdf.setTitle(title)
    for lines in pages:
        y = 800
        for line in lines:
            pdf.drawString(60, y, line)
            y -= 18
        pdf.showPage()
    pdf.save()
    path.write_bytes(buffer.getvalue())
    return path


def write_pptx(path: Path, slides: list[tuple[str, str, str]]) -> Path:
    """A deck with one (title, body, speaker notes) per slide."""
    from pptx import Presentation

    deck = Presentation()
    for title, body, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        slide.notes_slide.notes_text_frame.text = notes
    deck.save(str(path))
    return path


def small_corpus(folder: Path) -> Path:
    """A folder with one good file per format."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "verlof.md").write_text(VERLOF_MD, encoding="utf-8")
    (folder / "expenses.html").write_text(EXPENSES_HTML, encoding="utf-8")
    write_docx(folder / "security.docx", "Beveiligingsbeleid", [
        ("Wachtwoorden", ["Een wachtwoord heeft minimaal 14 tekens en wordt nooit gedeeld."]),
        ("Phishing", ["Meld verdachte e-mail direct via phishing@example.nl."]),
    ])
    write_pdf(folder / "onboarding.pdf", [
        ["1. Eerste werkdag", "Op je eerste werkdag haal je je laptop op bij de servicedesk om 9 uur."],
        ["2. Buddy", "Elke nieuwe medewerker krijgt een buddy voor de eerste drie maanden."],
    ], title="Onboarding")
    (folder / "notes.txt").write_text("De kantine is open van 8 tot 14 uur.\n\nKoffie is gratis.", encoding="utf-8")
    return folder


def bad_files(folder: Path) -> dict[str, Path]:
    """A corrupt PDF, an empty file and an unknown binary."""
    folder.mkdir(parents=True, exist_ok=True)
    corrupt = folder / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage \x00\x01\x02 no xref")
    empty = folder / "empty.docx"
    empty.write_bytes(b"")
    binary = folder / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    return {"corrupt": corrupt, "empty": empty, "binary": binary}


HR_TITLE = "Salarisschalen"
HR_SECRET = "4.200 euro tot 5.800 euro"
"""Text of the HR-only document that a reader outside `hr` must never see."""


def hr_corpus(folder: Path) -> Path:
    """A small intranet with one document only the `hr` group may read (a folder sidecar says so) and one
    open to everyone; returns the folder."""
    (folder / "hr").mkdir(parents=True)
    (folder / "algemeen").mkdir()
    (folder / "hr" / ".vraagbaak.yml").write_text("groups: [hr]\n")
    (folder / "hr" / "salarisschalen.md").write_text(
        f"# {HR_TITLE}\n\n## Senior adviseur\n\nHet bruto maandsalaris van een senior adviseur loopt van "
        f"{HR_SECRET}, afhankelijk van de ervaring.\n")
    (folder / "algemeen" / "kantine.md").write_text(
        "# Kantine\n\nDe kantine is op werkdagen open van 11.30 tot 14.00 uur. Een broodje kost 2,50 euro.\n")
    return folder
