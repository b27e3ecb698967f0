"""ParsePool with real worker processes: a real hang, segfault, exit and huge allocation (from the
hook in tests/ingest/slow_parser.py), recovery afterwards, and results equal to in-process parsing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import ErrorCode, VraagbaakError
from core.settings import IngestSettings
from ingest.isolate import ParsePool
from ingest.parse import parse_file
from tests.fixtures import bad_files, small_corpus

HOOK = "tests.ingest.slow_parser:parse"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("isolate")
    for name in ("hang.txt", "segfault.txt", "exit.txt", "huge.txt", "raise.txt", "good.txt", "next.txt"):
        (folder / name).write_text(f"Inhoud van {name}.\n\nTweede alinea.", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def hostile_pool() -> Iterator[ParsePool]:
    with ParsePool(target=HOOK, timeout_s=3, memory_mb=768, workers=1) as pool:
        yield pool


def _failure(pool: ParsePool, path: Path) -> VraagbaakError:
    with pytest.raises(VraagbaakError) as caught:
        pool.parse(path)
    return caught.value


def test_a_hanging_parse_is_stopped_and_the_next_file_is_parsed(hostile_pool: ParsePool, files: Path) -> None:
    restarts = hostile_pool.restarts
    started = time.monotonic()
    error = _failure(hostile_pool, files / "hang.txt")
    assert error.code is ErrorCode.PARSE_TIMEOUT
    assert error.message == "parsing took longer than 3 s"
    assert time.monotonic() - started < 15
    assert hostile_pool.parse(files / "next.txt").blocks[0].text == "Inhoud van next.txt."
    assert hostile_pool.restarts == restarts + 1


def test_a_segfault_is_reported_with_its_signal_and_a_fresh_worker_takes_over(hostile_pool: ParsePool,
                                                                              files: Path) -> None:
    error = _failure(hostile_pool, files / "segfault.txt")
    assert error.code is ErrorCode.PARSE_FAILED
    assert error.message == "the parser crashed (signal 11, SIGSEGV)"
    assert hostile_pool.parse(files / "good.txt").blocks[0].text == "Inhoud van good.txt."


def test_a_worker_that_exits_is_reported_with_its_exit_code(hostile_pool: ParsePool, files: Path) -> None:
    error = _failure(hostile_pool, files / "exit.txt")
    assert error.message == "the parser crashed (exit code 3)"
    assert hostile_pool.parse(files / "good.txt").media_type == "text"


def test_a_huge_allocation_hits_the_memory_limit(hostile_pool: ParsePool, files: Path) -> None:
    error = _failure(hostile_pool, files / "huge.txt")
    assert error.code is ErrorCode.PARSE_FAILED
    assert error.message == "parsing needed more than 768 MB of memory"
    assert hostile_pool.parse(files / "good.txt").blocks[1].text == "Tweede alinea."


def test_an_unwrapped_parser_exception_is_a_reason_not_a_crash(hostile_pool: ParsePool, files: Path) -> None:
    error = _failure(hostile_pool, files / "raise.txt")
    assert error.code is ErrorCode.PARSE_FAILED and "KeyError" in error.message


def test_imap_gives_one_outcome_per_file_in_order_across_failures(files: Path) -> None:
    names = ["good.txt", "segfault.txt", "next.txt", "hang.txt", "raise.txt", "good.txt"]
    with ParsePool(target=HOOK, timeout_s=2, memory_mb=768, workers=2) as pool:
        outcomes = list(pool.imap(files / name for name in names))
    assert [o.path.name for o in outcomes] == names
    assert [o.ok for o in outcomes] == [True, False, True, False, False, True]
    assert outcomes[3].error is not None and outcomes[3].error.code is ErrorCode.PARSE_TIMEOUT
    assert all(o.error and o.error.message for o in outcomes if not o.ok)
    assert outcomes[0].peak_mb is not None and outcomes[0].peak_mb > 0


# -- the real parser --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = small_corpus(tmp_path_factory.mktemp("corpus"))
    bad_files(folder)
    return folder


def _in_process(path: Path) -> object:
    try:
        return parse_file(path)
    except VraagbaakError as exc:
        return (exc.code, exc.message)


def test_two_workers_give_the_in_process_results_in_submission_order(corpus: Path) -> None:
    paths = sorted(corpus.iterdir()) * 2  # each file twice, so both workers see every format
    settings = IngestSettings(parse_workers=2, parse_timeout_s=60)
    with ParsePool.from_settings(settings) as pool:
        assert pool.workers == 2 and pool.timeout_s == 60
        futures = [pool.submit(path, path.read_bytes()) for path in paths]
        pooled = []
        for future in futures:
            try:
                pooled.append(future.result())
            except VraagbaakError as exc:
                pooled.append((exc.code, exc.message))
        ordered = [o.document or (o.error.code, o.error.message) for o in pool.imap(paths)  # type: ignore[union-attr]
                   if o.document or o.error]
    expected = [_in_process(path) for path in paths]
    assert pooled == expected
    assert ordered == expected
    assert sum(isinstance(r, tuple) for r in expected) == 6  # the three bad files, twice
