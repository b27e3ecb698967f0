#!/usr/bin/env python3
"""Render the demo policy documents (demo/sources/*.md) to PDF and DOCX.

The policy texts live in ``demo/sources/`` as a small Markdown dialect:

* a front-matter block between ``---`` lines with ``key: value`` pairs
  (title, subtitle, output, language, version, effective, owner, approved,
  review, classification). ``output`` decides the format: ``*.pdf`` or
  ``*.docx``;
* ``## 1. Heading`` for numbered sections and ``### 1.1 Heading`` for
  subsections;
* paragraphs separated by blank lines, ``- `` bullet lists, ``1. `` numbered
  lists, ``**bold**`` and pipe tables (``| a | b |`` with a ``|---|`` line).

Output is written to ``demo/corpus/beleid/``. The output is deterministic:
running the script twice yields byte-identical files (fixed PDF ids and
timestamps, fixed ZIP timestamps in the DOCX).

Usage (from the repository root)::

    .venv/bin/python demo/build_corpus.py            # build all
    .venv/bin/python demo/build_corpus.py --check    # build to a temp dir and
                                                     # verify the committed files match
"""
from __future__ import annotations

import argparse
import datetime as dt
import html
import io
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources"
OUT_DIR = HERE / "corpus" / "beleid"

ORG_NAME = "Havenstad Logistiek B.V."

# Labels for the document-control block and footer, per language.
LABELS = {
    "nl": {
        "version": "Versie",
        "effective": "Ingangsdatum",
        "owner": "Eigenaar",
        "approved": "Vastgesteld",
        "review": "Herziening",
        "classification": "Classificatie",
        "page": "Pagina {n} van {total}",
    },
    "en": {
        "version": "Version",
        "effective": "Effective date",
        "owner": "Owner",
        "approved": "Approved",
        "review": "Review",
        "classification": "Classification",
        "page": "Page {n} of {total}",
    },
}

# Fixed timestamp for reproducible files (DOCX core properties).
FIXED_TIME = dt.datetime(2025, 10, 1, 9, 0, 0, tzinfo=dt.UTC)


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------

@dataclass
class Block:
    kind: str  # "h2", "h3", "p", "ul", "ol", "table"
    text: str = ""
    items: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Document:
    meta: dict[str, str]
    blocks: list[Block]

    @property
    def lang(self) -> str:
        return self.meta.get("language", "nl")

    @property
    def labels(self) -> dict[str, str]:
        return LABELS[self.lang]


def parse_source(path: Path) -> Document:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ValueError(f"{path}: missing front matter")
    meta: dict[str, str] = {}
    i = 1
    while i < len(lines) and lines[i].strip() != "---":
        if lines[i].strip():
            key, _, value = lines[i].partition(":")
            meta[key.strip()] = value.strip()
        i += 1
    i += 1  # skip closing ---
    for required in ("title", "output", "version", "effective", "owner"):
        if required not in meta:
            raise ValueError(f"{path}: front matter lacks '{required}'")

    blocks: list[Block] = []
    para: list[str] = []

    def flush_para() -> None:
        if para:
            blocks.append(Block("p", text=" ".join(s.strip() for s in para)))
            para.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            flush_para()
            i += 1
            continue
        if stripped.startswith("### "):
            flush_para()
            blocks.append(Block("h3", text=stripped[4:].strip()))
            i += 1
            continue
        if stripped.startswith("## "):
            flush_para()
            blocks.append(Block("h2", text=stripped[3:].strip()))
            i += 1
            continue
        if stripped.startswith("|"):
            flush_para()
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                row = lines[i].strip().strip("|")
                cells = [c.strip() for c in row.split("|")]
                if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            blocks.append(Block("table", rows=rows))
            continue
        if stripped.startswith("- "):
            flush_para()
            items = []
            while i < len(lines) and lines[i].strip().startswith("- "):
                items.append(lines[i].strip()[2:].strip())
                i += 1
            blocks.append(Block("ul", items=items))
            continue
        if re.match(r"^\d+\. ", stripped) and not para:
            items = []
            while i < len(lines) and re.match(r"^\d+\. ", lines[i].strip()):
                items.append(re.sub(r"^\d+\. ", "", lines[i].strip()))
                i += 1
            blocks.append(Block("ol", items=items))
            continue
        para.append(stripped)
        i += 1
    flush_para()
    return Document(meta=meta, blocks=blocks)


