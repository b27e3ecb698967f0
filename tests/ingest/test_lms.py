"""E-learning packages → courses of lessons: packages the tests write, hostile ones, and the real ones
under ../shared/data/lms, all read by the real reader and the real parser."""

from __future__ import annotations

import signal
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.errors import ErrorCode, VraagbaakError
from ingest.lms import Course, Lesson, PackageLimits, is_package, read_package
from tests.ingest import lms_fixtures as fx

LMS_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lms"


def text_of(lesson: Lesson) -> str:
    return " ".join(block.text for block in lesson.blocks)


def lesson(course: Course, title: str) -> Lesson:
    return next(item for item in course.lessons if item.title == title)


@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Fail instead of hanging: an alarm in the main thread (pytest runs tests there)."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"{what} took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- SCORM ----------------------------------------------------------------------------------------

def test_scorm12_zip_reads_modules_lessons_launch_files_and_all_html_of_a_sco(tmp_path: Path) -> None:
    course = read_package(fx.scorm12_zip(tmp_path))
    assert (course.format, course.title) == ("scorm12", "Informatiebeveiliging")
    assert [item.title for item in course.lessons] == ["Sterke wachtwoorden", "Phishing herkennen",
                                                       "Melden van incidenten", "Clean desk"]
    passwords = lesson(course, "Sterke wachtwoorden")
    assert passwords.path == ("Informatiebeveiliging", "Module 1", "Sterke wachtwoorden")
    assert (passwords.kind, passwords.entry, passwords.launch) == ("sco", "module1/wachtwoorden.html",
                                                                  "module1/wachtwoorden.html")
    text = text_of(passwords)
    assert fx.WACHTWOORD in text and fx.WACHTWOORD_TIPS in text  # launch file first, then the SCO's other HTML
    assert text.index(fx.WACHTWOORD) < text.index(fx.WACHTWOORD_TIPS) and "Menu Vorige" not in text
    phishing = lesson(course, "Phishing herkennen")
    assert phishing.path == ("Informatiebeveiliging", "Module 2", "Phishing herkennen")
    assert phishing.launch == "module2/phishing.html?taal=nl" and fx.PHISHING in text_of(phishing)


def test_scorm_missing_resource_and_missing_file_keep_the_lesson_with_its_title_and_warn(tmp_path: Path) -> None:
    course = read_package(fx.scorm12_zip(tmp_path))
    missing_resource, missing_file = lesson(course, "Melden van incidenten"), lesson(course, "Clean desk")
    for item in (missing_resource, missing_file):
        assert not item.has_text and [b.text for b in item.blocks] == [item.title]
    assert missing_file.kind == "asset" and missing_file.entry == "module2/cleandesk.html"
    assert "item 'Melden van incidenten' references missing resource 'r-bestaat-niet'" in course.warnings
    assert any("module2/cleandesk.html" in w and "not in the package" in w for w in course.warnings)


def test_scorm2004_folder_uses_the_default_organization_xml_base_and_nested_modules(tmp_path: Path) -> None:
    course = read_package(fx.scorm2004_folder(tmp_path))
    assert (course.format, course.title) == ("scorm2004", "Hybride werken")
    rules, ergonomics = course.lessons
    assert rules.path == ("Hybride werken", "Deel 1", "Hoofdstuk 1", "Regels voor thuiswerken")
    assert rules.entry == "inhoud/regels thuiswerken.html" and fx.THUISWERKEN in text_of(rules)
    assert ergonomics.path == ("Hybride werken", "Ergonomie")
    assert ergonomics.launch == "inhoud/ergo/index.html" and fx.ERGONOMIE in text_of(ergonomics)
    assert course.warnings == ()


# -- cmi5 -----------------------------------------------------------------------------------------

