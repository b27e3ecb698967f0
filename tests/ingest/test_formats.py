"""More formats through the real parsers: spreadsheets, e-mail, scanned PDFs (OCR), text in any
encoding, DOCX/PPTX structure, and lifecycle properties. Every file is written by the test."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import zipfile
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from core.errors import ErrorCode, VraagbaakError
from ingest.formats import sheet
from ingest.lifecycle import lifecycle_metadata, parse_date
from ingest.ocr import OcrSettings
from ingest.parse import parse_file
from tests.ingest.cfb_fixtures import compound_file, encrypted_workbook, outlook_message

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
SCAN_LINES = ("Verlofregeling voor medewerkers",
              "Iedere medewerker heeft recht op vijfentwintig",
              "vakantiedagen per jaar. Aanvragen gaan via de",
              "leidinggevende, uiterlijk twee weken vooraf.")
NO_OCR = OcrSettings(command="tesseract-not-installed-here")
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                                     reason="tesseract-ocr is not installed (the Makefile install step adds it)")


def _failure(path: Path, data: bytes | None = None, **kwargs: object) -> VraagbaakError:
    with pytest.raises(VraagbaakError) as caught:
        parse_file(path, data, **kwargs)  # type: ignore[arg-type]
    return caught.value


# -- spreadsheets ---------------------------------------------------------------------------------

def _workbook_bytes() -> bytes:
    import openpyxl
    from openpyxl.packaging.custom import StringProperty

    book = openpyxl.Workbook()
    rates = book.active
    rates.title = "Tarieven"
    rates.append(["Soort", None, "Bedrag", "Ingang"])
    rates.append(["Kilometervergoeding", None, 0.23, dt.datetime(2025, 1, 1)])
    rates.append([])
    rates.append(["Hotelnacht", None, 140, dt.datetime(2025, 1, 1)])
    contacts = book.create_sheet("Contacten")
    contacts.append(["Afdeling", "Telefoon"])
    contacts.append(["HR", "010-1234567"])
    hidden = book.create_sheet("Hulptabel")
    hidden.append(["geheime opzoekwaarde"])
    hidden.sheet_state = "hidden"
    book.properties.title = "Declaratietarieven"
    book.properties.creator = "j.jansen"
    book.custom_doc_props.append(StringProperty(name="Eigenaar", value="Financiën"))
    book.custom_doc_props.append(StringProperty(name="Ingangsdatum", value="1 januari 2025"))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx_sheets_become_headings_with_tables_without_empty_rows_or_columns(tmp_path: Path) -> None:
    parsed = parse_file(tmp_path / "tarieven.xlsx", _workbook_bytes())
    assert parsed.parser == "openpyxl" and parsed.media_type == "xlsx"
    assert parsed.title == "Declaratietarieven"
    assert [b.text for b in parsed.blocks if b.kind == "heading"] == ["Tarieven", "Contacten"]
    tables = [b.text for b in parsed.blocks if b.kind == "table"]
    assert tables[0].splitlines() == ["Soort | Bedrag | Ingang", "Kilometervergoeding | 0.23 | 2025-01-01",
                                      "Hotelnacht | 140 | 2025-01-01"]
    assert tables[1].splitlines() == ["Afdeling | Telefoon", "HR | 010-1234567"]
    assert "geheime" not in " ".join(b.text for b in parsed.blocks)  # hidden sheet
    assert parsed.metadata["owner"] == "Financiën"  # custom property beats the author
    assert parsed.metadata["effective"] == "2025-01-01"


def test_xlsm_is_read_like_xlsx(tmp_path: Path) -> None:
    parsed = parse_file(tmp_path / "macro.xlsm", _workbook_bytes())
    assert any("Hotelnacht | 140" in b.text for b in parsed.blocks)


def test_large_sheet_is_capped_with_a_warning_and_blocks_repeat_the_header(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import openpyxl

    monkeypatch.setattr(sheet, "MAX_ROWS", 120)
    book = openpyxl.Workbook()
    book.active.title = "Personeel"
    book.active.append(["Naam", "Afdeling"])
    for i in range(200):
        book.active.append([f"Medewerker {i}", "Logistiek"])
    path = tmp_path / "personeel.xlsx"
    book.save(path)
    parsed = parse_file(path)
    rows = [line for b in parsed.blocks if b.kind == "table" for line in b.text.splitlines()]
    assert "Medewerker 118 | Logistiek" in rows and "Medewerker 119 | Logistiek" not in rows
    assert any("more than 120 rows" in w and "Personeel" in w for w in parsed.metadata["warnings"])  # type: ignore[attr-defined]
    tables = [b for b in parsed.blocks if b.kind == "table"]
    assert len(tables) > 1 and all(t.text.startswith("Naam | Afdeling\n") for t in tables)


def test_password_protected_workbook_gets_a_clear_reason(tmp_path: Path) -> None:
    error = _failure(tmp_path / "salarissen.xlsx", encrypted_workbook(bytes(range(256)) * 40))
    assert error.code is ErrorCode.PARSE_FAILED
    assert error.message == "the workbook is password-protected"


def test_old_binary_office_file_with_new_suffix_is_named_as_such(tmp_path: Path) -> None:
    old_word = compound_file({"WordDocument": b"\xec\xa5" + b"\0" * 600, "1Table": b"\0" * 300})
    error = _failure(tmp_path / "brief.docx", old_word)
    assert error.code is ErrorCode.PARSE_FAILED and "old binary Office file (.doc)" in error.message


def test_csv_in_windows_1252_with_semicolons_becomes_a_table(tmp_path: Path) -> None:
    path = tmp_path / "prijzen.csv"
    path.write_bytes("Product;Prijs;Opmerking\r\nKoffie;€ 0,50;één per dag gratis\r\n;;\r\nThee;€ 0,40;\r\n"
                     .encode("cp1252"))
    parsed = parse_file(path)
    assert parsed.metadata["delimiter"] == ";"
    table = next(b for b in parsed.blocks if b.kind == "table")
    assert table.text.splitlines() == ["Product | Prijs | Opmerking", "Koffie | € 0,50 | één per dag gratis",
                                       "Thee | € 0,40 |"]


# -- e-mail ---------------------------------------------------------------------------------------

def _email() -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "Wijziging reiskostenvergoeding per 1 maart"
    message["From"] = "Salarisadministratie <salaris@havenstad.nl>"
    message["To"] = "Alle medewerkers <iedereen@havenstad.nl>"
    message["Date"] = format_datetime(dt.datetime(2025, 2, 20, 9, 30, tzinfo=dt.UTC))
    return message


def test_eml_prefers_plain_text_decodes_its_charset_and_lists_attachments(tmp_path: Path) -> None:
    message = _email()
    message.set_content("Beste collega's,\n\nDe vergoeding wordt € 0,23 per kilometer, ook voor\n"
                        "reizen naar de vestiging in Zeeuws-Vlaanderen (geëvalueerd in 2024).\n",
                        charset="iso-8859-15")
    message.add_alternative("<p>HTMLVERSIE van dezelfde tekst</p>", subtype="html")
    message.add_attachment(b"%PDF-1.4 ...", maintype="application", subtype="pdf", filename="regeling 2025.pdf")
    message.add_attachment(b"a;b\n", maintype="text", subtype="csv", filename="tabel.csv")
    path = tmp_path / "bericht.eml"
    path.write_bytes(bytes(message))
    parsed = parse_file(path)
    assert parsed.media_type == "eml"
    assert parsed.title == "Wijziging reiskostenvergoeding per 1 maart"
    text = " ".join(b.text for b in parsed.blocks)
    assert "€ 0,23 per kilometer" in text and "geëvalueerd" in text
    assert "HTMLVERSIE" not in text
    assert "Attachments: regeling 2025.pdf, tabel.csv" in text
    assert parsed.metadata["from"] == "Salarisadministratie <salaris@havenstad.nl>"
    assert parsed.metadata["to"] == "Alle medewerkers <iedereen@havenstad.nl>"
    assert parsed.metadata["date"] == "2025-02-20T09:30:00+00:00"


def test_eml_with_only_html_and_a_wrong_charset_is_still_read(tmp_path: Path) -> None:
    html = ("<html><head><style>p {color: red}</style></head><body><p>Het kantoor is gesloten op "
            "<b>Koningsdag</b>.</p><p>Café beneden blijft open.</p><script>track()</script></body></html>")
    raw = (b"From: Facilitair <fac@havenstad.nl>\r\nSubject: =?utf-8?q?Sluiting_op_Koningsdag_=E2=80=93_27_april?=\r\n"
           b"Date: Thu, 20 Feb 2025 09:30:00 +0100\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/html; charset=x-unknown-charset\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           + html.encode("cp1252"))
    parsed = parse_file(tmp_path / "sluiting.eml", raw)
    assert parsed.title == "Sluiting op Koningsdag – 27 april"
    texts = [b.text for b in parsed.blocks]
    assert "Het kantoor is gesloten op Koningsdag." in texts and "Café beneden blijft open." in texts
    assert not any("track()" in t or "color" in t for t in texts)


def test_file_without_mail_headers_is_not_an_email(tmp_path: Path) -> None:
    error = _failure(tmp_path / "nep.eml", b"Dit is gewoon een tekst.\n\nZonder kopregels.\n")
    assert error.code is ErrorCode.PARSE_FAILED and "not an e-mail message" in error.message


def test_outlook_msg_gives_subject_body_sender_and_attachment_names(tmp_path: Path) -> None:
    data = outlook_message(subject="Nieuwe parkeerregeling", sender='"Facilitair" <facilitair@havenstad.nl>',
                           body="Beste collega's,\r\n\r\nVanaf 1 maart parkeert u op terrein B.\r\n",
                           to=("Alle medewerkers", "iedereen@havenstad.nl"),
                           sent=dt.datetime(2025, 2, 20, 9, 30, tzinfo=dt.UTC),
                           attachments={"plattegrond.pdf": b"%PDF-1.4" * 700, "rooster.xlsx": b"PK.."})
    parsed = parse_file(tmp_path / "parkeren.msg", data)
    assert parsed.media_type == "msg" and parsed.parser == "python-oxmsg"
    assert parsed.title == "Nieuwe parkeerregeling"
    texts = [b.text for b in parsed.blocks]
    assert "Vanaf 1 maart parkeert u op terrein B." in texts
    assert "Attachments: plattegrond.pdf, rooster.xlsx" in texts
    assert parsed.metadata["from"] == '"Facilitair" <facilitair@havenstad.nl>'
    assert parsed.metadata["to"] == "Alle medewerkers <iedereen@havenstad.nl>"
    assert parsed.metadata["date"] == "2025-02-20T09:30:00+00:00"


def test_encrypted_and_broken_outlook_messages_get_clear_reasons(tmp_path: Path) -> None:
    smime = outlook_message(subject="Vertrouwelijk", body="", sender="a@b.nl", to=("B", "b@b.nl"),
                            sent=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), attachments={"smime.p7m": b"\x30\x82"},
                            message_class="IPM.Note.SMIME")
    assert "encrypted" in _failure(tmp_path / "geheim.msg", smime).message
    good = outlook_message(subject="x", body="y", sender="a@b.nl", to=("B", "b@b.nl"),
                           sent=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), attachments={})
    broken = _failure(tmp_path / "kapot.msg", good[:1100])
    assert broken.code is ErrorCode.PARSE_FAILED and "not a readable Outlook message" in broken.message
    assert "not an Outlook .msg" in _failure(tmp_path / "tekst.msg", b"gewoon tekst").message


# -- scanned PDFs ---------------------------------------------------------------------------------

def _scan_image(lines: tuple[str, ...] = SCAN_LINES) -> Image.Image:
    """Text as pixels only: what a scanner gives (about 200 dpi for 11 pt text)."""
    font = ImageFont.truetype(str(FONT), 40)
    image = Image.new("L", (1650, 120 + 90 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((60, 60 + i * 90), line, font=font, fill=0)
    return image


def _scanned_pdf(pages: int = 1) -> bytes:
    buffer = io.BytesIO()
    images = [_scan_image() for _ in range(pages)]
    images[0].save(buffer, format="PDF", resolution=200, save_all=True, append_images=images[1:])
    return buffer.getvalue()


def _mixed_pdf() -> bytes:
    """Page 1 has a text layer; page 2 is a scanned image."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(595, 842))
    pdf.drawString(72, 770, "Inleiding: deze regeling geldt voor alle medewerkers van Havenstad.")
    pdf.showPage()
    image = _scan_image()
    pdf.drawImage(ImageReader(image), 36, 500, width=523, height=523 * image.height / image.width)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


