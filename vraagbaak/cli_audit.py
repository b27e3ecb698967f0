"""`vraagbaak audit`: the compliance audit log: verify the hash chain, export, apply retention."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

NAME = "audit"


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(NAME, help="the compliance audit log: verify the hash chain, export, apply retention")
    actions = parser.add_subparsers(dest="action", required=True)
    verify = actions.add_parser("verify", help="recompute the hash chain of the answer records; exit 1 when broken")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument("--head", help="SEQ:HASH of a head noted earlier (printed by verify): it must still be "
                                       "there, which shows that no newest records were cut off")
    retention = actions.add_parser("retention", help="delete records older than audit.retention_days (keeps the "
                                                     "chain verifiable with a checkpoint)")
    retention.add_argument("--days", type=int, help="override VRAAGBAAK_AUDIT__RETENTION_DAYS for this run")
    retention.add_argument("--json", action="store_true")
    export = actions.add_parser("export", help="write the answer records as CSV or JSON (all documents' text: "
                                               "whoever runs this can read the database anyway)")
    export.add_argument("--format", choices=["csv", "json"], default="json")
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")
    for name in ("from", "to", "user", "document", "version", "verdict", "refused", "q", "thread"):
        export.add_argument(f"--{name}", default="", help=f"filter: {name} (as on the compliance page)")


def run(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    from core.db import Database
    from core.errors import ErrorCode, VraagbaakError

    database = Database.open(settings.database_url)
    try:
        if args.action == "verify":
            return _verify(database, args.json, _anchor(args.head))
        if args.action == "retention":
            days = args.days if args.days is not None else settings.audit.retention_days
            if days is not None and days < 1:
                raise VraagbaakError(ErrorCode.BAD_REQUEST, "--days must be at least 1.")
            return _retention(database, days, args.json)
        if args.action == "export":
            return _export(database, args)
        raise VraagbaakError(ErrorCode.BAD_REQUEST, f"unknown action {args.action}")
    finally:
        database.close()


def _anchor(given: str | None) -> tuple[int, str] | None:
    from core.errors import ErrorCode, VraagbaakError

    if not given:
        return None
    seq, _, digest = given.partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise VraagbaakError(ErrorCode.BAD_REQUEST, "--head must be SEQ:HASH, e.g. 42:<64 hexadecimal characters>.")
    return int(seq), digest


def _verify(database, as_json: bool, anchor: tuple[int, str] | None) -> int:  # type: ignore[no-untyped-def]
    from assistant.audit import verify_chain

    report = verify_chain(database, anchor)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.summary())
        for problem in report.problems[1:20]:
            print(f"  also at seq {problem.seq}: {problem.kind}: {problem.detail}")
    return 0 if report.ok else 1


def _retention(database, days: int | None, as_json: bool) -> int:  # type: ignore[no-untyped-def]
    from assistant.records import apply_retention, timestamp

    result = apply_retention(database, days)
    if as_json:
        print(json.dumps({"days": days, "removed": result.removed, "removed_total": result.removed_total,
                          "checkpoint_seq": result.checkpoint_seq, "feedback_removed": result.feedback_removed,
                          "cutoff": timestamp(result.cutoff) if result.cutoff else None}))
    elif days is None:
        print("retention is off (set VRAAGBAAK_AUDIT__RETENTION_DAYS or pass --days); nothing removed; "
              f"{result.removed_total} removed so far")
    else:
        print(f"removed {result.removed} record(s) older than {days} day(s) (and {result.feedback_removed} "
              f"feedback row(s)); {result.removed_total} removed so far; the chain now starts after seq "
              f"{result.checkpoint_seq}")
    return 0


def _export(database, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from assistant.audit import AuditFilter, AuditLog
    from assistant.audit_view import DocumentAccess, export_csv, export_json

    audit = AuditLog(database)
    access = DocumentAccess(database, None, None)
    flt = AuditFilter.parse({name: getattr(args, name) for name in AuditFilter.PARAMS}, audit.resolver(access))
    chunks = (export_csv if args.format == "csv" else export_json)(audit.iterate(flt), access)
    if args.out:
        with args.out.open("w", encoding="utf-8", newline="") as handle:
            for chunk in chunks:
                handle.write(chunk)
        print(f"written: {args.out}", file=sys.stderr)
    else:
        for chunk in chunks:
            sys.stdout.write(chunk)
    return 0
