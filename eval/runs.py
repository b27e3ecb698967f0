"""Evaluation runs: one dataset, one or more named configurations, each stored as
`eval/runs/<timestamp>-<name>/run.json` with its config, the code version, the dataset's hash, the
metrics and a result per item that says why the item failed.

A configuration is `NAME=key=value,key=value`: `retriever` (hybrid, dense, bm25, or llamaindex:
the library-default baseline of eval/baseline.py), `k` (passages handed to the generator, and the
cut-off of the per-item hit), `reranker` (none, cross-encoder: the model folder of
VRAAGBAAK_RETRIEVAL__RERANKER_MODEL, or llm: the LLM server), `rerank_n` (passages it reorders),
`dedupe` and `merge` (on/off: near-duplicate passages dropped, neighbouring chunks merged; unset:
the settings' defaults), `generator` (extractive, llm, or none: retrieval only) and `model` (the
LLM's model name).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from core.embedding import Embedder
from core.errors import ErrorCode, VraagbaakError
from core.language import detect_language
from core.settings import Settings
from core.store import QdrantStore
from eval.beir import BeirDataset, load_beir
from eval.metrics import mrr_at, ndcg_at, recall_at
from eval.validate import dataset_kind, require_valid, validate_answer_set

log = logging.getLogger(__name__)
RETRIEVERS = ("hybrid", "dense", "bm25", "llamaindex")
GENERATORS = ("extractive", "llm", "none")
RERANKERS = ("none", "cross-encoder", "llm")
SWITCHES = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}
KEYS = ("retriever", "k", "reranker", "rerank_n", "dedupe", "merge", "generator", "model")
REASONS = {"low_evidence": "refused: low evidence", "no_results": "refused: nothing retrieved",
           "unsupported": "refused: answer not supported by its sources", "model_declined": "refused: the model declined"}
NOT_RETRIEVED = "expected document not retrieved in top-k"
SHOWN_PASSAGES = 5


@dataclass(frozen=True)
class RunConfig:
    name: str
    retriever: str = "hybrid"
    k: int = 6
    reranker: str = "none"
    generator: str = "extractive"
    model: str | None = None
    dedupe: bool | None = None
    merge: bool | None = None
    rerank_n: int | None = None


def parse_config(spec: str) -> RunConfig:
    """`NAME` or `NAME=key=value,key=value` → a checked RunConfig."""
    name, _, rest = spec.partition("=")
    name = name.strip()
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"config {spec!r}: a name of letters, digits, - _ . comes first")
    values: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in KEYS:
            raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"config {name}: unknown setting {part!r} "
                                 f"({', '.join(KEYS)})")
        values[key] = value
    for key in ("k", "rerank_n"):
        if key in values:
            if not str(values[key]).isdigit() or not 1 <= int(str(values[key])) <= 100:
                raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"config {name}: {key} must be a whole number 1..100")
            values[key] = int(str(values[key]))
    for key in ("dedupe", "merge"):
        if key in values:
            if str(values[key]).lower() not in SWITCHES:
                raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"config {name}: {key} must be on or off")
            values[key] = SWITCHES[str(values[key]).lower()]
    config = RunConfig(name=name, **values)  # type: ignore[arg-type]
    if config.retriever not in RETRIEVERS:
        raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"config {name}: retriever must be one of {', '.join(RETRIEVERS)}")
    if config.generator not in GENERATORS:
        raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"config {name}: generator must be one of {', '.join(GENERATORS)}")
    if config.reranker not in RERANKERS:
        raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"config {name}: no reranker {config.reranker!r}; "
                             f"reranker must be one of {', '.join(RERANKERS)}")
    if config.retriever == "llamaindex" and config.generator != "none":
        config = replace(config, generator="none")  # the baseline is a retriever, not an assistant
    return config


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    language: str
    expected: dict[str, int]
    answerable: bool = True
    keywords: tuple[str, ...] = ()
    history: tuple[str, ...] = ()
    doc_type: str = ""
    category: str = ""


@dataclass
class EvalSet:
    name: str
    kind: str
    items: list[EvalItem]
    hash: str
    path: str
    corpus: Path | None = None
    beir: object | None = None


def subset_beir(dataset: BeirDataset, queries: int, distractors_per_query: int = 4) -> BeirDataset:
    """A fixed, smaller BEIR set (for corpora too large to index twice on a small machine): the
    first `queries` judged queries by id, their judged documents, and `distractors_per_query` × as
    many other documents (the first by id) so retrieval still has to choose."""
    kept = sorted(dataset.queries)[:queries]
    judged = {d for q in kept for d in dataset.qrels[q]}
    others = sorted(set(dataset.corpus) - judged)[:queries * distractors_per_query]
    corpus = {d: dataset.corpus[d] for d in sorted(judged | set(others))}
    fingerprint = hashlib.sha256(f"{dataset.fingerprint}:{queries}:{distractors_per_query}".encode()).hexdigest()[:12]
    return BeirDataset(f"{dataset.name}-subset{queries}", corpus, {q: dataset.queries[q] for q in kept},
                       {q: dataset.qrels[q] for q in kept}, fingerprint)


def load_set(path: Path, corpus: Path | None = None, qrels: Path | None = None,
             max_queries: int | None = None, subset: int | None = None) -> EvalSet:
    """Validate, then load a BEIR folder, an answer set (JSONL) or RAGAS files as evaluation items."""
    require_valid(path, corpus, qrels)
    kind = dataset_kind(path)
    if kind == "beir":
        dataset = load_beir(path, qrels)
        if subset:
            dataset = subset_beir(dataset, subset)
        ids = sorted(dataset.queries)[:max_queries] if max_queries else sorted(dataset.queries)
        items = [EvalItem(q, dataset.queries[q], detect_language(dataset.queries[q], "en"), dataset.qrels[q])
                 for q in ids]
        return EvalSet(dataset.name, kind, items, dataset.fingerprint, str(path), beir=dataset)
    if corpus is None:
        raise VraagbaakError(ErrorCode.DATASET_INVALID, f"{path}: an answer set needs --corpus (its documents)")
    if kind == "ragas":
        from eval.answers import load_ragas_set

        loaded = load_ragas_set(path, corpus)
        items = [EvalItem(i.id, i.question, i.language, dict.fromkeys(i.expected_documents, 1), True, i.answer_keywords,
                          doc_type=_doc_type(i.expected_documents)) for i in loaded]
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(path.glob("*.tsv")) or [path]))
        common = Path(os.path.commonpath([path.resolve(), corpus.resolve()]))
        name = common.name if common != Path(common.anchor) else corpus.name
        return EvalSet(name, kind, items[:max_queries] if max_queries else items, digest.hexdigest()[:12],
                       str(path), corpus)
    rows, _ = validate_answer_set(path, corpus)
    items = [EvalItem(r["id"], r["question"], r["language"], dict.fromkeys(r.get("expected_documents") or (), 1),
                      r["answerable"], tuple(r.get("answer_keywords") or ()), tuple(r.get("history") or ()),
                      _doc_type(r.get("expected_documents") or ()), r.get("category", "")) for r in rows]
    return EvalSet(path.stem, kind, items[:max_queries] if max_queries else items,
                   hashlib.sha256(path.read_bytes()).hexdigest()[:12], str(path), corpus)


def _doc_type(documents: Sequence[str]) -> str:
    return Path(documents[0]).suffix.lstrip(".").lower() or "other" if documents else "none"


def code_version(root: Path | None = None) -> dict[str, object]:
    """`git rev-parse HEAD` and whether the working tree has changes, or "unknown" outside git."""
    root = root or Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True,
                               timeout=30, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}
    return {"commit": commit, "dirty": dirty}


# -- one item ----------------------------------------------------------------------------------


@dataclass
class ItemResult:
    id: str
    question: str
    language: str
    doc_type: str
    category: str
    answerable: bool
    expected: list[str]
    retrieved: list[dict[str, object]] = field(default_factory=list)
    ranked_documents: list[str] = field(default_factory=list)
    ndcg_at_10: float | None = None
    recall_at_10: float | None = None
    mrr_at_10: float | None = None
    hit_at_5: bool | None = None
    hit_at_k: bool | None = None
    retrieve_ms: float = 0.0
    answered: bool | None = None
    refusal_reason: str | None = None
    confidence: float | None = None
    cited: list[str] = field(default_factory=list)
    citation_precision: float | None = None
    keyword_hit: bool | None = None
    answer: str = ""
    answer_ms: float | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def failure(self) -> str | None:
        return "; ".join(self.failures) or None


def score_retrieval(result: ItemResult, ranked: list[str], relevant: dict[str, int], k: int) -> None:
    """Fill the ranking metrics of an item from its documents in rank order."""
    result.ranked_documents = ranked[:max(10, k)]
    if not relevant:
        return
    result.ndcg_at_10 = round(ndcg_at(ranked, relevant, 10), 4)
    result.recall_at_10 = round(recall_at(ranked, relevant, 10), 4)
    result.mrr_at_10 = round(mrr_at(ranked, relevant, 10), 4)
    result.hit_at_5 = any(relevant.get(d, 0) > 0 for d in ranked[:5])
    result.hit_at_k = any(relevant.get(d, 0) > 0 for d in ranked[:k])
    if not result.hit_at_k:
        result.failures.append(NOT_RETRIEVED)


def score_answer(result: ItemResult, item: EvalItem, answer: object) -> None:
    """Fill the answer fields and say why the answer fails, if it does."""
    result.answered = bool(answer.answered)  # type: ignore[attr-defined]
    result.refusal_reason = answer.refusal_reason  # type: ignore[attr-defined]
    result.confidence = round(float(answer.confidence), 4)  # type: ignore[attr-defined]
    result.cited = [c.uri for c in answer.citations]  # type: ignore[attr-defined]
    result.answer = answer.text  # type: ignore[attr-defined]
    if item.answerable and result.answered:
        wrong = [uri for uri in result.cited if uri not in item.expected]
        result.citation_precision = round(1 - len(wrong) / len(result.cited), 4) if result.cited else 0.0
        if item.keywords:
            text = " ".join([result.answer, *(c.quote for c in answer.citations)]).lower()  # type: ignore[attr-defined]
            result.keyword_hit = any(" ".join(k.lower().split()) in " ".join(text.split()) for k in item.keywords)
        if wrong:
            result.failures.append(f"cited a wrong document: {', '.join(dict.fromkeys(wrong))}")
        if result.keyword_hit is False:
            result.failures.append("answer lacks the expected facts")
    elif item.answerable:
        result.failures.append(REASONS.get(result.refusal_reason or "", f"refused: {result.refusal_reason}"))
    elif result.answered:
        result.failures.append("answered but should refuse")


def _passage_view(doc: str, title: str, score: float, text: str, where: str = "") -> dict[str, object]:
    return {"doc": doc, "title": title, "score": round(score, 4), "where": where, "text": text[:700]}


# -- a whole run -------------------------------------------------------------------------------


def evaluate_items(items: Sequence[EvalItem], config: RunConfig, settings: Settings, embedder: Embedder, *,
                   store: QdrantStore | None = None, baseline: object | None = None,
                   key: str = "uri") -> list[ItemResult]:
    """Run every item through the configured retriever (and assistant, unless generator=none).
    `key` is how a passage names its document: `uri` (folder corpora) or `doc_id` (BEIR)."""
    from assistant.conversation import standalone_question
    from assistant.rerank import build_reranker
    from assistant.retrieve import Retriever
    from assistant.service import Assistant

    settings = configured(settings, config)
    questions = [standalone_question(i.question, i.history) for i in items]
    vectors = embedder.embed_queries(questions)
    retriever = (Retriever(store, embedder, settings.retrieval, build_reranker(settings.retrieval, settings.llm))
                 if store is not None else None)
    assistant = Assistant.build(settings, store, embedder) if store is not None and config.generator != "none" else None
    limit = max(10, config.k) * 3
    results = []
    for item, question, vector in zip(items, questions, vectors, strict=True):
        result = ItemResult(item.id, item.question, item.language, item.doc_type, item.category, item.answerable,
                            sorted(item.expected))
        started = time.perf_counter()
        if config.retriever == "llamaindex":
            hits = baseline.search(question, vector, limit)  # type: ignore[union-attr]
            ranked = list(dict.fromkeys(h.doc_id for h in hits))
            result.retrieved = [_passage_view(h.doc_id, "", h.score, h.text) for h in hits[:SHOWN_PASSAGES]]
        else:
            retrieval = retriever.retrieve_with_vector(  # type: ignore[union-attr]
                question, vector, language=item.language or detect_language(question, "nl"), groups=None,
                mode=config.retriever, limit=limit)  # type: ignore[arg-type]
            ranked = list(dict.fromkeys(getattr(h.passage, key) for h in retrieval.ranked))
            result.retrieved = [_passage_view(getattr(h.passage, key), h.passage.title, h.score, h.passage.text,
                                              h.passage.location) for h in retrieval.ranked[:SHOWN_PASSAGES]]
        result.retrieve_ms = round((time.perf_counter() - started) * 1000, 1)
        if item.answerable:
            score_retrieval(result, ranked, item.expected, config.k)
        if assistant is not None:
            started = time.perf_counter()
            try:
                answer = assistant.ask(item.question, groups=None, history=item.history)
            except VraagbaakError as exc:  # one bad item never ends the run
                result.failures.append(f"error: {exc.message}")
            else:
                score_answer(result, item, answer)
            result.answer_ms = round((time.perf_counter() - started) * 1000, 1)
        results.append(result)
    return results


def configured(settings: Settings, config: RunConfig) -> Settings:
    """The settings a configuration implies (retriever mode, k, generator, LLM model)."""
    shaping = {"reranker": config.reranker, **({"dedupe": config.dedupe} if config.dedupe is not None else {}),
               **({"merge_neighbours": config.merge} if config.merge is not None else {}),
               **({"rerank_top_n": config.rerank_n} if config.rerank_n is not None else {})}
    retrieval = settings.retrieval.model_copy(update={
        "top_k": config.k, **shaping,
        **({"mode": config.retriever} if config.retriever in ("hybrid", "dense", "bm25") else {})})
    answer = settings.answer.model_copy(update={"generator": "extractive" if config.generator == "none" else config.generator})
    llm = settings.llm.model_copy(update={"model": config.model}) if config.model else settings.llm
    if "llm" in (config.generator, config.reranker) and not llm.base_url:
        raise VraagbaakError(ErrorCode.CONFIG_INVALID,
                             f"config {config.name}: {'generator' if config.generator == 'llm' else 'reranker'}=llm "
                             "needs LLM_BASE_URL (an OpenAI-compatible server)")
    if config.reranker == "cross-encoder" and retrieval.reranker_model is None:
        raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"config {config.name}: reranker=cross-encoder needs "
                             "VRAAGBAAK_RETRIEVAL__RERANKER_MODEL (a local model folder)")
    return settings.model_copy(update={"retrieval": retrieval, "answer": answer, "llm": llm})


def _rate(values: Sequence[object]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.fmean(float(v) for v in values), 4) if values else None  # type: ignore[arg-type]


def _percentile(values: Sequence[float], q: float) -> float | None:
    values = sorted(values)
    return round(values[min(int(len(values) * q), len(values) - 1)], 1) if values else None


def summarise(results: Sequence[ItemResult]) -> dict[str, float | int | None]:
    """The run's metrics; rates are over the items they apply to (None: no such item)."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    asked = [r for r in results if r.answered is not None]
    return {
        "items": len(results),
        "ndcg_at_10": _rate([r.ndcg_at_10 for r in results]),
        "recall_at_10": _rate([r.recall_at_10 for r in results]),
        "mrr_at_10": _rate([r.mrr_at_10 for r in results]),
        "hit_at_5": _rate([r.hit_at_5 for r in results]),
        "hit_at_k": _rate([r.hit_at_k for r in results]),
        "answer_rate": _rate([r.answered for r in answerable if r.answered is not None]),
        "refusal_rate": _rate([not r.answered for r in unanswerable if r.answered is not None]) if asked else None,
        "citation_precision": _rate([r.citation_precision for r in results]),
        "keyword_hit_rate": _rate([r.keyword_hit for r in results]),
        "failed_items": sum(bool(r.failures) for r in results),
        "retrieve_ms_p50": _percentile([r.retrieve_ms for r in results], 0.5),
        "retrieve_ms_p95": _percentile([r.retrieve_ms for r in results], 0.95),
        "answer_ms_p50": _percentile([r.answer_ms for r in asked if r.answer_ms is not None], 0.5),
        "answer_ms_p95": _percentile([r.answer_ms for r in asked if r.answer_ms is not None], 0.95),
    }