def test_cmi5_reads_local_aus_from_the_zip_and_remote_aus_from_their_description(tmp_path: Path) -> None:
    course = read_package(fx.cmi5_zip(tmp_path))
    assert (course.format, course.title) == ("cmi5", "Veilig werken")  # the Dutch langstring is preferred
    fire, first_aid = course.lessons
    assert fire.path == ("Veilig werken", "Blok 1: Calamiteiten", "Brandveiligheid")
    assert (fire.kind, fire.entry, fire.launch) == ("au", "au/brand/index.html", "au/brand/index.html?stap=1")
    assert fx.BRANDVEILIGHEID in text_of(fire)
    assert first_aid.path == ("Veilig werken", "EHBO op de werkplek")
    assert first_aid.launch == "https://leren.voorbeeld.nl/ehbo/start" and first_aid.entry == "cmi5.xml"
    assert "nummer 2222" in text_of(first_aid)


@pytest.mark.parametrize(("cmi5_xml", "reason"), [
    ("<courseStructure><course id='https://x/c'><title><langstring>Cursus</langstring></title>",
     "not well-formed XML"),
    ("<manifest/>", "expected <courseStructure>"),
    ("<courseStructure><course id='https://x/c'><title><langstring>C</langstring></title></course>"
     "<au id='https://x/a'><title><langstring>Les</langstring></title></au></courseStructure>", "has no launch URL"),
    ("<courseStructure><course id='https://x/c'><title><langstring>C</langstring></title></course>"
     "<au id='https://x/a'><title><langstring>Les</langstring></title><url>http://x.nl/a b.html</url></au>"
     "</courseStructure>", "invalid launch URL"),
    ("<courseStructure><course id='https://x/c'><title><langstring>C</langstring></title></course>"
     "</courseStructure>", "no AU"),
])
def test_invalid_cmi5_xml_is_a_clear_error(tmp_path: Path, cmi5_xml: str, reason: str) -> None:
    package = fx.write_zip(tmp_path / "kapot.zip", {"cmi5.xml": cmi5_xml})
    with pytest.raises(VraagbaakError) as caught:
        read_package(package)
    assert caught.value.code is ErrorCode.PARSE_FAILED and reason in caught.value.message


# -- Common Cartridge -----------------------------------------------------------------------------

def test_common_cartridge_reads_pages_links_discussions_quizzes_and_assignments(tmp_path: Path) -> None:
    course = read_package(fx.imscc_file(tmp_path))
    assert (course.format, course.title) == ("imscc", "Onboarding nieuwe medewerkers")
    kinds = {item.title: item.kind for item in course.lessons}
    assert kinds == {"Welkom": "wiki", "Intranet": "url", "Voorstelronde": "discussion", "Kennischeck HR": "quiz",
                     "Gedragscode": "assignment", "VOG inleveren": "assignment", "Verlof": "wiki"}
    assert lesson(course, "Welkom").path == ("Onboarding nieuwe medewerkers", "Week 1", "Welkom")
    assert fx.WELKOM in text_of(lesson(course, "Welkom"))
    link = lesson(course, "Intranet")
    assert link.launch == fx.INTRANET and fx.INTRANET in text_of(link)
    assert fx.VOORSTELRONDE in text_of(lesson(course, "Voorstelronde"))
    quiz = [b.text for b in lesson(course, "Kennischeck HR").blocks]
    assert quiz == ["1. Hoeveel vakantiedagen heeft een voltijder?", "• 20", "• 25", "• 27"]
    assert fx.OPDRACHT in text_of(lesson(course, "Gedragscode"))
    # Canvas exports what sits in no module as resources only: they become lessons under the course
    assert lesson(course, "VOG inleveren").path == ("Onboarding nieuwe medewerkers", "VOG inleveren")
    assert fx.CANVAS_OPDRACHT in text_of(lesson(course, "VOG inleveren"))
    assert fx.LOSSE_PAGINA in text_of(lesson(course, "Verlof"))
    assert "panda" not in " ".join(text_of(item) for item in course.lessons)


