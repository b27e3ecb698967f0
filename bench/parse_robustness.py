"""Robustness tally: every file under ROOT through the isolated parser, each ending in one outcome.

Usage: python bench/parse_robustness.py [ROOT] [--out FILE.json] [--workers 2] [--timeout-s 120] [--memory-mb 2048]
(ROOT defaults to ../shared/data/parsers). Expected outputs that sit beside their inputs (Markdown
under `groundtruth/` or `expected_outputs/`) are left out; every other file counts, Markdown inputs
included. Prints the outcome per file class (parsed with text / failed with reason / unsupported
type), tallies per outcome, reason and top folder, the slowest files and peak memory, and writes one
row per file to FILE.json and FILE.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.errors import ErrorCode  # noqa: E402
from core.settings import IngestSettings  # noqa: E402
from ingest.isolate import ParseOutcome, ParsePool  # noqa: E402

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "parsers"
EXPECTED_OUTPUT_FOLDERS = ("groundtruth", "expected_outputs")


def is_expected_output(path: Path) -> bool:
    """Markdown that a test suite expects a converter to produce, not an input."""
    return path.suffix.lower() == ".md" and path.parent.name in EXPECTED_OUTPUT_FOLDERS


def list_inputs(root: Path) -> tuple[list[Path], list[Path]]:
    """(inputs, expected outputs left out), both sorted."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return [p for p in files if not is_expected_output(p)], [p for p in files if is_expected_output(p)]


def outcome_class(outcome: ParseOutcome) -> str:
    if outcome.ok:
        return "parsed"
    assert outcome.error is not None
    return "unsupported" if outcome.error.code is ErrorCode.UNSUPPORTED_FILE else "failed"


def reason_category(message: str) -> str:
    """A reason without its file-specific details: `cannot parse pdf: PdfiumError`, `the file is empty`."""
    text = re.sub(r"\s*\(.*\)", "", message)  # details in brackets, nested ones too
    text = re.sub(r"'[^']*'", "'…'", text)
    text = ": ".join(text.split(": ")[:2])
    return re.sub(r"\d+(\.\d+)?", "N", text).strip()


def row(root: Path, outcome: ParseOutcome) -> dict[str, object]:
    relative = outcome.path.relative_to(root)
    document = outcome.document
    error = outcome.error
    return {
        "path": relative.as_posix(),
        "folder": relative.parts[0] if len(relative.parts) > 1 else ".",
        "suffix": outcome.path.suffix.lower() or "(none)",
        "outcome": outcome_class(outcome),
        "code": error.code.value if error else "",
        "reason": error.message if error else "",
        "category": reason_category(error.message) if error else "",
        "media_type": document.media_type if document else "",
        "parser": document.parser if document else "",
        "blocks": len(document.blocks) if document else 0,
        "chars": sum(len(b.text) for b in document.blocks) if document else 0,
        "seconds": round(outcome.seconds, 3),
        "peak_mb": outcome.peak_mb,
    }


def run(root: Path, workers: int, timeout_s: float, memory_mb: int) -> tuple[list[dict[str, object]], int, float, int]:
    inputs, left_out = list_inputs(root)
    started = time.perf_counter()
    rows = []
    with ParsePool(timeout_s=timeout_s, memory_mb=memory_mb, workers=workers) as pool:
        # a long queue, so that one slow file does not leave the other workers idle
        for done, outcome in enumerate(pool.imap(inputs, ahead=16 * workers), start=1):
            rows.append(row(root, outcome))
            if done % 50 == 0:
                print(f"  {done}/{len(inputs)} files, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        restarts = pool.restarts
    assert len(rows) == len(inputs), "every file ends in exactly one outcome"
    return rows, len(left_out), time.perf_counter() - started, restarts


def report(rows: list[dict[str, object]], left_out: int, seconds: float, restarts: int, slowest: int) -> None:
    outcomes = Counter(str(r["outcome"]) for r in rows)
    print(f"\n{len(rows)} files ({left_out} expected-output .md files left out) in {seconds:.1f} s, "
          f"{restarts} worker restarts")
    print("\nOutcome          files")
    for name in ("parsed", "failed", "unsupported"):
        print(f"  {name:<14} {outcomes[name]:>5}")

    print("\nFailed, by reason (code: category)")
    reasons = Counter(f"{r['code']}: {r['category']}" for r in rows if r["outcome"] == "failed")
    for reason, count in reasons.most_common():
        print(f"  {count:>4}  {reason}")

    print("\nUnsupported, by suffix")
    suffixes = Counter(str(r["suffix"]) for r in rows if r["outcome"] == "unsupported")
    print("  " + ", ".join(f"{s} {n}" for s, n in suffixes.most_common()))

    print("\nPer folder                        parsed  failed  unsupported")
    folders: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        folders[str(r["folder"])][str(r["outcome"])] += 1
    for folder, counts in sorted(folders.items()):
        print(f"  {folder:<32} {counts['parsed']:>6}  {counts['failed']:>6}  {counts['unsupported']:>11}")

    print("\nPer media type (supported files)   parsed  failed")
    types: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        if r["outcome"] != "unsupported":
            types[str(r["suffix"])][str(r["outcome"])] += 1
    for suffix, counts in sorted(types.items()):
        print(f"  {suffix:<32} {counts['parsed']:>6}  {counts['failed']:>6}")

    print(f"\nSlowest {slowest} files")
    for r in sorted(rows, key=lambda r: -float(r["seconds"]))[:slowest]:  # type: ignore[arg-type]
        detail = f"{r['chars']} chars" if r["outcome"] == "parsed" else str(r["reason"])[:70]
        print(f"  {float(r['seconds']):>7.2f} s  {r['path']}  [{r['outcome']}: {detail}]")  # type: ignore[arg-type]

    peaks = [r for r in rows if r["peak_mb"] is not None]
    print("\nPeak resident memory of a worker while parsing (MB, worker with its parsers loaded)")
    for r in sorted(peaks, key=lambda r: -float(r["peak_mb"]))[:5]:  # type: ignore[arg-type]
        print(f"  {float(r['peak_mb']):>7.0f} MB  {r['path']}  [{r['outcome']}]")  # type: ignore[arg-type]
    parsed_seconds = sorted(float(r["seconds"]) for r in rows if r["outcome"] == "parsed")  # type: ignore[arg-type]
    if parsed_seconds:
        print(f"\nParse time of parsed files: median {parsed_seconds[len(parsed_seconds) // 2]:.3f} s, "
              f"total {sum(parsed_seconds):.1f} s")


def write(rows: list[dict[str, object]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    with out.with_suffix(".csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    defaults = IngestSettings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", nargs="?", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--out", type=Path, default=Path("/tmp/parse_robustness.json"),
                        help="per-file results as JSON, and CSV beside it")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout-s", type=float, default=defaults.parse_timeout_s)
    parser.add_argument("--memory-mb", type=int, default=defaults.parse_memory_mb)
    parser.add_argument("--slowest", type=int, default=12)
    args = parser.parse_args()
    if not args.root.is_dir():
        sys.exit(f"no such folder: {args.root}")
    print(f"root {args.root}, workers {args.workers}, limits {args.timeout_s:g} s and {args.memory_mb} MB per file")
    rows, left_out, seconds, restarts = run(args.root.resolve(), args.workers, args.timeout_s, args.memory_mb)
    report(rows, left_out, seconds, restarts, args.slowest)
    write(rows, args.out)
    print(f"\nper-file results: {args.out} and {args.out.with_suffix('.csv')}")


if __name__ == "__main__":
    main()
