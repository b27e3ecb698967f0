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


def test_erase_a_document_keep_it_out_then_allow_it_back(base_settings: Settings, tmp_path: Path) -> None:
    corpus, data = small_corpus(tmp_path / "docs"), tmp_path / "data"
    assert _run(["ingest", str(corpus), "--source", "docs"], data, base_settings.models_dir).returncode == 0
    listed = json.loads(_run(["documents", "--json"], data, base_settings.models_dir).stdout)
    verlof = next(d["doc_id"] for d in listed if d["uri"] == "verlof.md")

    erased = _run(["privacy", "erase-document", verlof, "--json"], data, base_settings.models_dir)
    assert erased.returncode == 0, erased.stderr
    report = json.loads(erased.stdout)
    assert report["store_chunks"] >= 1 and report["registry_rows"] == 1 and report["blocked"] is True
    again = _run(["privacy", "erase-document", verlof], data, base_settings.models_dir)
    assert again.returncode == 2 and "erased before" in again.stderr and "Traceback" not in again.stderr

    rerun = json.loads(_run(["ingest", str(corpus), "--source", "docs", "--json"], data, base_settings.models_dir).stdout)
    assert any(s["uri"] == "verlof.md" and "erased on" in s["reason"] for s in rerun["skipped"])
    assert "verlof.md" not in rerun["new"] + rerun["updated"]
    ask = _run(["ask", "Hoeveel vakantiedagen krijg ik bij 38 uur?"], data, base_settings.models_dir)
    assert ask.returncode == 0 and "27 vakantiedagen" not in ask.stdout
    tombstones = _run(["documents", "--status", "erased"], data, base_settings.models_dir).stdout
    assert "erased" in tombstones and "verlof.md" in tombstones and "1 documents" in tombstones

    allowed = _run(["privacy", "allow-document", verlof], data, base_settings.models_dir)
    assert allowed.returncode == 0 and "source docs" in allowed.stdout
    assert _run(["privacy", "allow-document", verlof], data, base_settings.models_dir).returncode == 2
    back = json.loads(_run(["ingest", str(corpus), "--source", "docs", "--json"], data, base_settings.models_dir).stdout)
    assert back["new"] == ["verlof.md"]


def test_missing_folder_is_a_clear_error(base_settings: Settings, tmp_path: Path) -> None:
    result = _run(["ingest", str(tmp_path / "nope")], tmp_path / "data", base_settings.models_dir)
    assert result.returncode == 2
    assert "No such file or folder" in result.stderr and "Traceback" not in result.stderr
