"""Dataset validation: every problem of an answer set or a BEIR folder, with its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.validate import validate
from vraagbaak.cli import main


def _write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    (corpus / "beleid").mkdir(parents=True)
    (corpus / "beleid" / "verlof.md").write_text("# Verlof\n\nJe hebt 25 vakantiedagen.\n", encoding="utf-8")
    return corpus


GOOD = {"id": "q1", "question": "Hoeveel vakantiedagen?", "language": "nl", "answerable": True,
        "expected_documents": ["beleid/verlof.md"]}


def test_a_valid_answer_set_has_no_problems(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "set.jsonl", [GOOD, {"id": "q2", "question": "Wat is de pensioenregeling?",
                                                        "language": "nl", "answerable": False,
                                                        "history": ["Hoi"], "reference_answer": "Niet bekend."}])
    assert validate(path, _corpus(tmp_path)) == []


def test_every_problem_of_an_answer_set_is_reported_with_its_line(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "set.jsonl", [
        GOOD,
        {"id": "q1", "question": "Nog een keer?", "language": "nl", "answerable": True,
         "expected_documents": ["beleid/verlof.md"]},                                     # 2: duplicate id
        {"id": "q3", "language": "nl", "answerable": "yes", "expected_documents": []},     # 3: no question, bad bool
        "{not json",                                                                       # 4
        {"id": "q5", "question": "Waar staat dat?", "language": "nl", "answerable": True,
         "expected_documents": ["beleid/bestaat-niet.pdf"], "history": "vorige vraag"},   # 5: unknown doc, bad history
        {"id": "q6", "question": "Wie is de CEO?", "language": "nl", "answerable": False,
         "expected_documents": ["beleid/verlof.md"]},                                     # 6: unanswerable with docs
    ])
    problems = [str(p) for p in validate(path, _corpus(tmp_path))]
    assert "set.jsonl:2: duplicate id 'q1' (first on line 1)" in problems
    assert "set.jsonl:3: missing field `question`" in problems
    assert "set.jsonl:3: `answerable` must be a boolean, not str" in problems
    assert "set.jsonl:3: answerable item names no expected document or passage" not in problems  # not a bool
    assert any(p.startswith("set.jsonl:4: not JSON") for p in problems)
    assert "set.jsonl:5: expected document 'beleid/bestaat-niet.pdf' is not in the corpus" in problems
    assert "set.jsonl:5: `history` must be a list of non-empty strings" in problems
    assert "set.jsonl:6: unanswerable item names expected documents or passages" in problems
    assert not any(p.startswith("set.jsonl:1:") for p in problems)


def test_a_beir_folder_with_duplicates_and_unknown_ids_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    _write_jsonl(folder / "corpus.jsonl", [{"_id": "d1", "title": "A", "text": "alpha"},
                                           {"_id": "d1", "title": "B", "text": "beta"},
                                           {"_id": "d3", "title": 3, "text": "gamma"}])
    _write_jsonl(folder / "queries.jsonl", [{"_id": "q1", "text": "alpha?"}, {"text": "no id"}])
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td7\t1\nq1\td3\tx\n",
                                               encoding="utf-8")
    problems = [str(p) for p in validate(folder)]
    assert "corpus.jsonl:2: duplicate id 'd1' (first on line 1)" in problems
    assert "corpus.jsonl:3: `title` must be a string" in problems
    assert "queries.jsonl:2: missing field `_id`" in problems
    assert "test.tsv:3: unknown query id 'q9'" in problems
    assert "test.tsv:3: unknown document id 'd7'" in problems
    assert "test.tsv:4: score 'x' is not an integer" in problems
    assert len(problems) == 6


def test_the_validate_command_lists_problems_and_exits_non_zero(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = _write_jsonl(tmp_path / "bad.jsonl", [{"id": "q1", "question": "?", "language": "nl"}])
    assert main(["eval", "validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad.jsonl:1: missing field `answerable`" in out and "1 problem(s)" in out
    good = _write_jsonl(tmp_path / "good.jsonl", [GOOD])
    assert main(["eval", "validate", str(good), "--corpus", str(_corpus(tmp_path))]) == 0
    assert "valid" in capsys.readouterr().out


def test_a_missing_dataset_is_a_clear_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["eval", "validate", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such dataset" in capsys.readouterr().err


_REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(p.name for p in (_REPO / "eval" / "datasets").glob("*.jsonl")))
def test_the_shipped_demo_question_sets_are_valid_against_the_demo_corpus(name: str) -> None:
    """Every set in eval/datasets names documents that exist in demo/corpus (the gate and the docs' figures
    run on them); the answerable items name their documents."""
    assert validate(_REPO / "eval" / "datasets" / name, _REPO / "demo" / "corpus") == []
