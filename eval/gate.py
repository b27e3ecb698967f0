"""The regression gate: minimum figures committed in eval/thresholds.toml, checked by
tests/eval/test_regression_gate.py (part of `make test`) against a fresh run of the demo set."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from core.errors import ErrorCode, VraagbaakError

THRESHOLDS = Path(__file__).with_name("thresholds.toml")


def load_thresholds(dataset: str, path: Path = THRESHOLDS) -> dict[str, float]:
    """The minimum per metric for a dataset (a table in the TOML file)."""
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get(dataset)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"cannot read thresholds {path}: {exc}") from exc
    if not isinstance(table, dict) or not table:
        raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"{path} has no thresholds for [{dataset}]")
    if not all(isinstance(v, int | float) and 0 <= v <= 1 for v in table.values()):
        raise VraagbaakError(ErrorCode.CONFIG_INVALID, f"{path} [{dataset}]: every threshold is a number 0..1")
    return {k: float(v) for k, v in table.items()}


def below(metrics: Mapping[str, float | int | None], thresholds: Mapping[str, float]) -> list[str]:
    """One line per metric under its threshold (a metric the run lacks counts as under)."""
    failures = []
    for name, minimum in thresholds.items():
        value = metrics.get(name)
        if value is None or value < minimum:
            failures.append(f"{name} = {value} is below its threshold {minimum}")
    return failures
