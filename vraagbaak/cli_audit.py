"""`vraagbaak audit`: the compliance audit log: verify the hash chain, export, apply retention."""

from __future__ import annotations

import argparse

NAME = "audit"


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(NAME, help="the compliance audit log: verify the hash chain, export, apply retention")
    parser.add_subparsers(dest="action", required=True)


def run(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    raise NotImplementedError(args.action)