# -- Moodle ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("container", ["tgz", "zip", "tar"])
def test_moodle_backup_reads_sections_and_activities_in_course_order(tmp_path: Path, container: str) -> None:
    course = read_package(fx.moodle_mbz(tmp_path, container))
    assert (course.format, course.title) == ("moodle", "Declareren bij De Voorbeeldgroep")
    assert [(item.kind, item.path[1:]) for item in course.lessons] == [
        ("forum", ("General", "Vragen")),
        ("section", ("Week 1: declareren",)),
        ("page", ("Week 1: declareren", "Declaraties indienen")),
        ("book", ("Week 1: declareren", "Handboek reiskosten")),
        ("label", ("Week 1: declareren", "Lees eerst")),
        ("url", ("Week 1: declareren", "Declaratieportaal")),
        ("file", ("Week 1: declareren", "Declaratieformulier (PDF)")),
        ("assignment", ("Week 1: declareren", "Proefdeclaratie")),
        ("quiz", ("Week 1: declareren", "Toets declareren")),
    ]
    page = lesson(course, "Declaraties indienen")
    assert page.entry == "activities/page_4/page.xml" and page.blocks[0].kind == "heading"
    assert fx.PAGINA in text_of(page)  # escaped HTML, unescaped and parsed
    book = [(b.kind, b.text) for b in lesson(course, "Handboek reiskosten").blocks]
    assert book == [("heading", "Auto"), ("text", fx.HOOFDSTUK_1), ("heading", "Parkeren"), ("text", fx.HOOFDSTUK_2)]
    assert fx.LABEL in text_of(lesson(course, "Lees eerst"))
    assert lesson(course, "Declaratieportaal").launch == "https://declareren.voorbeeld.nl"
    assert fx.FORUM in text_of(lesson(course, "Vragen"))
    assert fx.OPDRACHT_MOODLE in text_of(lesson(course, "Proefdeclaratie"))
    assert fx.SECTIE_SAMENVATTING in text_of(lesson(course, "Week 1: declareren"))
    quiz = [b.text for b in lesson(course, "Toets declareren").blocks]
    assert quiz == ["1. Binnen hoeveel dagen declareer je?", "• Dertig", "• Negentig"]
    assert any("Declaratieformulier (PDF)" in w and "not read" in w for w in course.warnings)


# -- sniffing -------------------------------------------------------------------------------------

def test_is_package_recognises_every_format_and_nothing_else(tmp_path: Path) -> None:
    packages = [fx.scorm12_zip(tmp_path), fx.scorm2004_folder(tmp_path), fx.cmi5_zip(tmp_path),
                fx.imscc_file(tmp_path), fx.moodle_mbz(tmp_path, "tgz"), fx.moodle_mbz(tmp_path, "zip")]
    assert all(is_package(p) for p in packages)
    plain_zip = fx.write_zip(tmp_path / "documenten.zip", {"handboek.html": fx.page("Handboek", "Tekst.")})
    outer = tmp_path / "opleidingen"
    fx.write_folder(outer / "phishing", fx.scorm12_members())
    plain_tgz = fx.write_tgz(tmp_path / "documenten.tar.gz", {"handboek.html": "Tekst."})
    text = tmp_path / "notitie.xml"
    text.write_text("<notitie>geen cursus</notitie>")
    assert not any(is_package(p) for p in (plain_zip, plain_tgz, text, tmp_path / "bestaat-niet.zip", outer,
                                           outer / "phishing" / "imsmanifest.xml"))
    # a manifest file names its folder: reading it reads the unpacked package around it
    course = read_package(outer / "phishing" / "imsmanifest.xml")
    assert course.title == "Informatiebeveiliging" and len(course.lessons) == 4


def test_a_package_zipped_with_its_folder_around_it_is_read_from_that_folder(tmp_path: Path) -> None:
    members = {f"Informatiebeveiliging/{name}": data for name, data in fx.scorm12_members().items()}
    package = fx.write_zip(tmp_path / "met-map.zip", members)
    assert is_package(package)
    course = read_package(package)
    assert fx.WACHTWOORD in text_of(lesson(course, "Sterke wachtwoorden"))
    assert any("folder 'Informatiebeveiliging/'" in w for w in course.warnings)


# -- hostile packages -----------------------------------------------------------------------------

@pytest.mark.parametrize("evil", ["../evil.html", "/etc/evil.html", "module1/../../evil.html", "C:/evil.html"])
def test_a_member_with_an_unsafe_path_is_skipped_with_a_warning(tmp_path: Path, evil: str) -> None:
    manifest = fx.SCORM12_MANIFEST.replace('<file href="module1/tips.html"/>', f'<file href="{evil}"/>')
    package = fx.with_member(tmp_path, "onveilig.zip", {evil: fx.page("Kwaad", "Geheime tekst"),
                                                         "imsmanifest.xml": manifest})
    course = read_package(package)
    assert any(evil in w and ("unsafe path" in w or "leaves the package" in w) for w in course.warnings)
    assert "Geheime tekst" not in " ".join(text_of(item) for item in course.lessons)
    assert not (tmp_path.parent / "evil.html").exists()


