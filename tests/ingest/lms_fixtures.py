"""E-learning packages the tests write themselves: small SCORM 1.2, SCORM 2004, cmi5, Common Cartridge and
Moodle packages with Dutch lessons, and hostile ones (unsafe paths, bombs, truncation, links, bad XML)."""

from __future__ import annotations

import html
import io
import tarfile
import zipfile
from pathlib import Path

Members = dict[str, bytes | str]


def _bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def write_zip(path: Path, members: Members) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, _bytes(data))
    return path


def write_tgz(path: Path, members: Members, links: dict[str, str] | None = None, *, compress: bool = True) -> Path:
    with tarfile.open(path, "w:gz" if compress else "w") as archive:
        for name, data in members.items():
            raw = _bytes(data)
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return path


def write_folder(path: Path, members: Members) -> Path:
    for name, data in members.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_bytes(data))
    return path


def page(title: str, *paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!doctype html><html lang='nl'><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><nav>Menu Vorige Volgende</nav><main><h1>{title}</h1>{body}</main></body></html>")


# -- SCORM 1.2 ------------------------------------------------------------------------------------

WACHTWOORD = "Een sterk wachtwoord heeft minstens twaalf tekens en je gebruikt het nergens anders."
WACHTWOORD_TIPS = "Gebruik een wachtwoordkluis die de organisatie beschikbaar stelt."
PHISHING = "Een phishingmail vraagt vaak met spoed om je inloggegevens; controleer altijd de afzender."

SCORM12_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="nl.voorbeeld.infobev" version="1.0"
    xmlns="http://www.imsproject.org/xsd/imscp_rootv1p1p2"
    xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2">
  <metadata><schema>ADL SCORM</schema><schemaversion>1.2</schemaversion></metadata>
  <organizations default="org1">
    <organization identifier="org1">
      <title>Informatiebeveiliging</title>
      <item identifier="m1">
        <title>Module 1</title>
        <item identifier="l1" identifierref="r1"><title>Sterke wachtwoorden</title></item>
      </item>
      <item identifier="m2">
        <title>Module 2</title>
        <item identifier="l2" identifierref="r2" parameters="?taal=nl"><title>Phishing herkennen</title></item>
        <item identifier="l3" identifierref="r-bestaat-niet"><title>Melden van incidenten</title></item>
        <item identifier="l4" identifierref="r4"><title>Clean desk</title></item>
      </item>
    </organization>
  </organizations>
  <resources>
    <resource identifier="r1" type="webcontent" adlcp:scormtype="sco" href="module1/wachtwoorden.html">
      <file href="module1/wachtwoorden.html"/>
      <file href="module1/tips.html"/>
      <file href="module1/slot.jpg"/>
      <dependency identifierref="gedeeld"/>
    </resource>
    <resource identifier="r2" type="webcontent" adlcp:scormtype="sco" href="module2/phishing.html">
      <file href="module2/phishing.html"/>
    </resource>
    <resource identifier="r4" type="webcontent" adlcp:scormtype="asset" href="module2/cleandesk.html">
      <file href="module2/cleandesk.html"/>
    </resource>
    <resource identifier="gedeeld" type="webcontent" adlcp:scormtype="asset">
      <file href="gedeeld/scorm.js"/>
    </resource>
  </resources>
</manifest>
"""


def scorm12_members() -> Members:
    return {
        "imsmanifest.xml": SCORM12_MANIFEST,
        "module1/wachtwoorden.html": page("Sterke wachtwoorden", WACHTWOORD),
        "module1/tips.html": page("Tips", WACHTWOORD_TIPS),
        "module1/slot.jpg": b"\xff\xd8\xff\xe0 not really a jpeg",
        "module2/phishing.html": page("Phishing herkennen", PHISHING),
        # module2/cleandesk.html is missing on purpose
        "gedeeld/scorm.js": "function LMSInitialize() {}",
    }


def scorm12_zip(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "informatiebeveiliging-scorm12.zip", scorm12_members())


# -- SCORM 2004 -----------------------------------------------------------------------------------

THUISWERKEN = "Thuiswerken mag maximaal drie dagen per week, in overleg met je leidinggevende."
ERGONOMIE = "Stel je bureaustoel zo af dat je voeten plat op de grond staan."

SCORM2004_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="nl.voorbeeld.thuiswerken" version="1"
    xmlns="http://www.imsglobal.org/xsd/imscp_v1p1" xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_v1p3"
    xmlns:imsss="http://www.imsglobal.org/xsd/imsss">
  <metadata><schema>ADL SCORM</schema><schemaversion>2004 4th Edition</schemaversion></metadata>
  <organizations default="hoofd">
    <organization identifier="reserve"><title>Verkeerde organisatie</title>
      <item identifier="x" identifierref="res-regels"><title>Niet deze</title></item>
    </organization>
    <organization identifier="hoofd">
      <title>Hybride werken</title>
      <item identifier="deel1">
        <title>Deel 1</title>
        <item identifier="h1">
          <title>Hoofdstuk 1</title>
          <item identifier="les1" identifierref="res-regels"><title>Regels voor thuiswerken</title></item>
        </item>
      </item>
      <item identifier="les2" identifierref="res-ergo"><title>Ergonomie</title></item>
    </organization>
  </organizations>
  <resources xml:base="inhoud/">
    <resource identifier="res-regels" type="webcontent" adlcp:scormType="sco" href="regels%20thuiswerken.html">
      <file href="regels%20thuiswerken.html"/>
    </resource>
    <resource identifier="res-ergo" type="webcontent" adlcp:scormType="sco" xml:base="ergo/" href="index.html">
      <file href="index.html"/>
    </resource>
  </resources>
</manifest>
"""


def scorm2004_folder(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "hybride-werken", {
        "imsmanifest.xml": SCORM2004_MANIFEST,
        "inhoud/regels thuiswerken.html": page("Regels voor thuiswerken", THUISWERKEN),
        "inhoud/ergo/index.html": page("Ergonomie", ERGONOMIE),
    })


# -- cmi5 -----------------------------------------------------------------------------------------

BRANDVEILIGHEID = "Bij brandalarm verlaat je het gebouw via de dichtstbijzijnde nooduitgang."

CMI5_XML = """<?xml version="1.0" encoding="utf-8"?>
<courseStructure xmlns="https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd">
  <course id="https://voorbeeld.nl/cursus/veilig-werken">
    <title><langstring lang="en-US">Working safely</langstring>
      <langstring lang="nl-NL">Veilig werken</langstring></title>
    <description><langstring lang="nl-NL">Basiscursus veiligheid.</langstring></description>
  </course>
  <block id="https://voorbeeld.nl/cursus/veilig-werken/blok1">
    <title><langstring lang="nl-NL">Blok 1: Calamiteiten</langstring></title>
    <description><langstring lang="nl-NL">Wat te doen bij calamiteiten.</langstring></description>
    <au id="https://voorbeeld.nl/cursus/veilig-werken/au/brand" moveOn="Completed">
      <title><langstring lang="nl-NL">Brandveiligheid</langstring></title>
      <description><langstring lang="nl-NL">Ontruiming en blusmiddelen.</langstring></description>
      <url>au/brand/index.html?stap=1</url>
    </au>
  </block>
  <au id="https://voorbeeld.nl/cursus/veilig-werken/au/ehbo">
    <title><langstring lang="nl-NL">EHBO op de werkplek</langstring></title>
    <description><langstring lang="nl-NL">Bel bij een ongeval eerst de bedrijfshulpverlener op nummer 2222.
    </langstring></description>
    <url>https://leren.voorbeeld.nl/ehbo/start</url>
  </au>
</courseStructure>
"""


def cmi5_zip(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "veilig-werken-cmi5.zip", {
        "cmi5.xml": CMI5_XML,
        "au/brand/index.html": page("Brandveiligheid", BRANDVEILIGHEID),
        "au/brand/app.js": "console.log('cmi5')",
    })


# -- IMS Common Cartridge (as Canvas exports it) ---------------------------------------------------

WELKOM = "Welkom bij je eerste werkweek; je buddy helpt je met de systemen."
INTRANET = "https://intranet.voorbeeld.nl/onboarding"
VOORSTELRONDE = "Stel jezelf voor aan je nieuwe collega's."
OPDRACHT = "Schrijf een korte samenvatting van de gedragscode."
CANVAS_OPDRACHT = "Lever je verklaring omtrent gedrag (VOG) in bij HR."
LOSSE_PAGINA = "Het verlofbeleid staat in het personeelshandboek."


def _qti() -> str:
    question = html.escape("<p>Hoeveel vakantiedagen heeft een voltijder?</p>")
    options = "".join(f'<response_label ident="{i}"><material><mattext texttype="text/plain">{text}</mattext>'
                      f"</material></response_label>" for i, text in enumerate(["20", "25", "27"]))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<questestinterop xmlns="http://www.imsglobal.org/xsd/ims_qtiasiv1p2">
  <assessment ident="q1" title="Kennischeck HR">
    <section ident="root_section">
      <item ident="v1" title="Vraag">
        <presentation>
          <material><mattext texttype="text/html">{question}</mattext></material>
          <response_lid ident="response1" rcardinality="Single"><render_choice>{options}</render_choice></response_lid>
        </presentation>
      </item>
    </section>
  </assessment>
</questestinterop>
"""


IMSCC_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="cc1" xmlns="http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
    xmlns:lomimscc="http://ltsc.ieee.org/xsd/imsccv1p1/LOM/manifest">
  <metadata>
    <schema>IMS Common Cartridge</schema><schemaversion>1.1.0</schemaversion>
    <lomimscc:lom><lomimscc:general><lomimscc:title>
      <lomimscc:string>Onboarding nieuwe medewerkers</lomimscc:string>
    </lomimscc:title></lomimscc:general></lomimscc:lom>
  </metadata>
  <organizations>
    <organization identifier="org_1" structure="rooted-hierarchy">
      <item identifier="LearningModules">
        <item identifier="mod1">
          <title>Week 1</title>
          <item identifier="i1" identifierref="r-welkom"><title>Welkom</title></item>
          <item identifier="i2" identifierref="r-link"><title>Intranet</title></item>
          <item identifier="i3" identifierref="r-discussie"><title>Voorstelronde</title></item>
          <item identifier="i4" identifierref="r-quiz"><title>Kennischeck HR</title></item>
          <item identifier="i5" identifierref="r-opdracht"><title>Gedragscode</title></item>
          <item identifier="i6"><title>Tekstkop zonder inhoud</title></item>
        </item>
      </item>
    </organization>
  </organizations>
  <resources>
    <resource identifier="r-settings" type="associatedcontent/imscc_xmlv1p1/learning-application-resource"
              href="course_settings/canvas_export.txt">
      <file href="course_settings/canvas_export.txt"/>
    </resource>
    <resource identifier="r-welkom" type="webcontent" href="wiki_content/welkom.html">
      <file href="wiki_content/welkom.html"/>
    </resource>
    <resource identifier="r-link" type="imswl_xmlv1p1"><file href="link.xml"/></resource>
    <resource identifier="r-discussie" type="imsdt_xmlv1p1"><file href="discussie.xml"/></resource>
    <resource identifier="r-quiz" type="imsqti_xmlv1p2/imscc_xmlv1p1/assessment">
      <file href="quiz/assessment_qti.xml"/>
    </resource>
    <resource identifier="r-opdracht" type="assignment_xmlv1p0" href="opdracht/assignment.xml">
      <file href="opdracht/assignment.xml"/>
    </resource>
    <resource identifier="r-canvas" type="associatedcontent/imscc_xmlv1p1/learning-application-resource"
              href="vog/vog-inleveren.html">
      <file href="vog/vog-inleveren.html"/>
      <file href="vog/assignment_settings.xml"/>
    </resource>
    <resource identifier="r-los" type="webcontent" href="wiki_content/verlof.html">
      <file href="wiki_content/verlof.html"/>
    </resource>
    <resource identifier="r-foto" type="webcontent" href="web_resources/team.jpg">
      <file href="web_resources/team.jpg"/>
    </resource>
  </resources>
</manifest>
"""


def imscc_members() -> Members:
    assignment_text = html.escape(f"<p>{OPDRACHT}</p>")
    return {
        "imsmanifest.xml": IMSCC_MANIFEST,
        "course_settings/canvas_export.txt": "Q: What did the panda say?",
        "wiki_content/welkom.html": page("Welkom", WELKOM),
        "wiki_content/verlof.html": page("Verlof", LOSSE_PAGINA),
        "link.xml": f'<webLink xmlns="http://www.imsglobal.org/xsd/imsccv1p1/imswl_v1p1"><title>Intranet</title>'
                    f'<url href="{INTRANET}"/></webLink>',
        "discussie.xml": f'<topic xmlns="http://www.imsglobal.org/xsd/imsccv1p1/imsdt_v1p1"><title>Voorstelronde'
                         f'</title><text texttype="text/html">{html.escape(f"<p>{VOORSTELRONDE}</p>")}</text></topic>',
        "quiz/assessment_qti.xml": _qti(),
        "opdracht/assignment.xml": f'<assignment xmlns="http://www.imsglobal.org/xsd/imscc_extensions/assignment">'
                                   f'<title>Gedragscode</title><text texttype="text/html">{assignment_text}</text>'
                                   f'</assignment>',
        "vog/vog-inleveren.html": page("Opdracht: VOG", CANVAS_OPDRACHT),
        "vog/assignment_settings.xml": '<assignment xmlns="http://canvas.instructure.com/xsd/cccv1p0">'
                                       '<title>VOG inleveren</title></assignment>',
        "web_resources/team.jpg": b"\xff\xd8\xff\xe0 jpeg",
    }


def imscc_file(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "onboarding.imscc", imscc_members())


# -- Moodle backup --------------------------------------------------------------------------------

PAGINA = "Declaraties dien je binnen dertig dagen in via het declaratieportaal."
HOOFDSTUK_1 = "De kilometervergoeding is 23 cent per kilometer."
HOOFDSTUK_2 = "Parkeerkosten worden vergoed op vertoon van een bon."
LABEL = "Lees eerst de pagina over declaraties."
FORUM = "Stel hier je vragen over het declaratiebeleid."
OPDRACHT_MOODLE = "Dien een proefdeclaratie in van een treinreis."
SECTIE_SAMENVATTING = "In deze week leer je hoe declareren werkt."


def _activity(module: str, moduleid: int, body: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<activity id="{moduleid}" moduleid="{moduleid}" '
            f'modulename="{module}" contextid="{moduleid + 100}"><{module} id="{moduleid}">{body}</{module}>'
            f"</activity>")


def _esc(markup: str) -> str:
    return html.escape(markup, quote=False)


MOODLE_BACKUP = """<?xml version="1.0" encoding="UTF-8"?>
<moodle_backup>
  <information>
    <name>backup-moodle2-course-7-declareren.mbz</name>
    <original_course_fullname>Declareren (oude naam)</original_course_fullname>
    <contents>
      <activities>
        {activities}
      </activities>
      <sections>
        <section><sectionid>10</sectionid><title>0</title><directory>sections/section_10</directory></section>
        <section><sectionid>11</sectionid><title>1</title><directory>sections/section_11</directory></section>
      </sections>
      <course><courseid>7</courseid><title>DECL</title><directory>course</directory></course>
    </contents>
  </information>
</moodle_backup>
"""

_MOODLE_ACTIVITIES = [  # (moduleid, sectionid, modulename, title), in backup order (not course order)
    (5, 11, "book", "Handboek reiskosten"),
    (3, 10, "forum", "Vragen"),
    (4, 11, "page", "Declaraties indienen"),
    (6, 11, "label", "Lees eerst"),
    (7, 11, "url", "Declaratieportaal"),
    (8, 11, "resource", "Declaratieformulier (PDF)"),
    (9, 11, "assign", "Proefdeclaratie"),
    (12, 11, "quiz", "Toets declareren"),
]


def moodle_members() -> Members:
    listed = "".join(f"<activity><moduleid>{m}</moduleid><sectionid>{s}</sectionid><modulename>{name}</modulename>"
                     f"<title>{title}</title><directory>activities/{name}_{m}</directory></activity>"
                     for m, s, name, title in _MOODLE_ACTIVITIES)
    chapters = "".join(f"<chapter id='{i}'><pagenum>{i}</pagenum><subchapter>0</subchapter><title>{t}</title>"
                       f"<content>{_esc(f'<p>{c}</p>')}</content><contentformat>1</contentformat>"
                       f"<hidden>0</hidden></chapter>"
                       for i, (t, c) in enumerate([("Auto", HOOFDSTUK_1), ("Parkeren", HOOFDSTUK_2)], 1))
    questions = f"""<?xml version="1.0" encoding="UTF-8"?>
<question_categories><question_category id="1"><name>Standaard</name><contextid>112</contextid>
  <questions>
    <question id="41"><name>V1</name><questiontext>{_esc('<p>Binnen hoeveel dagen declareer je?</p>')}</questiontext>
      <qtype>multichoice</qtype><plugin_qtype_multichoice_question><answers>
        <answer id="1"><answertext>{_esc('<p>Dertig</p>')}</answertext></answer>
        <answer id="2"><answertext>Negentig</answertext></answer>
      </answers></plugin_qtype_multichoice_question>
    </question>
  </questions>
</question_category></question_categories>"""
    return {
        "moodle_backup.xml": MOODLE_BACKUP.format(activities=listed),
        "course/course.xml": '<course id="7"><shortname>DECL</shortname>'
                             '<fullname>Declareren bij De Voorbeeldgroep</fullname><summary></summary></course>',
        "sections/section_10/section.xml": '<section id="10"><number>0</number><name>$@NULL@$</name>'
                                           '<summary></summary><sequence>3</sequence></section>',
        "sections/section_11/section.xml": f'<section id="11"><number>1</number><name>Week 1: declareren</name>'
                                           f'<summary>{_esc(f"<p>{SECTIE_SAMENVATTING}</p>")}</summary>'
                                           f'<summaryformat>1</summaryformat><sequence>4,5,6,7,8,9,12</sequence>'
                                           f'</section>',
        "activities/forum_3/forum.xml": _activity("forum", 3, f"<name>Vragen</name><intro>{FORUM}</intro>"
                                                             f"<introformat>2</introformat>"),
        "activities/page_4/page.xml": _activity(
            "page", 4, f"<name>Declaraties indienen</name><intro></intro><introformat>1</introformat>"
                       f"<content>{_esc(f'<h2>Termijn</h2><p>{PAGINA}</p>')}</content>"
                       f"<contentformat>1</contentformat>"),
        "activities/book_5/book.xml": _activity("book", 5, f"<name>Handboek reiskosten</name><intro></intro>"
                                                           f"<chapters>{chapters}</chapters>"),
        "activities/label_6/label.xml": _activity("label", 6, f"<name>Lees eerst</name>"
                                                              f"<intro>{_esc(f'<p>{LABEL}</p>')}</intro>"),
        "activities/url_7/url.xml": _activity("url", 7, "<name>Declaratieportaal</name><intro></intro>"
                                                        "<externalurl>https://declareren.voorbeeld.nl</externalurl>"),
        "activities/resource_8/resource.xml": _activity("resource", 8, "<name>Declaratieformulier (PDF)</name>"
                                                                       "<intro>Het formulier voor papieren declaraties."
                                                                       "</intro><introformat>2</introformat>"),
        "activities/assign_9/assign.xml": _activity("assign", 9, f"<name>Proefdeclaratie</name>"
                                                                 f"<intro>{_esc(f'<p>{OPDRACHT_MOODLE}</p>')}</intro>"
                                                                 f"<introformat>1</introformat>"),
        "activities/quiz_12/quiz.xml": _activity("quiz", 12, "<name>Toets declareren</name><intro></intro>"
                                                             "<question_instances><question_instance id='1'><slot>1"
                                                             "</slot><questionid>41</questionid></question_instance>"
                                                             "</question_instances>"),
        "questions.xml": questions,
        "files/ab/abcdef0123": b"%PDF-1.4 not read",
    }


def moodle_mbz(tmp_path: Path, container: str) -> Path:
    """The same backup as Moodle writes it today (tar.gz), as older versions did (zip), or as a plain tar."""
    path = tmp_path / f"declareren-{container}.mbz"
    if container == "zip":
        return write_zip(path, moodle_members())
    return write_tgz(path, moodle_members(), compress=container == "tgz")


# -- hostile packages -----------------------------------------------------------------------------

def with_member(tmp_path: Path, name: str, extra: Members) -> Path:
    """The SCORM 1.2 package plus members a hostile packer added."""
    return write_zip(tmp_path / name, {**scorm12_members(), **extra})


def zip_bomb(tmp_path: Path, size: int = 60_000_000) -> Path:
    """A valid manifest beside one member of zeros that compresses about a thousand times."""
    path = tmp_path / "bom.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("imsmanifest.xml", SCORM12_MANIFEST)
        archive.writestr("module1/wachtwoorden.html", b"\0" * size)
    return path


def gzip_bomb(tmp_path: Path, size: int = 60_000_000) -> Path:
    path = tmp_path / "bom.mbz"
    members = moodle_members()
    members["activities/page_4/page.xml"] = b" " * size
    return write_tgz(path, members)


def truncated(source: Path, tmp_path: Path) -> Path:
    data = source.read_bytes()
    path = tmp_path / f"afgebroken{source.suffix}"
    path.write_bytes(data[: len(data) // 2])
    return path