def run(dataset: Path, configs: Sequence[RunConfig], embedder: Embedder, settings: Settings, *,
        corpus: Path | None = None, qrels: Path | None = None, max_queries: int | None = None,
        subset: int | None = None, out: Path = Path("eval/runs")) -> list[Path]:
    """Validate the dataset, index its corpus once, evaluate each configuration, store each run."""
    evalset = load_set(dataset, corpus, qrels, max_queries, subset)
    if evalset.kind == "beir":  # judged documents only, no answers to check: retrieval only
        configs = [replace(c, generator="none") for c in configs]
    store, baseline = None, None
    paths = []
    try:
        if any(c.retriever != "llamaindex" for c in configs):
            store = _product_index(evalset, embedder, settings)
        if any(c.retriever == "llamaindex" for c in configs):
            baseline = _baseline_index(evalset, embedder, settings)
        for config in configs:
            started = time.perf_counter()
            log.info("evaluating", extra={"ctx": {"config": config.name, "dataset": evalset.name,
                                                  "items": len(evalset.items)}})
            results = evaluate_items(evalset.items, config, settings, embedder, store=store, baseline=baseline,
                                     key="doc_id" if evalset.kind == "beir" else "uri")
            record = {
                "name": config.name, "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "config": asdict(config), "code_version": code_version(),
                "embedding_model": embedder.name,
                "dataset": {"name": evalset.name, "kind": evalset.kind, "path": evalset.path, "hash": evalset.hash,
                            "corpus": str(evalset.corpus) if evalset.corpus else None, "items": len(evalset.items),
                            "documents": len(evalset.beir.corpus) if evalset.beir else None,  # type: ignore[attr-defined]
                            "subset": _subset_note(max_queries, subset)},
                "seconds": round(time.perf_counter() - started, 1),
                "metrics": summarise(results),
                "items": [{**asdict(r), "failure": r.failure} for r in results],
            }
            if config.retriever == "llamaindex" and baseline is not None:
                record["baseline"] = {"nodes": baseline.nodes, "splitter": "SentenceSplitter(1024, 200)",
                                      "store": "SimpleVectorStore"}
            paths.append(write_run(record, out))
    finally:
        if store is not None:
            store.close()
    return paths


