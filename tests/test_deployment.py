"""The container set-up, checked without a Docker engine: docker-compose.yml is validated by the
Compose client (`docker compose config`, or Debian's `docker-compose` v1 that the Makefile installs)
and its properties are checked — pinned images, health checks, start order, secrets only from the env
file, every variable documented in .env.example — and so are the Dockerfile's (slim, non-root, offline
models, health check, several uvicorn workers). The same configuration runs without containers in
tests/web/test_workers.py (several processes on PostgreSQL)."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|API_KEY|TOKEN", re.I)
PINNED = re.compile(r"^[\w./-]+:v?\d+\.\d+(\.\d+)?(-[\w.]+)?$")  # a release (postgres numbers 15.13), never latest


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _compose_command() -> list[str] | None:
    """A Compose client that can validate a file offline: the docker plugin, else docker-compose v1."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_file_is_valid_for_the_compose_client(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no Compose client: neither the `docker compose` plugin nor `docker-compose` "
                    "(apt-get install docker-compose; the Makefile's system-packages does it)")
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")  # the file an operator copies; compose reads it for ${VAR}
    for profile in ([], ["--profile", "llm"]):
        result = subprocess.run([*command, *profile, "config"], cwd=tmp_path, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        resolved = yaml.safe_load(result.stdout)
        assert {"qdrant", "postgres", "app", "worker"} <= set(resolved["services"])
        assert ("llm" in resolved["services"]) == bool(profile) or command[0] == "docker-compose"
    missing = subprocess.run([*command, "config"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                             env={"PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert missing.returncode == 0  # .env present: fine
    (tmp_path / ".env").write_text("POSTGRES_PASSWORD=x\n", encoding="utf-8")
    refused = subprocess.run([*command, "config"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                             env={"PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert refused.returncode != 0 and "QDRANT_API_KEY" in refused.stderr  # a missing secret stops it


def test_every_image_is_pinned_and_qdrant_matches_the_client(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image, f"{name}: no image name"
        if "build" not in service:
            assert PINNED.match(image), f"{name}: image {image} is not pinned to a version"
    qdrant = compose["services"]["qdrant"]["image"]
    server = tuple(int(x) for x in re.search(r":v(\d+)\.(\d+)", qdrant).groups())  # type: ignore[union-attr]
    pinned = re.search(r"^qdrant-client==(\d+)\.(\d+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned, "qdrant-client is pinned in requirements.txt"
    client = (int(pinned.group(1)), int(pinned.group(2)))
    assert server[0] == client[0] and abs(server[1] - client[1]) <= 1, \
        f"qdrant server {server} and qdrant-client {client} differ by more than one minor version"


def test_services_have_health_checks_and_start_in_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "/readyz" in " ".join(services["qdrant"]["healthcheck"]["test"])
    assert "/healthz" in " ".join(services["app"]["healthcheck"]["test"])
    assert "/health" in " ".join(services["llm"]["healthcheck"]["test"])
    assert services["worker"]["healthcheck"] == {"disable": True}  # no HTTP; the image's /healthz check is off
    for name in ("app", "worker"):
        depends = services[name]["depends_on"]
        assert depends == {"qdrant": {"condition": "service_healthy"},
                           "postgres": {"condition": "service_healthy"}}, name
        assert services[name]["env_file"] == ".env"
        environment = services[name]["environment"]
        assert environment["QDRANT_URL"] == "http://qdrant:6333"
        assert environment["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert environment["VRAAGBAAK_INGEST__WORKER"] == "external"  # the app queues, the worker runs
    assert services["worker"]["command"] == ["vraagbaak", "worker"]
    assert services["llm"]["profiles"] == ["llm"]
    for volume in ("qdrant-data", "postgres-data", "app-data"):
        assert volume in compose["volumes"]


def test_secrets_come_only_from_the_env_file(compose: dict[str, Any]) -> None:
    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if SECRET_NAME.search(str(key)) and isinstance(value, str):
                    assert value.startswith("${") and value.endswith("}"), f"{path}.{key} holds a literal secret"
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")
        elif isinstance(node, str) and "://" in node and "@" in node:  # a URL with credentials
            credentials = node.split("://", 1)[1].split("@", 1)[0]
            assert ":" not in credentials or "${" in credentials, f"{path}: a password in a URL"

    walk(compose, "compose")
    assert "change-me" not in COMPOSE.read_text(encoding="utf-8")
    for ignore in (ROOT / ".gitignore", ROOT / ".dockerignore"):
        assert ".env" in ignore.read_text(encoding="utf-8").split(), f"{ignore.name} must leave out .env"


def test_every_compose_variable_is_documented_in_env_example() -> None:
    used = set(VARIABLE.findall(COMPOSE.read_text(encoding="utf-8")))
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.M))
    assert used, "compose uses no variables?"
    assert not used - documented, f"not in .env.example: {sorted(used - documented)}"


def test_dockerfile_is_slim_non_root_offline_and_checks_health() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    instructions = [line.split(None, 1) for line in re.sub(r"\\\n", " ", text).splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    base = next(rest for op, rest in instructions if op == "FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base.strip()), base
    users = [rest.strip() for op, rest in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    assert "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in text  # CPU torch first
    assert "-c constraints.txt" in text and "vraagbaak models prepare" in text
    assert "HF_HUB_OFFLINE=1" in text and "TRANSFORMERS_OFFLINE=1" in text
    assert any(op == "HEALTHCHECK" and "/healthz" in rest for op, rest in instructions)
    cmd = next(rest for op, rest in reversed(instructions) if op == "CMD")
    assert '"web.app:create_app", "--factory"' in cmd and "WEB_CONCURRENCY=2" in text  # several workers
    for copied in re.findall(r"^COPY (.+) \./$", text, re.M):
        for name in copied.split():
            assert (ROOT / name).exists(), f"Dockerfile copies {name}, which is missing"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv/", "data/", ".git/"} <= set(ignored)


def test_the_uvicorn_factory_the_image_starts_exists() -> None:
    module, name = "web.app:create_app".split(":")
    factory = getattr(importlib.import_module(module), name)
    assert callable(factory)
    import inspect

    assert all(p.default is not inspect.Parameter.empty for p in inspect.signature(factory).parameters.values()), \
        "uvicorn --factory calls it without arguments"
