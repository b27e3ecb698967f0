"""`vraagbaak eval build`: a gold set proposed from answer records (JSONL for now)."""

from __future__ import annotations

import json
from pathlib import Path

from eval.build import AnswerRecord, propose
from eval.validate import validate
from vraagbaak.cli import main


def test_thumbs_up_become_answerable_and_refusals_unanswerable(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    records = [
        {"id": "r1", "question": "Hoeveel vakantiedagen heb ik?", "answer": "25 dagen [1]",
         "cited_documents": ["beleid/verlof.md", "beleid/verlof.md"], "thumbs": "up", "refused": False},
        {"id": "r2", "question": "hoeveel  vakantiedagen heb ik?", "answer": "25", "cited_documents": ["beleid/verlof.md"],
         "thumbs": 1, "refused": False},                                   # the same question again
        {"id": "r3", "question": "Wat verdient de CEO?", "answer": "", "cited_documents": [], "thumbs": None,
         "refused": True},
        {"id": "r4", "question": "Mag ik thuiswerken?", "answer": "Ja [1]", "cited_documents": ["thuiswerk.md"],
         "thumbs": "down", "refused": False},
        {"id": "r5", "question": "How do I reset my password?", "answer": "Via the portal [1]",
         "cited_documents": ["it/password.md"], "thumbs": None, "refused": False},
    ]
    source = tmp_path / "records.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "proposed.jsonl"
    assert main(["eval", "build", "--records", str(source), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 candidates (1 answerable, 1 unanswerable)" in printed
    assert "question asked before: 1" in printed and "thumbs down: 1" in printed
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(line["record_id"], line["answerable"], line["review"]) for line in lines] == [
        ("r1", True, "proposed"), ("r3", False, "proposed")]
    assert lines[0]["expected_documents"] == ["beleid/verlof.md"] and lines[0]["language"] == "nl"
    assert validate(out) == []  # a proposed set is a valid answer set


def test_bad_record_lines_are_reported_with_their_number(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "records.jsonl"
    source.write_text('{"question": "ok?", "refused": true}\n{"question": 3}\n{"question": "x", "thumbs": "maybe"}\n',
                      encoding="utf-8")
    assert main(["eval", "build", "--records", str(source), "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "line 2: `question` (string) is missing" in err and "line 3: `thumbs` must be" in err


def test_propose_takes_any_iterable_of_records() -> None:
    lines, summary = propose(iter([AnswerRecord("Where is the office?", "", (), None, True, language="en")]))
    assert lines[0]["language"] == "en" and summary.unanswerable == 1


def test_build_from_the_answer_records_in_the_database(settings, demo_store, embedder, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       monkeypatch, capsys) -> None:
    from assistant.records import AnswerLog
    from assistant.service import Assistant
    from core.db import Database

    database = Database.open(settings.database_url)
    assistant = Assistant.build(settings, demo_store, embedder, AnswerLog.build(settings, database))
    assert assistant.ask("Hoeveel vakantiedagen heb ik?", groups=None, user="u1").answered
    assert not assistant.ask("Kan ik een leaseauto krijgen?", groups=None, user="u2").answered
    database.close()
    monkeypatch.setenv("VRAAGBAAK_DATABASE__URL", settings.database_url)
    out = tmp_path / "proposed.jsonl"
    assert main(["eval", "build", "--from-db", "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    # no thumbs are stored yet: the refusal is proposed as unanswerable, the answer waits for a thumbs up
    assert [(line["question"], line["answerable"], line["origin"]) for line in lines] == [
        ("Kan ik een leaseauto krijgen?", False, "refused")]
    assert lines[0]["record_id"] and "answered without thumbs up: 1" in capsys.readouterr().out