@needs_tesseract
def test_scanned_pdf_is_read_by_ocr_with_page_numbers(tmp_path: Path) -> None:
    parsed = parse_file(tmp_path / "scan.pdf", _scanned_pdf())
    assert parsed.parser == "pypdfium2+tesseract"
    assert parsed.metadata["ocr_pages"] == [1]
    assert {b.page for b in parsed.blocks} == {1}
    found = set(_words(" ".join(b.text for b in parsed.blocks)))
    expected = _words(" ".join(SCAN_LINES))
    assert sum(w in found for w in expected) >= 0.9 * len(expected)
    assert {"vijfentwintig", "vakantiedagen", "leidinggevende"} <= found


@needs_tesseract
def test_mixed_pdf_uses_the_text_layer_and_ocr_only_for_the_scanned_page(tmp_path: Path) -> None:
    parsed = parse_file(tmp_path / "gemengd.pdf", _mixed_pdf())
    assert parsed.metadata["ocr_pages"] == [2]
    assert any("geldt voor alle medewerkers" in b.text and b.page == 1 for b in parsed.blocks)
    assert any("vakantiedagen" in b.text and b.page == 2 for b in parsed.blocks)


@needs_tesseract
def test_ocr_falls_back_to_installed_languages_and_stops_at_the_page_cap(tmp_path: Path) -> None:
    settings = OcrSettings(languages=("xx-none", "eng"), max_pages=1)
    parsed = parse_file(tmp_path / "twee.pdf", _scanned_pdf(pages=2), ocr=settings)
    assert parsed.metadata["ocr_pages"] == [1]
    warnings = " ".join(parsed.metadata["warnings"])  # type: ignore[arg-type]
    assert "xx-none not installed" in warnings and "OCR stopped after 1 pages" in warnings
    assert {b.page for b in parsed.blocks} == {1}


