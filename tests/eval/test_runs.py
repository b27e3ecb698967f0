"""Evaluation runs on a tiny corpus and answer set the test writes: real ingestion, real embedding
model, embedded Qdrant, the real assistant and the LlamaIndex-default baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.embedding import Embedder
from core.errors import VraagbaakError
from core.settings import Settings
from eval.runs import NOT_RETRIEVED, load_run, parse_config, run

DOCS = {
    "beleid/verlof.md": "# Verlofregeling\n\nEen voltijder heeft recht op 25 vakantiedagen per kalenderjaar. "
                        "Vakantiedagen vraag je aan in MijnHR bij je leidinggevende.\n",
    "beleid/fiets.md": "# Fietsregeling\n\nMedewerkers kunnen via de fietsregeling een fiets leasen. "
                       "De fiets wordt geleverd door een erkende dealer en is verzekerd tegen diefstal.\n",
    "it/wachtwoord.md": "# Wachtwoordbeleid\n\nEen wachtwoord heeft minstens 14 tekens. "
                        "Je wijzigt je wachtwoord via het selfservice-portaal.\n",
}
ITEMS = [
    {"id": "a1", "question": "Hoeveel vakantiedagen heeft een voltijder?", "language": "nl", "answerable": True,
     "expected_documents": ["beleid/verlof.md"], "answer_keywords": ["25"]},
    {"id": "a2", "question": "Hoeveel tekens moet een wachtwoord hebben?", "language": "nl", "answerable": True,
     "expected_documents": ["it/wachtwoord.md"], "answer_keywords": ["14"]},
    {"id": "a3", "question": "Kan ik een fiets leasen?", "language": "nl", "answerable": True,
     "expected_documents": ["beleid/verlof.md"]},  # deliberately wrong gold document
    {"id": "u1", "question": "Hoeveel vakantiedagen heeft een voltijder?", "language": "nl", "answerable": False},
]


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    corpus = tmp_path / "corpus"
    for name, text in DOCS.items():
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text(text, encoding="utf-8")
    dataset = tmp_path / "tiny-qa.jsonl"
    dataset.write_text("".join(json.dumps(i) + "\n" for i in ITEMS), encoding="utf-8")
    return dataset, corpus


def test_config_specs_are_parsed_and_checked() -> None:
    config = parse_config("bm25-k5=retriever=bm25,k=5,generator=none")
    assert (config.name, config.retriever, config.k, config.generator) == ("bm25-k5", "bm25", 5, "none")
    assert parse_config("li=retriever=llamaindex").generator == "none"  # the baseline only retrieves
    for bad, why in (("x=retriever=magic", "retriever must be"), ("x=k=0", "k must be"),
                     ("x=reranker=bge", "no reranker"), ("x=colour=red", "unknown setting"), ("=k=3", "name")):
        with pytest.raises(VraagbaakError, match=why):
            parse_config(bad)


def test_a_run_stores_config_version_hash_and_why_items_failed(tiny: tuple[Path, Path], settings: Settings,
                                                               embedder: Embedder, tmp_path: Path) -> None:
    dataset, corpus = tiny
    folders = run(dataset, [parse_config("hybrid=retriever=hybrid,k=1,generator=extractive"),
                            parse_config("li=retriever=llamaindex,k=1")],
                  embedder, settings, corpus=corpus, out=tmp_path / "runs")
    assert [f.name.split("-", 2)[-1] for f in folders] == ["hybrid", "li"]
    ours, baseline = load_run(folders[0]), load_run(folders[1])
    assert ours["config"]["retriever"] == "hybrid" and ours["config"]["k"] == 1
    assert set(ours["code_version"]) == {"commit", "dirty"}
    assert len(ours["dataset"]["hash"]) == 12 and ours["dataset"]["items"] == 4
    items = {i["id"]: i for i in ours["items"]}
    assert items["a1"]["hit_at_k"] is True and items["a1"]["ranked_documents"][0] == "beleid/verlof.md"
    assert items["a3"]["failures"][0] == NOT_RETRIEVED            # the fiets document ranks first
    assert "answered but should refuse" in items["u1"]["failures"]  # same question, marked unanswerable
    assert items["a1"]["answered"] is True and items["a1"]["keyword_hit"] is True
    assert items["a1"]["retrieved"][0]["text"].startswith("Een voltijder")
    metrics = ours["metrics"]
    assert metrics["refusal_rate"] == 0.0 and metrics["hit_at_k"] == pytest.approx(2 / 3, abs=1e-3)
    assert metrics["failed_items"] == sum(bool(i["failure"]) for i in ours["items"])
    # the baseline retrieves only, through LlamaIndex's default index over the same files
    assert baseline["config"]["generator"] == "none" and baseline["baseline"]["nodes"] == 3
    assert all(i["answered"] is None for i in baseline["items"])
    assert {i["id"]: i["ranked_documents"][0] for i in baseline["items"] if i["answerable"]}["a2"] == "it/wachtwoord.md"


def test_an_invalid_dataset_is_refused_before_anything_runs(tiny: tuple[Path, Path], settings: Settings,
                                                            embedder: Embedder, tmp_path: Path) -> None:
    dataset, corpus = tiny
    dataset.write_text(json.dumps({**ITEMS[0], "expected_documents": ["geen/document.pdf"]}) + "\n", encoding="utf-8")
    with pytest.raises(VraagbaakError, match="(?s)1 problem.*geen/document.pdf"):
        run(dataset, [parse_config("h")], embedder, settings, corpus=corpus, out=tmp_path / "runs")
    assert not (tmp_path / "runs").exists() and not (settings.data_dir / "eval-index").exists()


def test_a_beir_subset_keeps_judged_documents_and_distractors(tmp_path: Path) -> None:
    from eval.beir import load_beir
    from eval.runs import subset_beir

    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{n:02d}", "text": f"doc {n}"}) + "\n"
                                                 for n in range(30)), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{n}", "text": f"q {n}"}) + "\n"
                                                  for n in range(5)), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("".join(f"q{n}\td{29 - n:02d}\t1\n" for n in range(5)), encoding="utf-8")
    small = subset_beir(load_beir(folder), 2)
    assert sorted(small.queries) == ["q0", "q1"] and set(small.qrels) == {"q0", "q1"}
    assert {"d29", "d28"} <= set(small.corpus) and len(small.corpus) == 2 + 8
    assert small.name == "beir-subset2" and small.fingerprint != load_beir(folder).fingerprint
