"""A real `kill -9` in the middle of `vraagbaak ingest`, then a re-run: the store and the registry
end exactly as after one clean run — no duplicates, no orphans, no missing chunks."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from core.settings import Settings
from tests.fixtures import small_corpus

ROOT = Path(__file__).resolve().parents[2]


def _corpus(root: Path) -> Path:
    corpus = small_corpus(root)
    for n in range(14):
        paragraphs = [f"Procedure {n}.{k}: medewerkers van afdeling {n} melden wijziging {k} binnen {n + k} dagen "
                      f"bij het servicepunt, met formulier F-{n}{k} en een toelichting van de leidinggevende."
                      for k in range(40)]
        (root / f"procedure-{n:02d}.md").write_text(f"# Procedure {n}\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
    return corpus


def _env(data: Path, models: Path) -> dict[str, str]:
    return {**os.environ, "VRAAGBAAK_DATA_DIR": str(data), "VRAAGBAAK_EMBEDDING__MODELS_DIR": str(models),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VRAAGBAAK_LOG_LEVEL": "WARNING"}


def _ingest(corpus: Path, data: Path, models: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vraagbaak", "ingest", str(corpus), "--source", "crash", "--json"],
                          env=_env(data, models), capture_output=True, text=True, timeout=900, check=False, cwd=ROOT)


def _indexed(data: Path) -> int:
    try:
        with sqlite3.connect(data / "vraagbaak.db", timeout=5) as connection:
            return connection.execute("select count(*) from documents where status = 'indexed'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _snapshot(data: Path) -> tuple[list[tuple], list[tuple]]:
    """Every point (id, document, version, active) and every registry row that matters."""
    client = QdrantClient(path=str(data / "qdrant"))
    try:
        points, offset = [], None
        while True:
            batch, offset = client.scroll("vraagbaak", limit=512, offset=offset, with_payload=True)
            points += [(str(p.id), p.payload["doc_id"], p.payload["version"], p.payload.get("active"),
                        p.payload["chunk_count"]) for p in batch]
            if offset is None:
                break
    finally:
        client.close()
    with sqlite3.connect(data / "vraagbaak.db") as connection:
        rows = connection.execute("select doc_id, uri, status, version, chunk_count from documents "
                                  "order by doc_id").fetchall()
    return sorted(points), rows


@pytest.mark.slow
def test_hard_kill_mid_ingest_then_rerun_converges_to_a_clean_run(base_settings: Settings, embedder,
                                                                 tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "docs")
    models = base_settings.models_dir
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    assert _ingest(corpus, clean, models).returncode == 0

    process = subprocess.Popen([sys.executable, "-m", "vraagbaak", "ingest", str(corpus), "--source", "crash"],
                               env=_env(crashed, models), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               cwd=ROOT)
    deadline = time.monotonic() + 600
    while _indexed(crashed) < 4:  # some documents are in, the run is mid-way
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    killed_points, killed_rows = _snapshot(crashed)
    assert 4 <= len(killed_rows) < 19, "the kill should land mid-run"

    rerun = _ingest(corpus, crashed, models)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    again = _ingest(corpus, crashed, models)
    assert again.returncode == 0 and '"changed": false' in again.stdout  # converged: a further run is a no-op

    clean_points, clean_rows = _snapshot(clean)
    crashed_points, crashed_rows = _snapshot(crashed)
    assert crashed_points == clean_points  # same ids, versions, all active: no duplicate, orphan or gap
    assert all(point[3] is True for point in crashed_points)
    assert crashed_rows == clean_rows
    per_doc: dict[str, int] = {}
    for _, doc_id, _, _, expected in crashed_points:
        per_doc[doc_id] = per_doc.get(doc_id, 0) + 1
        assert per_doc[doc_id] <= expected
    assert all(per_doc[d] == e for _, d, _, _, e in crashed_points)