def control_rows(doc: Document) -> list[tuple[str, str]]:
    lab = doc.labels
    rows = []
    for key in ("version", "effective", "owner", "approved", "review", "classification"):
        if doc.meta.get(key):
            rows.append((lab[key], doc.meta[key]))
    return rows


# --------------------------------------------------------------------------
# PDF (reportlab)
# --------------------------------------------------------------------------

def _rl_markup(text: str) -> str:
    """Escape text for a reportlab Paragraph and convert **bold**."""
    escaped = html.escape(text, quote=False)
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)


def build_pdf(doc: Document, target: Path) -> None:
    from reportlab import rl_config

    rl_config.invariant = 1  # fixed document id and creation date

    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.pdfgen import canvas as rl_canvas
    from reportlab.platypus import (
        KeepTogether,
        ListFlowable,
        ListItem,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    lab = doc.labels
    title = doc.meta["title"]
    version = doc.meta["version"]
    classification = doc.meta.get("classification", "")

    base = getSampleStyleSheet()
    body = ParagraphStyle(
        "Body", parent=base["Normal"], fontName="Helvetica", fontSize=10.5,
        leading=14.5, spaceAfter=6, alignment=TA_LEFT,
    )
    cell = ParagraphStyle("Cell", parent=body, fontSize=9.5, leading=12.5, spaceAfter=0)
    cell_bold = ParagraphStyle("CellBold", parent=cell, fontName="Helvetica-Bold")
    title_style = ParagraphStyle(
        "DocTitle", parent=body, fontName="Helvetica-Bold", fontSize=22, leading=27,
        spaceAfter=4, textColor=colors.HexColor("#0B3C5D"),
    )
    subtitle_style = ParagraphStyle(
        "DocSubtitle", parent=body, fontName="Helvetica-Oblique", fontSize=12, leading=16,
        spaceAfter=12, textColor=colors.HexColor("#555555"),
    )
    h2 = ParagraphStyle(
        "H2", parent=body, fontName="Helvetica-Bold", fontSize=14, leading=18,
        spaceBefore=12, spaceAfter=6, textColor=colors.HexColor("#0B3C5D"),
    )
    h3 = ParagraphStyle(
        "H3", parent=body, fontName="Helvetica-Bold", fontSize=11.5, leading=15,
        spaceBefore=8, spaceAfter=4,
    )

    def make_table(rows: list[list[str]], header: bool = True, widths=None) -> Table:
        data = []
        for r_idx, row in enumerate(rows):
            style = cell_bold if (header and r_idx == 0) else cell
            data.append([Paragraph(_rl_markup(c), style) for c in row])
        table = Table(data, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
        commands = [
            ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#8899AA")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 5),
            ("RIGHTPADDING", (0, 0), (-1, -1), 5),
            ("TOPPADDING", (0, 0), (-1, -1), 3),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
        ]
        if header:
            commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DCE6F0")))
        table.setStyle(TableStyle(commands))
        return table

    frame_width = A4[0] - 2 * 2.3 * cm

    story = [
        Paragraph(_rl_markup(ORG_NAME), ParagraphStyle("Org", parent=body, fontSize=9,
                                                        textColor=colors.HexColor("#777777"))),
        Paragraph(_rl_markup(title), title_style),
    ]
    if doc.meta.get("subtitle"):
        story.append(Paragraph(_rl_markup(doc.meta["subtitle"]), subtitle_style))
    ctrl = [[k, v] for k, v in control_rows(doc)]
    story.append(make_table(ctrl, header=False, widths=[3.6 * cm, frame_width - 3.6 * cm]))
    story.append(Spacer(1, 10))

    pending_heading: list = []
    for block in doc.blocks:
        if block.kind in ("h2", "h3"):
            pending_heading.append(Paragraph(_rl_markup(block.text), h2 if block.kind == "h2" else h3))
            continue
        if block.kind == "p":
            flow = Paragraph(_rl_markup(block.text), body)
        elif block.kind in ("ul", "ol"):
            flow = ListFlowable(
                [ListItem(Paragraph(_rl_markup(t), body), leftIndent=14) for t in block.items],
                bulletType="bullet" if block.kind == "ul" else "1",
                start=None if block.kind == "ol" else "\u2022",
                leftIndent=16, bulletFontSize=9 if block.kind == "ul" else 10.5,
                bulletFormat="%s." if block.kind == "ol" else None,
            )
        elif block.kind == "table":
            ncols = len(block.rows[0])
            widths = None
            if ncols == 2:
                widths = [frame_width * 0.55, frame_width * 0.45]
            elif ncols == 3:
                widths = [frame_width * 0.24, frame_width * 0.38, frame_width * 0.38]
            flow = make_table(block.rows, header=True, widths=widths)
        else:  # pragma: no cover - parser only produces the kinds above
            raise ValueError(block.kind)
        if pending_heading:
            # keep a heading together with the first flowable that follows it
            story.append(KeepTogether(pending_heading + [flow]))
            pending_heading = []
        else:
            story.append(flow)
        if block.kind == "table":
            story.append(Spacer(1, 8))
    story.extend(pending_heading)

    page_label = lab["page"]
    footer_left = f"{ORG_NAME} \u2013 {title} v{version}"

    class NumberedCanvas(rl_canvas.Canvas):
        """Canvas that writes 'Pagina n van N' once the page count is known."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._saved_pages: list[dict] = []
            # fixed, realistic creation date instead of reportlab's invariant 2000-01-01
            self.setDateFormatter(lambda *_: FIXED_TIME.strftime("D:%Y%m%d%H%M%S+00'00'"))

        def showPage(self):  # noqa: N802 - reportlab API
            self._saved_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved_pages)
            for state in self._saved_pages:
                self.__dict__.update(state)
                self._draw_decorations(total)
                super().showPage()
            super().save()

        def _draw_decorations(self, total: int) -> None:
            width, height = A4
            self.saveState()
            self.setStrokeColor(colors.HexColor("#8899AA"))
            self.setLineWidth(0.5)
            self.line(2.3 * cm, 1.6 * cm, width - 2.3 * cm, 1.6 * cm)
            self.setFont("Helvetica", 8)
            self.setFillColor(colors.HexColor("#555555"))
            self.drawString(2.3 * cm, 1.15 * cm, footer_left)
            self.drawRightString(width - 2.3 * cm, 1.15 * cm,
                                 page_label.format(n=self._pageNumber, total=total))
            if classification:
                self.drawRightString(width - 2.3 * cm, height - 1.3 * cm, classification)
            self.restoreState()

    pdf = SimpleDocTemplate(
        str(target), pagesize=A4,
        leftMargin=2.3 * cm, rightMargin=2.3 * cm, topMargin=2.0 * cm, bottomMargin=2.2 * cm,
        title=title, author=f"{ORG_NAME} \u2013 {doc.meta['owner']}",
        subject=doc.meta.get("subtitle", ""), creator="demo/build_corpus.py",
        lang=doc.lang, invariant=1,
    )
    pdf.build(story, canvasmaker=NumberedCanvas)


# --------------------------------------------------------------------------
# DOCX (python-docx)
# --------------------------------------------------------------------------

def _add_runs(paragraph, text: str) -> None:
    """Add text to a python-docx paragraph, honouring **bold**."""
    parts = re.split(r"(\*\*.+?\*\*)", text)
    for part in parts:
        if not part:
            continue
        if part.startswith("**") and part.endswith("**"):
            paragraph.add_run(part[2:-2]).bold = True
        else:
            paragraph.add_run(part)


def _add_field(run, instr: str) -> None:
    """Insert a Word field (e.g. PAGE, NUMPAGES) into a run."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    instr_el = OxmlElement("w:instrText")
    instr_el.set(qn("xml:space"), "preserve")
    instr_el.text = instr
    sep = OxmlElement("w:fldChar")
    sep.set(qn("w:fldCharType"), "separate")
    placeholder = OxmlElement("w:t")
    placeholder.text = "1"
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    for el in (begin, instr_el, sep, placeholder, end):
        run._r.append(el)


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a ZIP (DOCX) with fixed timestamps so builds are reproducible."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            new = zipfile.ZipInfo(info.filename, date_time=(2025, 1, 1, 0, 0, 0))
            new.compress_type = zipfile.ZIP_DEFLATED
            new.external_attr = 0o644 << 16
            dst.writestr(new, src.read(info.filename))
    return out.getvalue()


def build_docx(doc: Document, target: Path) -> None:
    from docx import Document as DocxDocument
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt, RGBColor

    lab = doc.labels
    title = doc.meta["title"]
    version = doc.meta["version"]

    d = DocxDocument()
    section = d.sections[0]
    section.page_height = Cm(29.7)
    section.page_width = Cm(21.0)
    section.left_margin = section.right_margin = Cm(2.3)
    section.top_margin = Cm(2.0)
    section.bottom_margin = Cm(2.2)

    normal = d.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(11)

    core = d.core_properties
    core.title = title
    core.subject = doc.meta.get("subtitle", "")
    core.author = f"{ORG_NAME} \u2013 {doc.meta['owner']}"
    core.last_modified_by = "demo/build_corpus.py"
    core.version = version
    core.language = "nl-NL" if doc.lang == "nl" else "en-GB"
    core.keywords = f"{ORG_NAME}; beleid; {title}"
    core.created = FIXED_TIME.replace(tzinfo=None)
    core.modified = FIXED_TIME.replace(tzinfo=None)
    core.revision = 1

    org = d.add_paragraph()
    org_run = org.add_run(ORG_NAME)
    org_run.font.size = Pt(9)
    org_run.font.color.rgb = RGBColor(0x77, 0x77, 0x77)
    d.add_heading(title, level=0)  # "Title" style
    if doc.meta.get("subtitle"):
        sub = d.add_paragraph(doc.meta["subtitle"])
        sub.style = d.styles["Subtitle"]

    ctrl = control_rows(doc)
    table = d.add_table(rows=0, cols=2)
    table.style = d.styles["Table Grid"]
    for key, value in ctrl:
        cells = table.add_row().cells
        cells[0].text = key
        cells[0].paragraphs[0].runs[0].bold = True
        cells[1].text = value
    for row in table.rows:
        row.cells[0].width = Cm(4.0)
        row.cells[1].width = Cm(12.4)
    d.add_paragraph()

    for block in doc.blocks:
        if block.kind == "h2":
            d.add_heading(block.text, level=1)
        elif block.kind == "h3":
            d.add_heading(block.text, level=2)
        elif block.kind == "p":
            _add_runs(d.add_paragraph(), block.text)
        elif block.kind == "ul":
            for item in block.items:
                _add_runs(d.add_paragraph(style="List Bullet"), item)
        elif block.kind == "ol":
            for item in block.items:
                _add_runs(d.add_paragraph(style="List Number"), item)
        elif block.kind == "table":
            ncols = len(block.rows[0])
            t = d.add_table(rows=0, cols=ncols)
            t.style = d.styles["Table Grid"]
            for r_idx, row in enumerate(block.rows):
                cells = t.add_row().cells
                for c_idx, value in enumerate(row):
                    cells[c_idx].text = ""
                    para = cells[c_idx].paragraphs[0]
                    _add_runs(para, value)
                    if r_idx == 0:
                        for run in para.runs:
                            run.bold = True
            d.add_paragraph()

    # Footer: "Havenstad Logistiek B.V. - Title vX    Pagina n van N"
    footer = section.footer
    fp = footer.paragraphs[0]
    fp.alignment = WD_ALIGN_PARAGRAPH.LEFT
    run = fp.add_run(f"{ORG_NAME} \u2013 {title} v{version}\t\t")
    run.font.size = Pt(8)
    before, _, rest = lab["page"].partition("{n}")
    middle, _, after = rest.partition("{total}")
    for text, fieldname in ((before, "PAGE"), (middle, "NUMPAGES"), (after, None)):
        if text:
            r = fp.add_run(text)
            r.font.size = Pt(8)
        if fieldname:
            r = fp.add_run()
            r.font.size = Pt(8)
            _add_field(r, fieldname)
    header = section.header
    hp = header.paragraphs[0]
    hp.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    hr = hp.add_run(doc.meta.get("classification", ""))
    hr.font.size = Pt(8)

    buf = io.BytesIO()
    d.save(buf)
    target.write_bytes(_normalise_zip(buf.getvalue()))


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def build_all(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted(SOURCES.glob("*.md")):
        doc = parse_source(src)
        target = out_dir / doc.meta["output"]
        if target.suffix == ".pdf":
            build_pdf(doc, target)
        elif target.suffix == ".docx":
            build_docx(doc, target)
        else:
            raise ValueError(f"{src}: unsupported output {target.name}")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    parser.add_argument("--check", action="store_true",
                        help="build into a temp folder and compare with the committed files")
    args = parser.parse_args(argv)

    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            written = build_all(Path(tmp))
            stale = [p.name for p in written
                     if not (OUT_DIR / p.name).exists()
                     or (OUT_DIR / p.name).read_bytes() != p.read_bytes()]
        if stale:
            print("out of date:", ", ".join(stale), file=sys.stderr)
            return 1
        print(f"{len(written)} documents up to date")
        return 0

    for path in build_all(args.out):
        try:
            shown = path.relative_to(Path.cwd())
        except ValueError:
            shown = path
        print(f"wrote {shown} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
