"""Claim tests run notebooks at smoke size through the runner and assert on results.json.

``smoke("04", order=3)`` executes once per session per parameter set and returns the record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kit.core.results import RESULTS_NAME, read_results
from kit.core.runner import RunSpec, execute, resolve, validate


@pytest.fixture(scope="session")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., dict[str, Any]]:
    runs = tmp_path_factory.mktemp("claims-runs")
    cache: dict[tuple, dict[str, Any]] = {}

    def run(target: str, **params: Any) -> dict[str, Any]:
        key = (target, tuple(sorted(params.items())))
        if key not in cache:
            resolved = resolve(target)
            validate(resolved, params)
            outcome = execute(RunSpec(resolved, params, runs))
            assert outcome.status == "complete", f"{target} failed:\n{outcome.error}"
            cache[key] = read_results(outcome.spec.run_dir / RESULTS_NAME)
        return cache[key]

    return run
