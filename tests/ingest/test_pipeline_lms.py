"""E-learning packages in a folder: each lesson becomes a document whose passages know their
course → module → lesson path and launch file."""

from __future__ import annotations

from pathlib import Path

from assistant.service import Assistant
from core.embedding import Embedder
from core.settings import Settings
from core.store import QdrantStore
from ingest.pipeline import Ingestor, list_units
from tests.fixtures import small_corpus
from tests.ingest.lms_fixtures import scorm12_zip, scorm2004_folder, truncated


def test_unpacked_package_is_one_unit_and_not_descended_into(tmp_path: Path) -> None:
    root = tmp_path / "lms"
    root.mkdir()
    package = scorm2004_folder(root)
    zipped = scorm12_zip(root)
    units = list_units(root)
    assert package in units and zipped in units
    assert not any(package in u.parents for u in units)


def test_lessons_are_indexed_with_course_path_and_launch_file(store: QdrantStore, embedder: Embedder,
                                                              settings: Settings, tmp_path: Path) -> None:
    root = small_corpus(tmp_path / "docs")
    scorm12_zip(root)
    scorm2004_folder(root)
    ingestor = Ingestor(store, embedder, settings.ingest)
    report = ingestor.ingest_folder(root, "mixed")
    lessons = [uri for uri in report.new if "!/" in uri]
    assert "informatiebeveiliging-scorm12.zip!/module2/phishing.html?taal=nl" in lessons  # launch with its parameters
    assert any(uri.startswith("hybride-werken!/") for uri in lessons)
    assert any("cleandesk" in w for w in report.warnings)  # the missing lesson file is reported
    assert len(report.new) == 5 + len(lessons) and not report.failed

    docs = store.documents("mixed")
    phishing = next(d for d, info in docs.items() if "phishing.html" in str(info["uri"]))
    passage = store.passages(phishing, groups=None)[0]
    assert passage.media_type == "scorm12"
    assert passage.section_path[0] != "" and passage.section_path[-1] == "Phishing herkennen"
    assert len(passage.section_path) >= 3  # course → module → lesson

    again = ingestor.ingest_folder(root, "mixed")
    assert not again.changed and len(again.unchanged) == len(report.new)

    answer = Assistant.build(settings, store, embedder).ask("Hoe herken ik een phishingmail?", groups=None)
    assert answer.answered
    assert answer.citations[0].uri.startswith("informatiebeveiliging-scorm12.zip!/")
    assert "Phishing herkennen" in answer.citations[0].section


def test_broken_update_of_a_package_keeps_its_lessons(store: QdrantStore, embedder: Embedder,
                                                      settings: Settings, tmp_path: Path) -> None:
    root = tmp_path / "lms"
    root.mkdir()
    package = scorm12_zip(root)
    ingestor = Ingestor(store, embedder, settings.ingest)
    first = ingestor.ingest_folder(root, "lms")
    broken = truncated(package, tmp_path)
    package.write_bytes(broken.read_bytes())
    second = ingestor.ingest_folder(root, "lms")
    assert [f.uri for f in second.failed] == [package.name]
    assert not second.removed
    assert len(store.documents("lms")) == len(first.new)