def test_a_manifest_with_an_unsafe_path_refuses_the_package(tmp_path: Path) -> None:
    package = fx.write_zip(tmp_path / "manifest-buiten.zip", {"../imsmanifest.xml": fx.SCORM12_MANIFEST,
                                                               "module1/wachtwoorden.html": "x"})
    with pytest.raises(VraagbaakError, match="manifest has an unsafe path"):
        read_package(package)


def test_a_zip_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    bomb = fx.zip_bomb(tmp_path)
    with pytest.raises(VraagbaakError) as caught:
        read_package(bomb)
    assert caught.value.code is ErrorCode.PARSE_FAILED
    assert "expands 1" in caught.value.message and "zip bomb" in caught.value.message


def test_a_gzip_bomb_is_refused_while_streaming(tmp_path: Path) -> None:
    with pytest.raises(VraagbaakError, match=r"expands \d+ times its compressed size"):
        read_package(fx.gzip_bomb(tmp_path, size=30_000_000))


@pytest.mark.parametrize(("limits", "reason"), [
    (PackageLimits(max_total_bytes=2_000), "package expands to"),
    (PackageLimits(max_member_bytes=500), "(limit 500 bytes a file)"),
    (PackageLimits(max_members=3), "members (limit 3)"),
])
def test_package_limits_give_a_clear_reason(tmp_path: Path, limits: PackageLimits, reason: str) -> None:
    for package in (fx.scorm12_zip(tmp_path), fx.moodle_mbz(tmp_path, "tgz")):
        with pytest.raises(VraagbaakError) as caught:
            read_package(package, limits)
        assert reason in caught.value.message


@pytest.mark.parametrize("container", ["zip", "tgz"])
def test_a_truncated_package_is_a_clear_error(tmp_path: Path, container: str) -> None:
    broken = fx.truncated(fx.moodle_mbz(tmp_path, container), tmp_path)
    with pytest.raises(VraagbaakError, match="truncated or corrupt"):
        read_package(broken)


def test_links_in_a_tar_are_refused(tmp_path: Path) -> None:
    package = fx.write_tgz(tmp_path / "links.mbz", fx.moodle_members(),
                           links={"activities/page_4/extra.html": "/etc/passwd"})
    course = read_package(package)
    assert any("extra.html' is a link" in w for w in course.warnings)
    members = {k: v for k, v in fx.moodle_members().items() if k != "moodle_backup.xml"}
    linked_manifest = fx.write_tgz(tmp_path / "link-manifest.mbz", members, links={"moodle_backup.xml": "/etc/passwd"})
    with pytest.raises(VraagbaakError, match="manifest has an unsafe path or is a link"):
        read_package(linked_manifest)


def test_a_nested_package_is_never_opened(tmp_path: Path) -> None:
    inner = fx.scorm12_zip(tmp_path).read_bytes()
    manifest = fx.SCORM12_MANIFEST.replace("module2/phishing.html", "binnen.zip")
    package = fx.with_member(tmp_path, "genest.zip", {"binnen.zip": inner, "imsmanifest.xml": manifest})
    course = read_package(package)
    phishing = lesson(course, "Phishing herkennen")
    assert phishing.entry == "binnen.zip" and not phishing.has_text
    assert sum(fx.WACHTWOORD in text_of(item) for item in course.lessons) == 1  # only the outer page


