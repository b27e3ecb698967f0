"""Load: simulated employees asking questions of the real app on loopback, for a bounded time.

Usage: python bench/load.py [--users 20] [--duration 300] [--think 10] [--api-share 0.25] [--json PATH]

The app runs as `vraagbaak serve` in a process of its own (one uvicorn process: the embedded default,
extractive answers, rate limits off) over the demo corpus, ingested with `vraagbaak ingest` into
DATA_DIR/bench-load/qdrant (with its document registry beside it, so a re-run is a no-op); the app's
database (accounts, answer records) is fresh for every run.

The users are a closed loop: each signs in once (browser users through the sign-in form; API users
with an API token), then asks a question from eval/datasets/demo-qa.jsonl (Dutch and English), reads
the whole answer, thinks for an exponentially distributed time (mean `--think` s, at most 5× that),
and asks the next one, until `--duration` has passed; a question in flight then still finishes. The
users start spread over the first think time. Browser users take the ask page's path: `POST /ask`
(htmx) → the answer stream `GET /ask/stream/{id}` (events status, sentence…, answer, done); API users
call `POST /api/ask`. Any non-2xx answer, an error fragment in the stream, a stream that ends without
`done`, a timeout or a broken connection is an error, counted by kind.

Printed (and written with `--json`): throughput, p50/p95/p99 per stage as the client saw it
(accepted, first sentence, answer, end to end) and as the app measured it (the answer records'
`timings_ms`), the error rate, the server's resident memory and CPU sampled every `--sample` s, and
the targets: no errors, p95 end to end < 1 s, memory flat (least-squares RSS slope after the warm-up
below `--flat-mb-per-min`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from core.accounts import Accounts  # noqa: E402
from core.db import AnswerRecord, Database  # noqa: E402
from core.settings import Settings  # noqa: E402

PASSWORD = "load benchmark password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
STREAM = re.compile(r'/ask/stream/([A-Za-z0-9_-]+)')
RECORD = re.compile(r'/feedback/([0-9a-f]{32})')
CLIENT_STAGES = ("accepted", "first_sentence", "answer", "end_to_end")
SERVER_STAGES = ("retrieve", "generate", "first_sentence", "verify", "total")


@dataclass
class Results:
    """What the users saw: per-stage latencies (ms), errors by kind, answers and refusals."""

    stages: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in CLIENT_STAGES})
    errors: dict[str, int] = field(default_factory=dict)
    answers: int = 0
    refused: int = 0
    unrecorded: int = 0
    by_path: dict[str, int] = field(default_factory=lambda: {"browser": 0, "api": 0})
    started: float = field(default_factory=time.monotonic)
    finished: list[tuple[float, float]] = field(default_factory=list)  # (s since the start, end to end ms)

    def done(self, end_to_end_ms: float) -> None:
        self.stages["end_to_end"].append(end_to_end_ms)
        self.finished.append((time.monotonic() - self.started, end_to_end_ms))

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]


def slope_per_min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    den = sum((t - mx) ** 2 for t, _ in points)
    return None if den == 0 else 60 * sum((t - mx) * (v - my) for t, v in points) / den


# ------------------------------------------------------------------------------ the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(data_dir: Path, store: Path, models: Path) -> dict[str, str]:
    """The environment of the app: embedded store, extractive answers, fresh database, no limits."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("VRAAGBAAK_") and k not in ("QDRANT_URL", "QDRANT_API_KEY", "LLM_BASE_URL",
                                                           "DATABASE_URL")}
    env.update({"VRAAGBAAK_DATA_DIR": str(data_dir), "VRAAGBAAK_STORE__PATH": str(store),
                "VRAAGBAAK_EMBEDDING__MODELS_DIR": str(models), "VRAAGBAAK_ANSWER__GENERATOR": "extractive",
                "VRAAGBAAK_LIMITS__PER_USER": "0", "VRAAGBAAK_LIMITS__PER_IP": "0",
                "VRAAGBAAK_LIMITS__SIGN_IN_PER_IP": "0", "VRAAGBAAK_LOG_LEVEL": "WARNING",
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "true",
                "TOKENIZERS_PARALLELISM": "false"})
    return env


