"""`vraagbaak gaps`: the content-gap dashboard: cluster questions into topics, re-check them."""

from __future__ import annotations

import argparse

NAME = "gaps"


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(NAME, help="the content-gap dashboard: cluster questions into topics, re-check them")
    parser.add_subparsers(dest="action", required=True)


def run(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    raise NotImplementedError(args.action)
