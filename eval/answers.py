"""Answer evaluation on an answer set (JSONL): does the assistant answer what it should, refuse what
it should, cite the right documents, and quote the expected facts?"""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from assistant.service import Assistant
from assistant.verify import checked_score
from core.db import Database
from core.embedding import Embedder
from core.errors import ErrorCode, VraagbaakError
from core.lexical import terms
from core.settings import Settings
from core.store import QdrantStore
from core.types import IngestReport
from ingest.pipeline import Ingestor
from ingest.registry import Registry


@dataclass(frozen=True)
class AnswerItem:
    id: str
    question: str
    language: str
    answerable: bool
    expected_documents: tuple[str, ...]
    answer_keywords: tuple[str, ...] = ()
    answer_span: str | None = None
    """The annotated answer span (nl-policyqa), checked against the answer: `span_hit`, `span_recall`."""


@dataclass
class ItemResult:
    id: str
    question: str
    answerable: bool
    answered: bool
    confidence: float
    cited: list[str]
    citation_precision: float | None
    keyword_hit: bool | None
    ms: float
    answer: str
    failure: str | None = None
    support_rate: float | None = None
    """Share of the generated sentences their citations support (None: nothing was verified)."""
    refusal_reason: str | None = None
    span_hit: bool | None = None
    """The annotated answer span is in the answer (whitespace and case normalised); None: no span or not answered."""
    span_recall: float | None = None
    """Share of the span's content terms (stemmed) found in the answer."""
    generator: str = ""
    """The generator that gave the answer (`extractive`, `llm`; an LLM that failed leaves `extractive`)."""
    llm_check: float | None = None
    """The LLM answer check's probability of YES (None: no check, or no judgement)."""
    citation_precision_span: float | None = None
    """Sets with an annotated span: share of the citations from a judged document or from a passage that
    holds the span itself (a near-duplicate entry that states the answer answers the question too)."""


@dataclass
class AnswerEvaluation:
    dataset: str
    items: int
    answer_rate: float
    refusal_rate: float
    citation_precision: float
    keyword_hit_rate: float
    ms_per_answer_p50: float
    ms_per_answer_p95: float
    per_item: list[ItemResult] = field(default_factory=list)
    support_rate: float | None = None
    """Mean share of supported sentences over the answers that were verified (None: none were)."""
    span_hit_rate: float | None = None
    """Answered questions with an annotated span whose span is in the answer (None: the set has no spans)."""
    span_recall: float | None = None
    """Mean share of the span's content terms in the answer, over the same questions."""
    llm_check_weight: float | None = None
    """The LLM answer check's weight when the run had one (its trade-off curve is over the check's bar)."""
    citation_precision_span: float | None = None
    """Sets with annotated spans: citation precision that also counts a cited passage holding the span
    (`ItemResult.citation_precision_span`); `citation_precision` counts judged documents only."""


def load_answer_set(path: Path) -> list[AnswerItem]:
    """Read and check an answer set; every problem is reported with its line."""
    if not path.is_file():
        raise VraagbaakError(ErrorCode.DATASET_INVALID, f"no such answer set: {path}")
    items, problems = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            item = AnswerItem(id=str(row["id"]), question=str(row["question"]), language=str(row.get("language", "")),
                              answerable=bool(row["answerable"]),
                              expected_documents=tuple(row.get("expected_documents") or ()),
                              answer_keywords=tuple(row.get("answer_keywords") or ()))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            problems.append(f"line {number}: {type(exc).__name__}: {exc}")
            continue
        if item.answerable and not item.expected_documents:
            problems.append(f"line {number}: answerable item {item.id} names no expected document")
        items.append(item)
    if problems:
        raise VraagbaakError(ErrorCode.DATASET_INVALID, "invalid answer set: " + "; ".join(problems[:10]))
    return items