def test_scanned_pdf_without_ocr_engine_gets_a_clear_reason(tmp_path: Path) -> None:
    error = _failure(tmp_path / "scan.pdf", _scanned_pdf(), ocr=NO_OCR)
    assert error.code is ErrorCode.PARSE_FAILED
    assert error.message == "scanned PDF without a text layer and no OCR engine installed (install tesseract-ocr)"


def test_mixed_pdf_without_ocr_engine_keeps_the_text_pages_and_warns(tmp_path: Path) -> None:
    parsed = parse_file(tmp_path / "gemengd.pdf", _mixed_pdf(), ocr=NO_OCR)
    assert parsed.parser == "pypdfium2" and "ocr_pages" not in parsed.metadata
    assert {b.page for b in parsed.blocks} == {1}
    assert parsed.metadata["warnings"] == ["scanned page(s) 2 skipped: no OCR engine installed "
                                           "(install tesseract-ocr)"]


# -- text in any encoding -------------------------------------------------------------------------

DUTCH = "Café-regeling: één kopje koffie kost € 0,50; de coördinator beslist over ideeën.\n\nTweede alinea."
JAPANESE = "就業規則：従業員は毎日九時までに出勤しなければなりません。有給休暇は年間二十日です。"


@pytest.mark.parametrize("text,encoding", [
    (DUTCH, "utf-16-le"), (DUTCH, "utf-16-be"), (DUTCH, "utf-32-le"), (DUTCH, "utf-32-be"),
    (DUTCH, "utf-16"), (DUTCH, "utf-8-sig"), (DUTCH, "cp1252"),
    (DUTCH.replace("€", "EUR"), "latin-1"), (JAPANESE, "shift_jis"),
])
def test_text_files_are_decoded_in_their_encoding(tmp_path: Path, text: str, encoding: str) -> None:
    path = tmp_path / "tekst.txt"
    path.write_bytes(text.encode(encoding))
    parsed = parse_file(path)
    assert [b.text for b in parsed.blocks] == [p.strip() for p in text.split("\n\n")]


