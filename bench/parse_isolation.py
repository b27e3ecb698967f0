"""What parsing in a worker process costs: start-up of a worker, and per-file overhead against
`parse_file` in-process, both warm.

Usage: python bench/parse_isolation.py [FOLDER] [--rounds 3]   (default: demo/corpus)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.errors import VraagbaakError  # noqa: E402
from ingest.isolate import ParsePool  # noqa: E402
from ingest.parse import media_type_of, parse_file  # noqa: E402

DEFAULT_FOLDER = Path(__file__).resolve().parents[1] / "demo" / "corpus"


def timed(parse: object, path: Path, data: bytes) -> float:
    started = time.perf_counter()
    try:
        parse(path, data)  # type: ignore[operator]
    except VraagbaakError:
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    files = [(p, p.read_bytes()) for p in sorted(args.folder.rglob("*")) if p.is_file() and media_type_of(p)]
    if not files:
        sys.exit(f"no supported files under {args.folder}")

    with tempfile.TemporaryDirectory() as tmp:
        tiny = Path(tmp) / "tiny.txt"
        tiny.write_text("warm-up", encoding="utf-8")
        started = time.perf_counter()
        with ParsePool(workers=1) as pool:
            pool.parse(tiny)
            start_up = time.perf_counter() - started
            for path, data in files:  # warm: every parser module loaded on both sides
                timed(parse_file, path, data)
                timed(pool.parse, path, data)
            inproc, pooled = [], []
            for _ in range(args.rounds):
                for path, data in files:
                    inproc.append(timed(parse_file, path, data))
                    pooled.append(timed(pool.parse, path, data))
    overhead = [b - a for a, b in zip(inproc, pooled, strict=True)]
    mb = sum(len(d) for _, d in files) / 1e6
    print(f"{len(files)} files ({mb:.1f} MB) from {args.folder}, {args.rounds} rounds")
    print(f"worker start-up (spawn + loading the parsers): {start_up:.2f} s")
    print(f"in-process: {sum(inproc) / args.rounds:.3f} s per round, median {statistics.median(inproc) * 1000:.1f} ms per file")
    print(f"in a worker: {sum(pooled) / args.rounds:.3f} s per round, median {statistics.median(pooled) * 1000:.1f} ms per file")
    print(f"overhead per file: median {statistics.median(overhead) * 1000:.1f} ms, "
          f"mean {statistics.mean(overhead) * 1000:.1f} ms, max {max(overhead) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