_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def load_ragas_set(folder: Path, corpus: Path) -> list[AnswerItem]:
    """Questions from RAGAS result files (`*.tsv`: folder, question, ground_truths, ...), as in
    dutch-gov-pdfs' `archive/evaluate`. Each row's `folder` names the corpus sub-folder whose
    documents answer it; a question asked several times is kept once. Every question is answerable;
    the numbers in the ground truth are its answer keywords."""
    files = sorted(folder.glob("*.tsv")) if folder.is_dir() else [folder]
    if not files or not all(f.is_file() for f in files):
        raise VraagbaakError(ErrorCode.DATASET_INVALID, f"no RAGAS result files (*.tsv) in {folder}")
    csv.field_size_limit(1 << 26)
    items: dict[str, AnswerItem] = {}
    problems = []
    for path in files:
        with path.open(encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle, delimiter="\t"), start=2):
                question, sub = _unmangle(row.get("question") or "").strip(), (row.get("folder") or "").strip()
                documents = sorted(p.relative_to(corpus).as_posix() for p in (corpus / sub).rglob("*")
                                   if p.is_file()) if sub and (corpus / sub).is_dir() else []
                if not question or not documents:
                    problems.append(f"{path.name} row {number}: no question or no documents under {corpus / sub}")
                    continue
                if question.lower() in items:
                    continue
                truth = _unmangle(row.get("ground_truths") or "")
                items[question.lower()] = AnswerItem(
                    id=f"{sub}-{len(items) + 1:03d}", question=question, language="nl", answerable=True,
                    expected_documents=tuple(documents), answer_keywords=tuple(dict.fromkeys(_NUMBER.findall(truth))))
    if problems:
        raise VraagbaakError(ErrorCode.DATASET_INVALID, "invalid RAGAS set: " + "; ".join(problems[:10]))
    return list(items.values())


def load_beir_answer_set(folder: Path, max_items: int | None = None) -> list[AnswerItem]:
    """A BEIR folder whose queries carry an `answer` (the annotated answer span), as in nl-policyqa:
    every judged query is answerable, its judged documents (corpus ids) are the expected documents.
    Queries in id order; `max_items` keeps the first N."""
    from eval.beir import load_beir

    dataset = load_beir(folder)
    spans = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                spans[str(row["_id"])] = str(row.get("answer") or "").strip() or None
    if not any(spans.get(q) for q in dataset.queries):
        raise VraagbaakError(ErrorCode.DATASET_INVALID, f"{folder}: no query has an `answer` span")
    ids = sorted(dataset.queries)[:max_items] if max_items else sorted(dataset.queries)
    return [AnswerItem(id=q, question=dataset.queries[q], language="", answerable=True,
                       expected_documents=tuple(d for d, score in dataset.qrels[q].items() if score > 0),
                       answer_span=spans.get(q)) for q in ids]


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def holds_span(passage: str, span: str) -> bool:
    """Does the passage state the annotated answer span itself (case and white space normalised)?"""
    return bool(span.strip()) and _normal(span) in _normal(passage)


def span_in_answer(span: str, answer: str, language: str) -> tuple[bool, float]:
    """Is the annotated span in the answer (case and white space normalised), and which share of
    its content terms (stemmed, stopwords removed) does the answer hold?"""
    norm_span, norm_answer = _normal(span), _normal(answer)
    wanted = set(terms(span, language or "nl"))
    found = wanted & set(terms(answer, language or "nl"))
    return norm_span in norm_answer, round(len(found) / len(wanted), 4) if wanted else float(norm_span in norm_answer)


def as_unanswerable(items: list[AnswerItem], every: int = 3) -> list[AnswerItem]:
    """Every `every`-th question of another set, to be asked of a corpus that cannot answer them
    (the demo set's questions about a fictitious company, asked of the Dutch government PDFs):
    the unanswerable half of a check on a set that has only answerable questions."""
    return [AnswerItem(id=f"other-{item.id}", question=item.question, language=item.language, answerable=False,
                       expected_documents=()) for item in items[::every]]


def _unmangle(text: str) -> str:
    """Undo UTF-8 read as cp1252 ("BelgiÃ«" → "België"), which these files contain."""
    try:
        return text.encode("cp1252").decode("utf-8")
    except UnicodeError:
        return text


