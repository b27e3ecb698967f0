"""`vraagbaak gaps`: the content-gap dashboard: cluster questions into topics, re-check them."""

from __future__ import annotations

import argparse
import json

NAME = "gaps"


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(NAME, help="the content-gap dashboard: cluster questions into topics, re-check them")
    actions = parser.add_subparsers(dest="action", required=True)
    cluster = actions.add_parser("cluster", help="group the questions without a good answer into topics (keeps "
                                                 "owners and statuses of topics that continue)")
    cluster.add_argument("--json", action="store_true", help="print the report as JSON")
    recheck = actions.add_parser("recheck", help="ask the questions of every topic not resolved again (records "
                                                 "nothing) and store which are answered now")
    recheck.add_argument("--json", action="store_true", help="print the report as JSON")
    listing = actions.add_parser("list", help="the stored topics, largest first")
    listing.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    from assistant import gap_report
    from core.db import Database

    database = Database.open(settings.database_url)
    try:
        if args.action == "list":
            views = gap_report.topics(database, settings.gaps)
            rows = [{"topic_id": v.topic_id, "label": v.label, "volume": v.volume, "status": v.status,
                     "owner": v.owner, "languages": v.languages, "trend": list(v.trend),
                     "now_answered": (v.recheck or {}).get("answered"), "rechecked": (v.recheck or {}).get("total")}
                    for v in views]
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
            for row in rows if not args.json else []:
                answered = f"  now answered {row['now_answered']}/{row['rechecked']}" if row["rechecked"] else ""
                print(f"{row['volume']:>5}  {row['status']:<11}  {row['label']}{answered}")
            return 0
        return _work(args, settings, database)
    finally:
        database.close()


def _work(args: argparse.Namespace, settings, database) -> int:  # type: ignore[no-untyped-def]
    from assistant.gaps import GapTopics
    from assistant.service import Assistant
    from core.embedding import load_embedder
    from core.store import QdrantStore

    embedder = load_embedder(settings.embedding, settings.models_dir)
    store = QdrantStore.open(settings) if args.action == "recheck" else None
    try:
        assistant = None
        if store is not None:
            store.ensure_collection(embedder.dim)
            assistant = Assistant.build(settings, store, embedder, answer_log=None)
        service = GapTopics(database, embedder, settings.gaps, assistant)
        report = service.recluster() if args.action == "cluster" else service.recheck()
    finally:
        if store is not None:
            store.close()
    if args.json:
        print(json.dumps(report.__dict__, indent=2))
    elif args.action == "cluster":
        print(f"{report.questions} questions → {report.topics} topics ({report.new} new, {report.kept} continued, "
              f"{report.removed} removed); {report.asked_topics} most-asked topics; {report.seconds} s")
    else:
        print(f"{report.questions} questions of {report.topics} topics asked again: {report.answered} answered now; "
              f"{report.seconds} s")
    return 0