def ingest_demo(env: dict[str, str], cwd: Path, registry: Path) -> float:
    """`vraagbaak ingest demo/corpus --source demo` into the benchmark's store, with a document registry
    kept beside it (so that a re-run reads nothing); returns seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vraagbaak", "ingest", str(ROOT / "demo" / "corpus"), "--source", "demo"],
                   env={**env, "VRAAGBAAK_DATABASE__URL": f"sqlite:///{registry}"}, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def make_users(database_url: str, users: int, api_share: float) -> list[dict[str, str]]:
    """Employee accounts `load01`…; the first `api_share` of them get an API token."""
    database = Database.open(database_url)
    try:
        accounts = Accounts(database)
        made = []
        api_users = round(users * api_share)
        for i in range(users):
            row = accounts.by_username(f"load{i + 1:02d}") or accounts.create_user(
                f"load{i + 1:02d}", PASSWORD, roles=("employee",))
            user = {"username": row.username, "path": "api" if i < api_users else "browser"}
            if user["path"] == "api":
                user["token"] = accounts.create_token(row.user_id, "load benchmark")[1]
            made.append(user)
        return made
    finally:
        database.close()


def start_server(env: dict[str, str], cwd: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "vraagbaak", "serve", "--port", str(port)], env=env, cwd=cwd,
                               stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the app did not start:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit("the app did not answer /healthz within 300 s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ------------------------------------------------------------------------------ measuring the server


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def sample(pid: int, every: float, started: float, results: Results, series: list[dict[str, Any]],
                 stop: asyncio.Event) -> None:
    """RSS (MB), CPU (% of one core since the last sample), the 1-minute load average, answers so far."""
    last_t, last_cpu = time.monotonic(), cpu_seconds(pid)
    while True:
        series.append({"t_s": round(time.monotonic() - started, 1), "rss_mb": round(rss_mb(pid), 1),
                       "cpu_pct": None if not series else round(100 * (cpu_seconds(pid) - last_cpu)
                                                                / max(time.monotonic() - last_t, 1e-6), 1),
                       "load1": round(os.getloadavg()[0], 2), "answers": results.answers})
        last_t, last_cpu = time.monotonic(), cpu_seconds(pid)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
            return
        except TimeoutError:
            pass


# ------------------------------------------------------------------------------ the users


async def sign_in(client: httpx.AsyncClient, username: str) -> None:
    form = await client.get("/login")
    token = CSRF.search(form.text)
    if form.status_code != 200 or token is None:
        raise RuntimeError(f"sign-in page: {form.status_code}")
    done = await client.post("/login", data={"username": username, "password": PASSWORD,
                                             "csrf_token": token.group(1), "next": "/"})
    if done.status_code != 303:
        raise RuntimeError(f"sign-in: {done.status_code}")
    page = await client.get("/")
    client.headers["X-CSRF-Token"] = CSRF.search(page.text).group(1)  # type: ignore[union-attr]


async def ask_browser(client: httpx.AsyncClient, question: str, results: Results) -> bool:
    """The ask page's path; records the client-side stages. False on an error (counted)."""
    t0 = time.perf_counter()
    posted = await client.post("/ask", data={"question": question, "thread_id": ""}, headers={"HX-Request": "true"})
    if posted.status_code != 200:
        results.error(f"http_{posted.status_code} POST /ask")
        return False
    found = STREAM.search(posted.text)
    if found is None:
        results.error("no stream id")
        return False
    accepted = time.perf_counter()
    event, data, seen = None, [], {}
    async with client.stream("GET", f"/ask/stream/{found.group(1)}") as response:
        if response.status_code != 200:
            results.error(f"http_{response.status_code} GET /ask/stream")
            return False
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event, data = line[7:], []
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and event:
                seen.setdefault(event, (time.perf_counter(), "\n".join(data)))
                if event == "done":
                    break
                event = None
    if "done" not in seen or "answer" not in seen:
        results.error("stream ended without answer/done")
        return False
    answer_html = seen["answer"][1]
    if 'class="error"' in answer_html:
        status = re.search(r'data-status="([^"]*)"', answer_html)
        results.error(f"error in stream ({status.group(1) if status else '?'})")
        return False
    ms = lambda t: (t - t0) * 1000  # noqa: E731
    results.stages["accepted"].append(ms(accepted))
    if "sentence" in seen:
        results.stages["first_sentence"].append(ms(seen["sentence"][0]))
    else:
        results.refused += 1
    results.stages["answer"].append(ms(seen["answer"][0]))
    results.done(ms(seen["done"][0]))
    results.unrecorded += RECORD.search(answer_html) is None and "sentence" in seen
    return True