@pytest.mark.parametrize("data", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,  # an image renamed to .txt
    bytes(b % 32 for b in range(3000)) + b"some words",  # control characters, no NUL pattern of UTF-16
])
def test_binary_file_named_txt_is_not_text(tmp_path: Path, data: bytes) -> None:
    error = _failure(tmp_path / "plaatje.txt", data)
    assert error.code is ErrorCode.PARSE_FAILED and "not text" in error.message


# -- DOCX / PPTX structure ------------------------------------------------------------------------

def _with_custom_properties(docx: bytes, properties: dict[str, str]) -> bytes:
    """Add docProps/custom.xml as Word writes it (part, content type and package relationship)."""
    props = "".join(f'<property fmtid="{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}" pid="{i + 2}" name="{name}">'
                    f"<vt:lpwstr>{value}</vt:lpwstr></property>" for i, (name, value) in enumerate(properties.items()))
    custom = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Properties xmlns="http://schemas.openxml'
              'formats.org/officeDocument/2006/custom-properties" xmlns:vt="http://schemas.openxmlformats.org/'
              f'officeDocument/2006/docPropsVTypes">{props}</Properties>')
    source, out = zipfile.ZipFile(io.BytesIO(docx)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/docProps/custom.xml" ContentType="application/'
                                    b'vnd.openxmlformats-officedocument.custom-properties+xml"/></Types>')
            elif item.filename == "_rels/.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdCustom" Type="http://schemas.'
                                    b'openxmlformats.org/officeDocument/2006/relationships/custom-properties" '
                                    b'Target="docProps/custom.xml"/></Relationships>')
            target.writestr(item, data)
        target.writestr("docProps/custom.xml", custom)
    return out.getvalue()


