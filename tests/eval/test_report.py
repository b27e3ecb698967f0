"""The HTML report, the Markdown summary and the comparison, from run files the test writes."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from eval.report import compare_runs, item_changes
from eval.runs import load_run, write_run
from vraagbaak.cli import main


def _item(id_: str, language: str, doc_type: str, ndcg: float, failure: str | None, text: str = "passage",
          **extra: object) -> dict:
    return {"id": id_, "question": f"vraag {id_}?", "language": language, "doc_type": doc_type, "category": "",
            "answerable": True, "expected": [f"doc-{id_}.{doc_type}"], "ranked_documents": ["x", f"doc-{id_}.{doc_type}"],
            "retrieved": [{"doc": "x", "title": "X", "score": 0.5, "where": "p. 1", "text": text}],
            "ndcg_at_10": ndcg, "retrieve_ms": 12.0 + ndcg, "answer_ms": 300.0, "answered": failure is None,
            "answer": "", "failures": [failure] if failure else [], "failure": failure, **extra}


def _run(name: str, retriever: str, items: list[dict], ndcg: float, dataset: str = "tiny") -> dict:
    return {"name": name, "config": {"retriever": retriever, "k": 5, "generator": "extractive"},
            "code_version": {"commit": "abc123", "dirty": True},
            "dataset": {"name": dataset, "hash": "0123456789ab", "items": len(items)},
            "metrics": {"items": len(items), "ndcg_at_10": ndcg, "answer_rate": 0.5, "refusal_rate": None,
                        "failed_items": sum(bool(i["failure"]) for i in items)},
            "items": items}


def test_the_report_has_plots_escaped_passages_and_the_baseline_difference(tmp_path: Path) -> None:
    hostile = "<script>alert('x')</script> & <b>vet</b>"
    ours = _run("hybrid", "hybrid", [_item("1", "nl", "pdf", 1.0, None),
                                     _item("2", "en", "docx", 0.0, "expected document not retrieved in top-k", hostile)],
                0.5)
    base = _run("llamaindex", "llamaindex", [_item("1", "nl", "pdf", 0.5, None), _item("2", "en", "docx", 0.0, None)],
                0.25)
    folders = [write_run(r, tmp_path / "runs") for r in (ours, base)]
    assert main(["eval", "report", *map(str, folders), "--out", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;vet" in page
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 4  # metrics, per language, per document type, latency
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert {p.name for p in (tmp_path / "report").glob("*.png")} == {
        "metrics.png", "per-language.png", "per-doc_type.png", "latency.png"}
    summary = (tmp_path / "report" / "summary.md").read_text(encoding="utf-8")
    assert "| tiny | 2 | 0.250 | 0.500 | +0.250 (+100.0%) |" in summary
    assert "expected document not retrieved in top-k (1)" in summary


def test_compare_lists_the_items_that_got_better_or_worse(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    before = _run("a", "hybrid", [_item("1", "nl", "pdf", 0.5, None), _item("2", "nl", "pdf", 1.0, None),
                                  _item("3", "nl", "pdf", 0.0, "refused: low evidence"), _item("4", "nl", "pdf", 1.0, None)], 0.6)
    after = _run("b", "hybrid", [_item("1", "nl", "pdf", 1.0, None), _item("2", "nl", "pdf", 1.0, "answered but should refuse"),
                                 _item("3", "nl", "pdf", 0.0, None), _item("4", "nl", "pdf", 1.0, None)], 0.7)
    better, worse = item_changes(before, after)
    assert [n["id"] for _, n in better] == ["1", "3"] and [n["id"] for _, n in worse] == ["2"]
    text = compare_runs(before, after)
    assert "4 items in both, 2 better, 1 worse" in text and "nDCG@10: 0.600 → 0.700 (+0.100)" in text
    a, b = (write_run(r, tmp_path) for r in (before, after))
    assert main(["eval", "compare", str(a), str(b)]) == 0
    assert "passed (nDCG 1.000) → answered but should refuse" in capsys.readouterr().out


def test_a_file_that_is_not_a_run_is_a_clear_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "run.json").write_text('{"name": "x"}', encoding="utf-8")
    assert main(["eval", "compare", str(tmp_path), str(tmp_path)]) == 2
    assert "not a stored run" in capsys.readouterr().err
    assert load_run(write_run(_run("ok", "bm25", [], 0.0), tmp_path))["name"] == "ok"