async def ask_api(client: httpx.AsyncClient, question: str, results: Results) -> bool:
    t0 = time.perf_counter()
    response = await client.post("/api/ask", json={"question": question})
    if response.status_code != 200:
        results.error(f"http_{response.status_code} POST /api/ask")
        return False
    body = response.json()
    elapsed = (time.perf_counter() - t0) * 1000
    results.stages["answer"].append(elapsed)  # one response: no separate acceptance or first sentence
    results.done(elapsed)
    results.refused += body.get("verdict") == "refused"
    results.unrecorded += body.get("record_id") is None
    return True


async def employee(base: str, user: dict[str, str], questions: list[str], think: float, deadline: float,
                   seed: int, results: Results) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {user['token']}"} if user["path"] == "api" else {}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        await asyncio.sleep(min(rng.uniform(0, think), max(0.0, deadline - time.monotonic())))  # arrivals spread
        try:
            if user["path"] == "browser":
                await sign_in(client, user["username"])
        except (httpx.HTTPError, RuntimeError) as exc:
            results.error(f"sign-in failed ({type(exc).__name__})")
            return
        while time.monotonic() < deadline:
            ask = ask_api if user["path"] == "api" else ask_browser
            try:
                if await ask(client, rng.choice(questions), results):
                    results.answers += 1
                    results.by_path[user["path"]] += 1
            except httpx.TimeoutException:
                results.error("timeout")
            except httpx.HTTPError as exc:
                results.error(f"connection ({type(exc).__name__})")
            pause = min(rng.expovariate(1 / think), 5 * think) if think > 0 else 0
            await asyncio.sleep(max(0.0, min(pause, deadline - time.monotonic())))  # no thinking past the end


async def drive(base: str, pid: int, users: list[dict[str, str]], questions: list[str], args: argparse.Namespace,
                series: list[dict[str, Any]]) -> tuple[Results, float]:
    results = Results()
    started = results.started = time.monotonic()
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample(pid, args.sample, started, results, series, stop))
    await asyncio.gather(*(employee(base, user, questions, args.think, started + args.duration,
                                    args.seed * 1000 + i, results) for i, user in enumerate(users)))
    wall = time.monotonic() - started
    stop.set()
    await sampler
    return results, wall


# ------------------------------------------------------------------------------ the report


def server_stages(database_url: str) -> dict[str, list[float]]:
    """The app's own stage times, from the answer records the run wrote."""
    from sqlalchemy import select

    database = Database.open(database_url, migrate=False)
    try:
        with database.session() as session:
            timings = list(session.scalars(select(AnswerRecord.timings_ms)))
    finally:
        database.close()
    return {stage: [t[stage] for t in timings if stage in t] for stage in SERVER_STAGES}


def summarise(values: dict[str, list[float]]) -> dict[str, dict[str, float | int | None]]:
    return {stage: {"n": len(v), "p50": percentile(v, 0.5), "p95": percentile(v, 0.95), "p99": percentile(v, 0.99),
                    "max": max(v) if v else None} for stage, v in values.items()}