def _docx(properties: dict[str, str] | None = None) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Thuiswerkbeleid", level=1)
    document.add_paragraph("Medewerkers mogen twee dagen per week thuiswerken.")
    document.add_heading("Vergoedingen", level=2)
    table = document.add_table(rows=3, cols=2)
    for row, cells in zip(table.rows, [("Vergoeding", "Bedrag"), ("Internet", "€ 2,00 per dag"),
                                       ("Bureaustoel", "eenmalig € 150")], strict=True):
        for cell, value in zip(row.cells, cells, strict=True):
            cell.text = value
    document.core_properties.author = "p.de.vries"
    document.core_properties.version = "3.2"
    buffer = io.BytesIO()
    document.save(buffer)
    return _with_custom_properties(buffer.getvalue(), properties) if properties else buffer.getvalue()


def test_docx_keeps_heading_levels_and_tables_and_reads_lifecycle_properties(tmp_path: Path) -> None:
    parsed = parse_file(tmp_path / "thuiswerken.docx", _docx({
        "Eigenaar": "HR-beleid", "Ingangsdatum": "1 maart 2025", "Herzieningsdatum": "01-03-2026",
        "Vervaldatum": "binnenkort", "VervangenDoor": "BELEID-12"}))
    levels = {b.text: b.level for b in parsed.blocks if b.kind == "heading"}
    assert levels["Vergoedingen"] > levels["Thuiswerkbeleid"]
    table = next(b for b in parsed.blocks if b.kind == "table")
    assert table.text.splitlines() == ["Vergoeding | Bedrag", "Internet | € 2,00 per dag", "Bureaustoel | eenmalig € 150"]
    meta = parsed.metadata
    assert (meta["owner"], meta["doc_version"], meta["effective"], meta["review"], meta["superseded_by"]) == (
        "HR-beleid", "3.2", "2025-03-01", "2026-03-01", "BELEID-12")
    assert "expires" not in meta and any("Vervaldatum" in w for w in meta["warnings"])  # type: ignore[attr-defined]


def test_docx_author_is_the_owner_when_none_is_named(tmp_path: Path) -> None:
    parsed = parse_file(tmp_path / "thuiswerken.docx", _docx())
    assert parsed.metadata["owner"] == "p.de.vries" and parsed.metadata["doc_version"] == "3.2"


def test_pptx_title_property_slide_pages_notes_and_headings(tmp_path: Path) -> None:
    from pptx import Presentation

    deck = Presentation()
    for title, body, notes in [("Welkom", "Welkom bij Havenstad", "Vertel over de haven."),
                               ("Veiligheid", "Draag veiligheidsschoenen.", "Wijs op de nooduitgangen.")]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        slide.notes_slide.notes_text_frame.text = notes
    deck.core_properties.title = "Introductie nieuwe medewerkers"
    deck.core_properties.author = "Opleidingen"
    buffer = io.BytesIO()
    deck.save(buffer)
    parsed = parse_file(tmp_path / "intro.pptx", buffer.getvalue())
    assert parsed.title == "Introductie nieuwe medewerkers" and parsed.metadata["owner"] == "Opleidingen"
    assert [(b.text, b.page) for b in parsed.blocks if b.kind == "heading"] == [("Welkom", 1), ("Veiligheid", 2)]
    assert any("nooduitgangen" in b.text and b.page == 2 for b in parsed.blocks)