def _subset_note(max_queries: int | None, subset: int | None) -> str | None:
    notes = ([f"first {subset} judged queries by id, their judged documents and 4× as many other documents "
              "(first by id)"] if subset else []) + ([f"first {max_queries} items"] if max_queries else [])
    return "; ".join(notes) or None


def write_run(record: dict, out: Path) -> Path:
    """Store a run as `<out>/<timestamp>-<name>/run.json`; returns its folder."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = out / f"{stamp}-{record['name']}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = out / f"{stamp}-{record['name']}-{suffix}"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
    return folder


def load_run(path: Path) -> dict:
    """A stored run, from its folder or its run.json."""
    file = path / "run.json" if path.is_dir() else path
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise VraagbaakError(ErrorCode.NOT_FOUND, f"not a stored run: {path} ({exc})") from exc
    if not isinstance(record, dict) or not {"name", "metrics", "items"} <= record.keys():
        raise VraagbaakError(ErrorCode.DATASET_INVALID, f"not a stored run: {file} (name, metrics, items expected)")
    return record


def _product_index(evalset: EvalSet, embedder: Embedder, settings: Settings) -> QdrantStore:
    if evalset.kind == "beir":
        from eval.retrieval import open_index

        return open_index(evalset.beir, embedder, settings)[0]  # type: ignore[arg-type]
    from eval.answers import open_corpus_index

    store, report = open_corpus_index(evalset.corpus, evalset.name, embedder, settings)  # type: ignore[arg-type]
    if report.failed:
        log.warning("corpus files not indexed", extra={"ctx": {"failed": [f.uri for f in report.failed]}})
    return store


def _baseline_index(evalset: EvalSet, embedder: Embedder, settings: Settings) -> object:
    from eval.baseline import LlamaIndexBaseline, folder_items

    if evalset.kind == "beir":
        dataset = evalset.beir
        items = [(d, t, x) for d, (t, x) in dataset.corpus.items()]  # type: ignore[attr-defined]
        return LlamaIndexBaseline.open(items, evalset.hash, embedder, settings, evalset.name)
    items, fingerprint = folder_items(evalset.corpus)  # type: ignore[arg-type]
    return LlamaIndexBaseline.open(items, fingerprint, embedder, settings, evalset.name)
