"""`vraagbaak privacy`: erase one user's data (GDPR art. 17) or one document with a report of what
was removed where; allow an erased document back; apply retention to answer records, feedback,
sessions, tokens and derived data."""

from __future__ import annotations

import argparse
import json

NAME = "privacy"


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(NAME, help="erase a user's data (with a report); retention of personal data")
    actions = parser.add_subparsers(dest="action", required=True)
    erase = actions.add_parser("erase-user", help="erase a user's questions, answers, feedback, sessions, tokens and "
                                                  "mentions in content-gap topics; the audit chain stays verifiable")
    erase.add_argument("username")
    erase.add_argument("--delete-account", action="store_true", help="also delete the account itself")
    erase.add_argument("--dry-run", action="store_true", help="only report what would be removed")
    erase.add_argument("--json", action="store_true", help="print the report as JSON")
    document = actions.add_parser("erase-document", help="erase a document from the store, the registry, content-gap "
                                                         "topics and caches; a tombstone keeps it out of later runs")
    document.add_argument("doc_id", help="the document's id (vraagbaak documents --json, or the admin pages)")
    document.add_argument("--json", action="store_true", help="print the report as JSON")
    allow = actions.add_parser("allow-document", help="let an erased document be indexed again by its source's next run")
    allow.add_argument("doc_id")
    retention = actions.add_parser("retention", help="delete answer records older than audit.retention_days (with "
                                                     "their feedback and gap-topic mentions), expired sessions, "
                                                     "old revoked tokens and questions left waiting")
    retention.add_argument("--days", type=int, help="override VRAAGBAAK_AUDIT__RETENTION_DAYS for this run")
    retention.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    from core.db import Database
    from core.errors import ErrorCode, VraagbaakError

    database = Database.open(settings.database_url)
    try:
        if args.action == "erase-user":
            return _erase(args, settings, database)
        if args.action in ("erase-document", "allow-document"):
            return _document(args, settings, database)
        days = args.days if args.days is not None else settings.audit.retention_days
        if days is not None and days < 1:
            raise VraagbaakError(ErrorCode.BAD_REQUEST, "--days must be at least 1.")
        return _retention(database, days, args.json)
    finally:
        database.close()


def _erase(args: argparse.Namespace, settings, database) -> int:  # type: ignore[no-untyped-def]
    from assistant.privacy import erase_user
    from assistant.records import AnswerLog
    from core.accounts import Accounts
    from core.errors import ErrorCode, VraagbaakError

    user = Accounts(database).by_username(args.username)
    if user is None:
        raise VraagbaakError(ErrorCode.NOT_FOUND, f"No user named {args.username!r}.")
    report = erase_user(AnswerLog.build(settings, database), user.user_id, delete_account=args.delete_account,
                        dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return 0
    verb = "would be removed" if report.dry_run else "removed"
    print(f"{'dry run: ' if report.dry_run else ''}erasure {report.erasure_id} of user {report.username} "
          f"(pseudonym {report.pseudonym}):")
    for where, count in report.removed.items():
        print(f"  {where:<20} {count:>6}")
    print(f"{report.erased_fields} text field(s) {verb} from {report.removed['answer_records']} answer record(s); "
          f"{report.already_erased} erased before")
    for note in report.notes:
        print(f"note: {note}")
    return 0


def _document(args: argparse.Namespace, settings, database) -> int:  # type: ignore[no-untyped-def]
    """Needs the store: with the embedded default, stop the app first (the folder is single-process)."""
    from core.embedding import load_embedder
    from core.store import QdrantStore
    from ingest.erasure import allow_document, erase_document
    from ingest.pipeline import Ingestor
    from ingest.registry import Registry

    store = QdrantStore.open(settings)
    try:
        ingestor = Ingestor(store, load_embedder(settings.embedding, settings.models_dir), settings.ingest,
                            Registry(database))
        if args.action == "allow-document":
            source_id = allow_document(ingestor, args.doc_id)
            print(f"document {args.doc_id} allowed again: the next run of source {source_id} indexes it "
                  "if the file is still there")
            return 0
        report = erase_document(ingestor, database, args.doc_id)
    finally:
        store.close()
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return 0
    print(f"erased document {report.doc_id} ({report.source_id}: {report.uri}): {report.store_chunks} chunk(s) "
          f"from the store, {report.registry_rows} registry row(s), {report.lessons} lesson(s), "
          f"{report.gap_entries} mention(s) in {report.gap_topics} content-gap topic(s); "
          f"{report.answer_records_kept} answer record(s) citing it kept as the audit log")
    if report.blocked:
        print(f"a tombstone keeps it out of later runs; `vraagbaak privacy allow-document {report.doc_id}` lifts it")
    return 0


def _retention(database, days: int | None, as_json: bool) -> int:  # type: ignore[no-untyped-def]
    from assistant.privacy import apply_privacy_retention

    result = apply_privacy_retention(database, days)
    if as_json:
        print(json.dumps({"days": days, **result.as_dict()}))
        return 0
    kept = "answer records are kept (retention is off: set VRAAGBAAK_AUDIT__RETENTION_DAYS or pass --days)" \
        if days is None else f"{result.records.removed} answer record(s) older than {days} day(s) removed " \
                             f"with {result.records.feedback_removed} feedback row(s)"
    print(f"{kept}; removed {result.sessions} expired session(s), {result.api_tokens} old revoked or expired API "
          f"token(s), {result.pending_questions} question(s) left waiting and "
          f"{result.records.gap_references_removed + result.gap_references} gap-topic mention(s) of gone records")
    return 0