def test_missing_or_unparseable_manifests_are_clear_errors(tmp_path: Path) -> None:
    no_manifest = fx.write_zip(tmp_path / "leeg.zip", {"index.html": fx.page("Index", "Tekst.")})
    with pytest.raises(VraagbaakError, match="no imsmanifest.xml, cmi5.xml or moodle_backup.xml"):
        read_package(no_manifest)
    bad_xml = fx.with_member(tmp_path, "kapot.zip", {"imsmanifest.xml": "<manifest><organizations>"})
    with pytest.raises(VraagbaakError, match="imsmanifest.xml is not well-formed XML"):
        read_package(bad_xml)
    bad_moodle = fx.write_tgz(tmp_path / "kapot.mbz", {"moodle_backup.xml": "<moodle_backup><information>"})
    with pytest.raises(VraagbaakError, match="moodle_backup.xml is not well-formed XML"):
        read_package(bad_moodle)
    not_an_archive = tmp_path / "cursus.zip"
    not_an_archive.write_text("Dit is geen zip.")
    with pytest.raises(VraagbaakError, match="not a zip or tar.gz package"):
        read_package(not_an_archive)


def test_xml_external_entities_are_not_read_and_entity_bombs_are_refused(tmp_path: Path) -> None:
    declaration = '<?xml version="1.0" encoding="UTF-8"?>'
    external = '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    manifest = fx.SCORM12_MANIFEST.replace(declaration, external).replace(
        "<title>Informatiebeveiliging</title>", "<title>Info&x;</title>")
    course = read_package(fx.with_member(tmp_path, "xxe.zip", {"imsmanifest.xml": manifest}))
    assert "root:" not in course.title
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = fx.SCORM12_MANIFEST.replace(declaration, f'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY l0 "lol">{laughs}]>')
    bomb = bomb.replace("<title>Informatiebeveiliging</title>", "<title>&l9;</title>")
    with pytest.raises(VraagbaakError, match="imsmanifest.xml is not well-formed XML"):
        read_package(fx.with_member(tmp_path, "lol.zip", {"imsmanifest.xml": bomb}))


# -- the real packages under ../shared/data/lms ---------------------------------------------------

KNOWN_INVALID = ("208-1-invalid-package.md", "209-1-not-a-zip.zip", "210-1-no-cmi5-xml")
_ARCHIVE_SUFFIXES = (".zip", ".imscc", ".mbz", ".tgz", ".gz")


def real_packages(root: Path) -> list[Path]:
    """Every package below root: archives, folders with a manifest at their root (not descended into),
    course structure files on their own, and the deliberately broken ones beside them."""
    found: list[Path] = []

    def walk(folder: Path) -> None:
        for path in sorted(folder.iterdir()):
            if path.name in KNOWN_INVALID:
                found.append(path)
            elif path.is_dir() and is_package(path):
                found.append(path)
            elif path.is_dir():
                walk(path)
            elif path.suffix.lower() in _ARCHIVE_SUFFIXES or (path.suffix.lower() == ".xml" and is_package(path)):
                found.append(path)

    walk(root)
    return found


@pytest.fixture(scope="module")
def real_results() -> dict[Path, Course | VraagbaakError]:
    if not LMS_DATA.exists():
        pytest.skip(f"shared data not available: {LMS_DATA} (the real e-learning packages live beside the repo)")
    results: dict[Path, Course | VraagbaakError] = {}
    for package in real_packages(LMS_DATA):
        started = time.monotonic()
        with time_limit(30, f"reading {package}"):
            try:
                results[package] = read_package(package)
            except VraagbaakError as exc:  # any other exception fails the test
                results[package] = exc
        assert time.monotonic() - started < 30
    return results


@pytest.mark.shared_data
def test_every_real_package_reads_into_lessons_with_text_or_fails_clearly(
        real_results: dict[Path, Course | VraagbaakError]) -> None:
    tally: dict[str, Counter[str]] = defaultdict(Counter)
    for package, result in real_results.items():
        folder = package.relative_to(LMS_DATA).parts[0]
        tally[folder]["packages"] += 1
        if isinstance(result, Course):
            assert any(item.has_text for item in result.lessons), package
            assert all(item.path[0] == result.title and item.path[-1] == item.title for item in result.lessons)
            tally[folder]["read"] += 1
            tally[folder]["lessons"] += len(result.lessons)
            tally[folder]["lessons with text"] += sum(item.has_text for item in result.lessons)
        else:
            assert result.message and result.code in (ErrorCode.PARSE_FAILED, ErrorCode.EMPTY_DOCUMENT), package
            tally[folder]["failed"] += 1
            print(f"  failed  {package.relative_to(LMS_DATA)}: {result.message[:160]}")
    for folder, counts in sorted(tally.items()):
        print(f"{folder}: " + ", ".join(f"{key} {value}" for key, value in counts.items()))
    assert len(real_results) >= 50
    for name in KNOWN_INVALID:
        assert any(isinstance(r, VraagbaakError) for p, r in real_results.items() if p.name == name)


