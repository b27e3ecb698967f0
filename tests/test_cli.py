"""The `vraagbaak` command as a user runs it, in a subprocess with its own data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.settings import Settings
from tests.fixtures import bad_files, small_corpus


def _run(args: list[str], data_dir: Path, models_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VRAAGBAAK_DATA_DIR": str(data_dir), "VRAAGBAAK_EMBEDDING__MODELS_DIR": str(models_dir),
           "VRAAGBAAK_LOG_LEVEL": "WARNING"}
    env.pop("LLM_BASE_URL", None)
    return subprocess.run([sys.executable, "-m", "vraagbaak", *args], capture_output=True, text=True, env=env,
                          timeout=600, check=False)


def test_ingest_then_ask_from_the_terminal(base_settings: Settings, embedder, tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs")
    bad_files(corpus / "bad")
    ingest = _run(["ingest", str(corpus), "--source", "docs", "--json"], tmp_path / "data", base_settings.models_dir)
    assert ingest.returncode == 0, ingest.stderr
    report = json.loads(ingest.stdout)
    assert len(report["new"]) == 5 and len(report["failed"]) == 2 and len(report["skipped"]) == 1
    assert report["chunks"] > 0
    ask = _run(["ask", "Hoeveel vakantiedagen krijg ik bij 38 uur?"], tmp_path / "data", base_settings.models_dir)
    assert ask.returncode == 0, ask.stderr
    assert "27 vakantiedagen" in ask.stdout and "[1]" in ask.stdout and "verlof.md" in ask.stdout


def test_missing_folder_is_a_clear_error(base_settings: Settings, tmp_path: Path) -> None:
    result = _run(["ingest", str(tmp_path / "nope")], tmp_path / "data", base_settings.models_dir)
    assert result.returncode == 2
    assert "No such file or folder" in result.stderr and "Traceback" not in result.stderr