def report(args: argparse.Namespace, results: Results, wall: float, series: list[dict[str, Any]],
           server: dict[str, list[float]], load_before: tuple[float, ...], load_after: tuple[float, ...],
           client_cpu_s: float) -> dict[str, Any]:
    warm_up = min(60.0, 0.2 * args.duration)
    rss = [(s["t_s"], s["rss_mb"]) for s in series]
    slope = slope_per_min([(t, v) for t, v in rss if t >= warm_up])
    second_half = slope_per_min([(t, v) for t, v in rss if t >= args.duration / 2])  # a leak keeps its slope
    cpu = [s["cpu_pct"] for s in series if s["cpu_pct"] is not None]
    asked = results.answers + sum(results.errors.values())
    e2e_p95 = percentile(results.stages["end_to_end"], 0.95)
    steady = [v for t, v in results.finished if t >= warm_up]
    minutes = {}
    for t, v in results.finished:
        minutes.setdefault(int(t // 60), []).append(v)
    targets = {
        "no_errors": {"pass": not results.errors, "errors": sum(results.errors.values())},
        "p95_end_to_end_under_1s": {"pass": e2e_p95 is not None and e2e_p95 < 1000, "p95_ms": e2e_p95},
        "memory_flat": {"pass": slope is not None and slope < args.flat_mb_per_min, "slope_mb_per_min": slope,
                        "threshold_mb_per_min": args.flat_mb_per_min, "after_warm_up_s": warm_up},
    }
    return {
        "config": {"users": args.users, "duration_s": args.duration, "think_mean_s": args.think,
                   "api_share": args.api_share, "seed": args.seed, "sample_s": args.sample, "app_env": args.app_env,
                   "store": "embedded (local Qdrant)", "generator": "extractive", "corpus": "demo",
                   "cpus": os.cpu_count()},
        "wall_s": round(wall, 1),
        "answers": results.answers, "by_path": results.by_path, "refused": results.refused,
        "answers_without_record": results.unrecorded,
        "throughput_answers_per_s": round(results.answers / wall, 3) if wall else None,
        "errors": {"total": sum(results.errors.values()), "rate": round(sum(results.errors.values()) / asked, 4)
                   if asked else None, "by_kind": results.errors},
        "client_ms": summarise(results.stages),
        # not a target: the same answers without the first minute, when no candidate sentence is cached yet
        "end_to_end_after_warm_up_ms": {"after_s": warm_up, **summarise({"x": steady})["x"]},
        "end_to_end_by_minute_ms": [{"minute": m + 1, **summarise({"x": v})["x"]} for m, v in sorted(minutes.items())],
        "server_ms": summarise(server),
        "memory_mb": {"start": rss[0][1] if rss else None, "end": rss[-1][1] if rss else None,
                      "max": max(v for _, v in rss) if rss else None,
                      "slope_mb_per_min_after_warm_up": round(slope, 2) if slope is not None else None,
                      "slope_mb_per_min_second_half": round(second_half, 2) if second_half is not None else None},
        "server_cpu_pct_of_one_core": {"mean": round(sum(cpu) / len(cpu), 1) if cpu else None,
                                       "max": max(cpu) if cpu else None},
        "client_cpu_s": round(client_cpu_s, 1),
        "load_average": {"before": load_before, "after": load_after},
        "series": series,
        "targets": targets,
        "passed": all(t["pass"] for t in targets.values()),
    }


def print_report(r: dict[str, Any]) -> None:
    c = r["config"]
    fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    print(f"{c['users']} users ({r['by_path']['browser']} answers via page+stream, {r['by_path']['api']} via API), "
          f"think {c['think_mean_s']:g} s mean, {r['wall_s']:.0f} s; demo corpus, embedded store, extractive answers")
    print(f"load average before {r['load_average']['before']}, after {r['load_average']['after']} "
          f"({c['cpus']} CPUs)")
    print(f"answers {r['answers']} ({r['refused']} refusals, {r['answers_without_record']} without a record) · "
          f"throughput {r['throughput_answers_per_s']:.2f} answers/s · errors {r['errors']['total']} "
          f"(rate {r['errors']['rate']}) {r['errors']['by_kind'] or ''}")
    for title, key in (("client side", "client_ms"), ("in the app (answer records' timings_ms)", "server_ms")):
        print(f"\n{title}\n| stage | n | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|")
        for stage, s in r[key].items():
            print(f"| {stage} | {s['n']} | {fmt(s['p50'])} | {fmt(s['p95'])} | {fmt(s['p99'])} | {fmt(s['max'])} |")
    w = r["end_to_end_after_warm_up_ms"]
    print(f"\nend to end after the first {w['after_s']:.0f} s (not a target): n {w['n']}, p50 {fmt(w['p50'])}, "
          f"p95 {fmt(w['p95'])}, p99 {fmt(w['p99'])} ms · p95 by minute: "
          + ", ".join(f"{x['minute']}: {fmt(x['p95'])}" for x in r["end_to_end_by_minute_ms"]))
    m = r["memory_mb"]
    print(f"\nserver RSS MB: start {m['start']}, end {m['end']}, max {m['max']}, slope after warm-up "
          f"{m['slope_mb_per_min_after_warm_up']} MB/min (second half {m['slope_mb_per_min_second_half']}) · server CPU mean {r['server_cpu_pct_of_one_core']['mean']}% "
          f"of one core (max {r['server_cpu_pct_of_one_core']['max']}%) · client CPU {r['client_cpu_s']} s")
    print("t s  | RSS MB | CPU % | load1 | answers")
    for s in r["series"]:
        print(f"{s['t_s']:>5.0f} | {s['rss_mb']:>6.0f} | {s['cpu_pct'] if s['cpu_pct'] is not None else '-':>5} | "
              f"{s['load1']:>5} | {s['answers']}")
    print()
    for name, t in r["targets"].items():
        detail = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in t.items() if k != "pass"}
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {name}  {detail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20, help="simulated employees (default 20)")
    parser.add_argument("--duration", type=float, default=300, help="seconds of asking (default 300)")
    parser.add_argument("--think", type=float, default=10, help="mean think time between questions, s (default 10)")
    parser.add_argument("--api-share", type=float, default=0.25, help="share of users on the JSON API (default 0.25)")
    parser.add_argument("--sample", type=float, default=5, help="seconds between memory/CPU samples (default 5)")
    parser.add_argument("--flat-mb-per-min", type=float, default=5.0,
                        help="RSS growth after the warm-up that still counts as flat, MB/min (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--app-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the app, e.g. VRAAGBAAK_ANSWER__SENTENCE_CACHE=0 (repeatable)")
    parser.add_argument("--store", type=Path, help="embedded store folder (default DATA_DIR/bench-load/qdrant)")
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args(argv)
    settings = Settings()
    store = (args.store or settings.data_dir / "bench-load" / "qdrant").resolve()
    questions = [json.loads(line)["question"] for line in (ROOT / "eval/datasets/demo-qa.jsonl").open(encoding="utf-8")]
    scratch = Path(tempfile.mkdtemp(prefix="vraagbaak-load-"))
    try:
        env = server_env(scratch, store, settings.models_dir.resolve())
        env.update(dict(item.split("=", 1) for item in args.app_env))
        database_url = f"sqlite:///{scratch / 'vraagbaak.db'}"
        print(f"ingesting the demo corpus into {store} ...", file=sys.stderr)
        print(f"  {ingest_demo(env, scratch, store.parent / 'registry.db'):.0f} s", file=sys.stderr)
        users = make_users(database_url, args.users, args.api_share)
        port = free_port()
        process = start_server(env, scratch, port, scratch / "server.log")
        try:
            load_before = tuple(round(x, 2) for x in os.getloadavg())
            print(f"app ready (pid {process.pid}); {args.users} users for {args.duration:g} s ...", file=sys.stderr)
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            series: list[dict[str, Any]] = []
            results, wall = asyncio.run(drive(f"http://127.0.0.1:{port}", process.pid, users, questions, args, series))
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            load_after = tuple(round(x, 2) for x in os.getloadavg())
        finally:
            stop_server(process)
        result = report(args, results, wall, series, server_stages(database_url), load_before, load_after,
                        (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime))
        log = (scratch / "server.log").read_text(errors="replace")
        result["server_log_warnings"] = [line[:300] for line in log.splitlines() if " WARNING " in line
                                         or " ERROR " in line][:20]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print_report(result)
    if result["server_log_warnings"]:
        print("server log warnings/errors:\n  " + "\n  ".join(result["server_log_warnings"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