def _real(results: dict[Path, Course | VraagbaakError], *parts: str) -> Course:
    result = results[LMS_DATA.joinpath(*parts)]
    assert isinstance(result, Course), result
    return result


@pytest.mark.shared_data
def test_golf_scorm2004_examples_have_their_known_lessons(
        real_results: dict[Path, Course | VraagbaakError]) -> None:
    golf = "com.scorm.golfsamples.contentpackaging.{}.20043rd.zip"
    course = _real(real_results, "scorm2004-golf", golf.format("multioscosinglefile"))
    assert (course.format, course.title) == ("scorm2004", "Golf Explained - CP One File Per SCO")
    assert [item.title for item in course.lessons[:3]] == ["How to Play", "Par", "Keeping Score"]
    par = lesson(course, "Par")
    assert par.path == ("Golf Explained - CP One File Per SCO", "Playing the Game", "Par")
    assert par.launch == "Playing/Par.html" and "par" in text_of(par).lower()
    quiz = lesson(course, "Playing Golf Quiz")
    assert quiz.launch == "shared/assessmenttemplate.html?questions=Playing"
    single = _real(real_results, "scorm2004-golf", golf.format("singlesco"))
    assert len(single.lessons) == 1 and "Golf carts" in text_of(single.lessons[0])


@pytest.mark.shared_data
def test_csps_scorm12_course_reads_the_pages_its_player_loads(
        real_results: dict[Path, Course | VraagbaakError]) -> None:
    course = _real(real_results, "scorm12-csps-k100")
    assert course.format == "scorm12"
    assert course.title == "xxxPackageNamexxx"  # the package template's placeholder, left in by its authors
    (only,) = course.lessons
    assert only.launch == "index_en.html"
    text = text_of(only)
    assert "The Uncomfortable Truth" in text and "Historical overview" in text
    assert "La vérité" not in text  # the launch file is English: the French pages stay out


@pytest.mark.shared_data
def test_canvas_cartridge_and_moodle_backup_have_their_known_content(
        real_results: dict[Path, Course | VraagbaakError]) -> None:
    base = ("common-cartridge", "public", "test-cartridges")
    course = _real(real_results, *base, "course-1")
    assert course.title == "COURSE-for-modules-testing"
    quiz = lesson(course, "First Module Quiz 1")
    assert quiz.path == ("COURSE-for-modules-testing", "First Module", "First Module Quiz 1")
    assert quiz.kind == "quiz" and "The correct answer is D" in text_of(quiz)
    assert lesson(course, "First Module External URL 1").launch == "http://google.com"
    ally = _real(real_results, *base, "allyworkshop.imscc")
    faq = lesson(ally, "Accessibility FAQ")
    assert faq.path[1:] == ("Part 1: Overview: Accessibility and ALLY", "Accessibility FAQ")
    moodle = _real(real_results, "moodle-mbz", "backup", "moodle2", "tests", "fixtures", "availability_26_format.mbz")
    assert moodle.title == "MDL-44070 Moodle 2.6 backup"
    page = lesson(moodle, "Page with tickbox")
    assert page.path == ("MDL-44070 Moodle 2.6 backup", "Section 1", "Page with tickbox")  # an unnamed section
    assert page.kind == "page" and "You can tick the box on this page" in text_of(page)
    titles = [item.title for item in moodle.lessons]  # the section's own order (…, 17, 19, 18, 20), not the backup's
    assert titles.index("Grouping") < titles.index("All the options!")
    cmi5 = _real(real_results, "cmi5-catapult", "course_examples", "packages", "multi_au_framed.zip")
    assert [item.title for item in cmi5.lessons[:2]] == ["Introduction to Geology", "Geological Materials"]