# -- lifecycle properties -------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    ("2025-03-01", dt.date(2025, 3, 1)), ("2025-03-01T10:00:00Z", dt.date(2025, 3, 1)),
    ("01-03-2025", dt.date(2025, 3, 1)), ("1/3/2025", dt.date(2025, 3, 1)), ("1.3.2025", dt.date(2025, 3, 1)),
    ("1 maart 2025", dt.date(2025, 3, 1)), ("1 March 2025", dt.date(2025, 3, 1)), ("March 1, 2025", dt.date(2025, 3, 1)),
    ("17 okt. 2024", dt.date(2024, 10, 17)), ("31 December 2026", dt.date(2026, 12, 31)),
    ("D:20250301120000+01'00'", dt.date(2025, 3, 1)), (dt.datetime(2025, 3, 1, 8, 0), dt.date(2025, 3, 1)),
    (dt.date(2025, 3, 1), dt.date(2025, 3, 1)),
    ("31-02-2025", None), ("binnenkort", None), ("1 brumaire 2025", None), ("", None),
])
def test_dates_are_parsed_from_the_usual_notations(value: object, expected: dt.date | None) -> None:
    assert parse_date(value) == expected


def test_lifecycle_names_in_dutch_english_and_snake_case_are_normalised() -> None:
    found = lifecycle_metadata({"Eigenaar": "HR", "Versie": 3, "Ingangsdatum": "1 januari 2025",
                                "review_date": dt.date(2026, 1, 1), "Expiry-Date": "31-12-2026",
                                "VervangenDoor": "BELEID-7", "Author": "iemand", "title": "negeer mij"})
    assert found == {"owner": "HR", "doc_version": "3", "effective": "2025-01-01", "review": "2026-01-01",
                     "expires": "2026-12-31", "superseded_by": "BELEID-7"}


def test_lifecycle_ignores_blank_and_unreadable_values_with_a_warning() -> None:
    found = lifecycle_metadata({"owner": " ", "author": "j.jansen", "expires": "ooit", "effective": None})
    assert found == {"owner": "j.jansen", "warnings": ["ignored expires: 'ooit' is not a date"]}


def test_markdown_front_matter_gives_lifecycle_metadata(tmp_path: Path) -> None:
    path = tmp_path / "beleid.md"
    path.write_text("---\ntitle: Thuiswerken\nowner: HR\nversion: '2.0'\neffective_date: 2025-01-01\n"
                    "review_date: 1 maart 2026\nexpires: 2027-01-01\nsuperseded_by: null\n---\n"
                    "# Thuiswerken\n\nTwee dagen per week.\n", encoding="utf-8")
    meta = parse_file(path).metadata
    assert (meta["owner"], meta["doc_version"], meta["effective"], meta["review"], meta["expires"]) == (
        "HR", "2.0", "2025-01-01", "2026-03-01", "2027-01-01")
    assert meta.get("superseded_by") is None


def _pdf_with_info(text: str, info: dict[str, str]) -> bytes:
    """A one-page PDF with a text layer and these document-info entries (names as given)."""
    content = f"BT /F1 12 Tf 72 770 Td ({text}) Tj ET".encode("latin-1")
    entries = "".join(f"/{key} ({value})" for key, value in info.items())
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
               b"/Contents 5 0 R >>", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
               b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
               f"<< {entries} >>".encode("latin-1")]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_pdf_document_info_gives_lifecycle_metadata(tmp_path: Path) -> None:
    data = _pdf_with_info("Deze procedure beschrijft het melden van incidenten bij de servicedesk.",
                          {"Title": "Incidentprocedure", "Author": "ICT", "Eigenaar": "Servicedesk",
                           "Versie": "1.4", "EffectiveDate": "D:20250115", "review_date": "15 januari 2026"})
    parsed = parse_file(tmp_path / "incident.pdf", data)
    assert parsed.title == "Incidentprocedure"
    meta = parsed.metadata
    assert (meta["owner"], meta["doc_version"], meta["effective"], meta["review"]) == (
        "Servicedesk", "1.4", "2025-01-15", "2026-01-15")


# -- unsupported --------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix,hint", [
    (".doc", "save it as .docx"), (".xls", "save it as .xlsx"), (".ppt", "save it as .pptx"),
    (".odt", "OpenDocument"), (".rtf", "RTF"), (".epub", "e-book"), (".png", "images are not read"),
    (".xyz", ""),
])
def test_unsupported_formats_say_so_and_what_to_do(tmp_path: Path, suffix: str, hint: str) -> None:
    error = _failure(tmp_path / f"bestand{suffix}", b"some bytes")
    assert error.code is ErrorCode.UNSUPPORTED_FILE
    assert error.message.startswith(f"unsupported file type '{suffix}'") and hint in error.message