def evaluate_answers(assistant: Assistant, items: list[AnswerItem], name: str) -> AnswerEvaluation:
    results = []
    for item in items:
        started = time.perf_counter()
        answer = assistant.ask(item.question, groups=None)
        ms = (time.perf_counter() - started) * 1000
        cited = [c.uri for c in answer.citations]
        precision = keyword = None
        failure = None
        span_hit = span_recall = span_precision = None
        if item.answerable and answer.answered and item.answer_span:
            span_hit, span_recall = span_in_answer(item.answer_span, answer.text, answer.language)
            span_precision = sum(c.uri in item.expected_documents or holds_span(c.passage, item.answer_span)
                                 for c in answer.citations) / len(cited)
        if item.answerable and answer.answered:
            precision = sum(uri in item.expected_documents for uri in cited) / len(cited)
            text = answer.text.lower()
            keyword = any(k.lower() in text for k in item.answer_keywords) if item.answer_keywords else None
            if precision < 1:
                failure = "cited a document that does not answer the question"
            elif keyword is False:
                failure = "answer lacks the expected facts"
        elif item.answerable:
            failure = f"refused ({answer.refusal_reason})"
        elif answer.answered:
            failure = "answered an unanswerable question"
        results.append(ItemResult(item.id, item.question, item.answerable, answer.answered, answer.confidence,
                                  cited, precision, keyword, round(ms, 1), answer.text, failure,
                                  answer.support_rate, answer.refusal_reason, span_hit, span_recall,
                                  answer.generator, answer.llm_check, span_precision))
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    check = getattr(assistant.generator, "check", None)
    precisions = [r.citation_precision for r in results if r.citation_precision is not None]
    keywords = [r.keyword_hit for r in results if r.keyword_hit is not None]
    times = sorted(r.ms for r in results)
    supports = [r.support_rate for r in results if r.support_rate is not None]
    span_hits = [r.span_hit for r in results if r.span_hit is not None]
    span_recalls = [r.span_recall for r in results if r.span_recall is not None]
    span_precisions = [r.citation_precision_span for r in results if r.citation_precision_span is not None]
    return AnswerEvaluation(
        dataset=name, items=len(results),
        answer_rate=round(sum(r.answered for r in answerable) / max(len(answerable), 1), 4),
        refusal_rate=round(sum(not r.answered for r in unanswerable) / max(len(unanswerable), 1), 4),
        citation_precision=round(statistics.fmean(precisions), 4) if precisions else 0.0,
        keyword_hit_rate=round(sum(keywords) / len(keywords), 4) if keywords else 0.0,
        ms_per_answer_p50=round(times[len(times) // 2], 1) if times else 0.0,
        ms_per_answer_p95=round(times[int(len(times) * 0.95)], 1) if times else 0.0,
        per_item=results,
        support_rate=round(statistics.fmean(supports), 4) if supports else None,
        span_hit_rate=round(sum(span_hits) / len(span_hits), 4) if span_hits else None,
        span_recall=round(statistics.fmean(span_recalls), 4) if span_recalls else None,
        llm_check_weight=check.weight if check is not None else None,
        citation_precision_span=round(statistics.fmean(span_precisions), 4) if span_precisions else None,
    )


def run_answer_eval(dataset: Path, corpus: Path, embedder: Embedder, settings: Settings,
                    max_items: int | None = None, unanswerable_from: Path | None = None) -> AnswerEvaluation:
    """Ingest the corpus into a private store under the data folder (kept between runs: a re-run
    only re-checks the files) and evaluate the configured assistant on the answer set. A BEIR
    folder with answer spans (nl-policyqa) brings its own corpus and uses the retrieval index of
    `eval retrieval` (`corpus` is ignored); `max_items` keeps the first N questions (by id);
    `unanswerable_from` adds every third question of another answer set as unanswerable
    (`as_unanswerable`: a set with answerable questions only gets its other half)."""
    others = as_unanswerable(load_answer_set(unanswerable_from)) if unanswerable_from is not None else []
    if dataset.is_dir() and (dataset / "corpus.jsonl").is_file():
        from eval.beir import load_beir
        from eval.retrieval import open_index

        items = load_beir_answer_set(dataset, max_items) + others
        store = open_index(load_beir(dataset), embedder, settings)[0]
        try:
            return evaluate_answers(Assistant.build(settings, store, embedder), items, dataset.name)
        finally:
            store.close()
    ragas = dataset.is_dir() or dataset.suffix == ".tsv"
    items = (load_ragas_set(dataset, corpus) if ragas else load_answer_set(dataset))[:max_items] + others
    name = corpus.parent.name if ragas else dataset.stem
    store = open_corpus_index(corpus, name, embedder, settings)[0]
    try:
        return evaluate_answers(Assistant.build(settings, store, embedder), items, name)
    finally:
        store.close()


def open_corpus_index(corpus: Path, name: str, embedder: Embedder, settings: Settings) -> tuple[QdrantStore, IngestReport]:
    """The eval index of a folder corpus, `<data>/eval-index/answers-<name>`, brought up to date: its own
    registry is kept beside it, so a second run re-checks the files instead of re-indexing them."""
    path = settings.data_dir / "eval-index" / f"answers-{name}"
    store = QdrantStore.open(settings.model_copy(update={"store": settings.store.model_copy(
        update={"path": path, "url": None, "collection": "eval"})}))
    registry = Registry(Database.open(f"sqlite:///{path.with_name(path.name + '-registry.db').resolve()}"))
    try:
        report = Ingestor(store, embedder, settings.ingest, registry).ingest_folder(corpus, "eval")
    except BaseException:
        store.close()
        raise
    return store, report


def tradeoff_curve(per_item: list[ItemResult], thresholds: tuple[float, ...] = (0.35, 0.4, 0.43, 0.46, 0.49, 0.52, 0.55, 0.6)
                   ) -> list[tuple[float, float, float]]:
    """(threshold, answer rate on answerable, refusal rate on unanswerable) for other values of
    `min_relevance`: an extractive answer is given exactly when its confidence reaches it (a run
    without the LLM answer check; with one, see `check_curve`)."""
    return _curve(per_item, thresholds, lambda r: r.confidence)


def check_curve(per_item: list[ItemResult], weight: float,
                bars: tuple[float, ...] = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85)) -> list[tuple[float, float, float]]:
    """The same over `llm_check_bar` for a run with the LLM answer check: an answer the LLM judged is given
    when its confidence + weight · log-odds(P(YES)) reaches the bar (assistant/verify.py
    `LLMAnswerCheck.stands`); one it did not judge keeps the run's decision."""
    def score(r: ItemResult) -> float:
        if r.llm_check is None:
            return math.inf if r.answered else -math.inf
        return checked_score(r.confidence, r.llm_check, weight)

    return _curve(per_item, bars, score)


def _curve(per_item: list[ItemResult], thresholds: tuple[float, ...], score: Callable[[ItemResult], float]
           ) -> list[tuple[float, float, float]]:
    answerable = [score(r) for r in per_item if r.answerable]
    unanswerable = [score(r) for r in per_item if not r.answerable]
    return [(t, round(sum(s >= t for s in answerable) / max(len(answerable), 1), 3),
             round(sum(s < t for s in unanswerable) / max(len(unanswerable), 1), 3)) for t in thresholds]


def write_answer_results(result: AnswerEvaluation, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"answers-{result.dataset}.json", out / f"answers-{result.dataset}.md"
    json_path.write_text(json.dumps(asdict(result), indent=2, ensure_ascii=False), encoding="utf-8")
    lines = [f"**{result.dataset}** — {result.items} questions", "",
             "| answer rate (answerable) | refusal rate (unanswerable) | citation precision | support rate | "
             "fact in answer | p50 ms | p95 ms |",
             "|---|---|---|---|---|---|---|",
             f"| {result.answer_rate:.3f} | {result.refusal_rate:.3f} | {result.citation_precision:.3f} | "
             f"{'—' if result.support_rate is None else f'{result.support_rate:.3f}'} | "
             f"{result.keyword_hit_rate:.3f} | {result.ms_per_answer_p50:.0f} | {result.ms_per_answer_p95:.0f} |", ""]
    if result.span_hit_rate is not None:
        lines += [f"Annotated answer span in the answer: {result.span_hit_rate:.3f} of the answered questions; "
                  f"share of the span's content terms in the answer: {result.span_recall:.3f}. Citation precision "
                  f"counting a cited passage that states the span as answering too: "
                  f"{result.citation_precision_span:.3f} (the table's counts judged documents only).", ""]
    extractive = sum(r.generator == "extractive" for r in result.per_item)
    if extractive * 2 > len(result.per_item) and result.llm_check_weight is not None:
        lines += [f"Trade-off over the LLM answer check's bar (answered when confidence + {result.llm_check_weight:g} × "
                  "log-odds of the LLM's P(YES) reaches it):", "", "| bar | answer rate | refusal rate |", "|---|---|---|"]
        lines += [f"| {t:.2f} | {a:.3f} | {r:.3f} |" for t, a, r in check_curve(result.per_item, result.llm_check_weight)]
        lines += [""]
    elif extractive * 2 > len(result.per_item):  # an LLM's answers have no confidence to move a threshold over
        lines += ["Trade-off (extractive: answered when confidence ≥ threshold):", "",
                  "| threshold | answer rate | refusal rate |", "|---|---|---|"]
        lines += [f"| {t:.2f} | {a:.3f} | {r:.3f} |" for t, a, r in tradeoff_curve(result.per_item)] + [""]
    failures = [r for r in result.per_item if r.failure]
    if failures:
        lines += ["Failures:", ""] + [f"- `{r.id}` {r.question} — {r.failure}" for r in failures]
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return json_path, md_path
