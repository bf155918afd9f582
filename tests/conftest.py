"""Shared test set-up: fixture notebooks are inputs, not nbval targets; every chapter's smoke run
executes once per suite and is shared by the claims tests, the checked-output comparison
(tests/claims/test_notebooks.py) and the book built from smoke runs."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
collect_ignore_glob = ["fixtures/*"]

os.environ.setdefault("GLOG_v", "3")


SMOKE_FIXTURES = {"smoke", "smoke_dir"}
CHROMIUM = Path("/usr/bin/chromium")
SKIP_BROWSER = "KIT_SKIP_BROWSER"


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the marks into node-id suffixes
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``pytest -n 2 --dist loadgroup`` (``make test``) every test that needs a chapter's
    smoke run goes to one worker, in order: chapters execute one at a time, each beside the
    other worker's unit tests (one busy core, the load the timing claims are made robust to),
    never two notebooks at once. Tests marked ``quiet`` (a diagnosis read off wall-clock shares,
    a test that adds its own CPU hog) join that worker too and, collected after the chapters,
    run when the other worker has mostly finished."""
    for item in items:
        if (SMOKE_FIXTURES & set(getattr(item, "fixturenames", ()))
                or item.get_closest_marker("quiet") is not None):
            item.add_marker(pytest.mark.xdist_group("chapters"))


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium for the browser tests. Missing, it fails the suite with the command
    that installs it, unless KIT_SKIP_BROWSER=1 opts out (then the skip shows in the summary)."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get(SKIP_BROWSER) == "1":
        pytest.skip(f"{SKIP_BROWSER}=1: browser tests skipped on request (chromium missing)")
    pytest.fail(f"{CHROMIUM} is missing, so the browser tests cannot run: install it with "
                f"`apt-get install -y chromium` (as root), or opt out with {SKIP_BROWSER}=1",
                pytrace=False)


@pytest.fixture(scope="session")
def squares_notebook() -> Path:
    """A small notebook that keeps the chapter contract (runner, sweep, book and UI tests)."""
    return FIXTURES / "squares.ipynb"


@pytest.fixture(scope="session")
def kit_cli() -> list[str]:
    """The command that runs ``python -m kit`` in this environment."""
    return [sys.executable, "-m", "kit"]


@contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock`` (one pytest-xdist worker at a time)."""
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def smoke_runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One runs folder for the whole suite: under pytest-xdist every worker shares it."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the folder all workers' base temps live in
    root = base / "smoke-runs"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="session")
def smoke_dir(smoke_runs_root: Path) -> Callable[..., Path]:
    """``smoke_dir("04", order=3)``: the folder of a complete run of that chapter with those
    parameters (smoke defaults for the rest), executed at most once per suite across workers.
    A failed run is remembered, so later tests fail at once with the same error."""
    from kit.core.results import is_complete
    from kit.core.runner import RunSpec, execute, resolve, validate

    def run(target: str, **params: Any) -> Path:
        resolved = resolve(target)
        validate(resolved, params)
        spec = RunSpec(resolved, params, smoke_runs_root)
        failed = smoke_runs_root / f"{resolved.name}-{spec.id}.failed.txt"
        with exclusive(smoke_runs_root / f".{resolved.name}-{spec.id}.lock"):
            if failed.exists():
                pytest.fail(f"{target} smoke run failed earlier:\n{failed.read_text()}")
            if not is_complete(spec.run_dir):
                outcome = execute(spec)
                if outcome.status != "complete":
                    failed.write_text(outcome.error)
                    pytest.fail(f"{target} failed:\n{outcome.error}")
        return spec.run_dir

    return run


@pytest.fixture(scope="session")
def smoke(smoke_dir: Callable[..., Path]) -> Callable[..., dict[str, Any]]:
    """``smoke("04", order=3)``: the results.json record of that run (see ``smoke_dir``)."""
    from kit.core.results import RESULTS_NAME, read_results

    def run(target: str, **params: Any) -> dict[str, Any]:
        return read_results(smoke_dir(target, **params) / RESULTS_NAME)

    return run
