"""Papermill execution of chapters: single runs and resumable sweeps (design section 4).

A run of notebook ``NN`` with parameters ``p`` lives in ``runs/NN/<hash(p)>/`` with the executed
``notebook.ipynb``, ``results.json`` and ``params.json``. It executes in a hidden staging folder
that is renamed into place only once the notebook has written a complete ``results.json``, so a
folder under its final name is always a complete run: a killed sweep loses at most the runs in
flight, and a resumed sweep skips every complete one.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import itertools
import json
import multiprocessing as mp
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd

from kit.core import chapters
from kit.core.results import (
    RESULTS_NAME,
    atomic_write_text,
    is_complete,
    is_scalar,
    read_results,
)

RUNNER_PARAMS = ("results_path",)  # set by the runner, never by the user
# A cell that runs longer is stopped, rather than hanging a sweep forever: chapters' longest
# cells take about a minute at book settings. Rarely (about 1 run in 50 here) nbclient waits
# forever for an execute_reply the kernel never delivers, always in a widget cell (nbclient
# #312); such a run times out and is retried once.
DEFAULT_CELL_TIMEOUT = 600.0
STAGING_PREFIX = ".staging-"


@dataclass(frozen=True)
class Target:
    """What to execute: a chapter's notebook, or any notebook path (fixtures, your own)."""

    name: str
    notebook: Path


def resolve(target: str) -> Target:
    """``"04"`` -> chapter 04's notebook; ``"path/x.ipynb"`` -> that notebook. Clear errors."""
    if re.fullmatch(r"\d{1,2}", target):
        ch = chapters.chapter(target)
        if not ch.exists:
            raise ValueError(f"chapter {ch.id} ({ch.title}) has no notebook yet: "
                             f"{ch.notebook.relative_to(chapters.ROOT)} does not exist")
        return Target(ch.id, ch.notebook)
    path = Path(target)
    if path.suffix == ".ipynb":
        if not path.is_file():
            raise ValueError(f"notebook {target!r} does not exist")
        return Target(path.stem, path.resolve())
    raise ValueError(f"chapter must be a chapter id ({', '.join(chapters.BY_ID)}) "
                     f"or a path to an .ipynb file, got {target!r}")


def parse_value(text: str) -> Any:
    """A command-line value as papermill reads ``-p``: True/False/None, int, float, else str."""
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["order=1,2,4", "mode=graph"]`` -> ``{"order": [1, 2, 4], "mode": ["graph"]}``."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ValueError(f"grid item must look like name=v1,v2,..., got {item!r}")
        parts = [v.strip() for v in values.split(",")]
        if not values.strip() or any(not v for v in parts):
            raise ValueError(f"grid item {item!r} has an empty value; write name=v1,v2,...")
        if name in grid:
            raise ValueError(f"grid names {name!r} twice; give all its values in one item")
        grid[name] = [parse_value(v) for v in parts]
    if not grid:
        raise ValueError("grid is empty; give at least one name=v1,v2,... item")
    return grid


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in a stable order."""
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


def run_id(params: Mapping[str, Any]) -> str:
    """A short, stable hash of the parameters (order-independent)."""
    text = json.dumps(dict(params), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def notebook_parameters(notebook: Path) -> dict[str, Any]:
    """The names and defaults of the notebook's ``parameters`` cell."""
    import papermill

    nb = nbformat.read(notebook, as_version=4)
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise ValueError(f"{notebook} has no cell tagged 'parameters'")
    inspected = papermill.inspect_notebook(str(notebook))
    return {name: ast.literal_eval(info["default"]) for name, info in inspected.items()}


def _spec_for(notebook: Path) -> Any:
    """The ``kit.core.params.Spec`` named in notebook metadata ``kit.params`` ("module:NAME")."""
    nb = nbformat.read(notebook, as_version=4)
    ref = nb.metadata.get("kit", {}).get("params")
    if not ref:
        return None
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def validate(target: Target, params: Mapping[str, Any]) -> None:
    """Refuse unknown names (and, where the chapter declares a Spec, bad values) up front."""
    declared = notebook_parameters(target.notebook)
    problems = []
    for name in params:
        if name in RUNNER_PARAMS:
            problems.append(f"{name} is set by the runner; do not pass it")
        elif name not in declared:
            allowed = ", ".join(n for n in declared if n not in RUNNER_PARAMS)
            problems.append(f"unknown parameter {name!r} for {target.name} (allowed: {allowed})")
    if problems:
        raise ValueError("; ".join(problems))
    spec = _spec_for(target.notebook)
    if spec is not None:
        spec.check_values(dict(params))


@dataclass(frozen=True)
class RunSpec:
    """One execution: which notebook, with which parameters, under which runs folder."""

    target: Target
    params: dict[str, Any]
    runs_root: Path

    @property
    def id(self) -> str:
        return run_id(self.params)

    @property
    def run_dir(self) -> Path:
        return self.runs_root / self.target.name / self.id


@dataclass
class RunOutcome:
    """What happened to one RunSpec."""

    spec: RunSpec
    status: str  # "complete" (ran now), "skipped" (complete before), "failed"
    seconds: float = 0.0
    error: str = ""
    attempts: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)


def _is_retryable(err: BaseException) -> bool:
    """Kernel launch races (zmq 'Address already in use', no kernel_info reply) and cell
    timeouts (a lost execute_reply); not errors raised by the notebook's own code."""
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, CellTimeoutError):
        return True
    if isinstance(err, PapermillExecutionError):
        return False
    text = f"{type(err).__name__}: {err}".lower()
    return any(s in text for s in ("zmqerror", "address already in use", "kernel didn't respond",
                                   "kernel died", "kernel_info", "timeouterror"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_staging(folder: Path) -> list[Path]:
    """Remove staging folders left by killed runs of this machine (their process is gone)."""
    removed = []
    for staging in folder.glob(f"{STAGING_PREFIX}*"):
        match = re.fullmatch(rf"{STAGING_PREFIX}[0-9a-f]+-(\d+)-[0-9a-f]+", staging.name)
        if match and not _pid_alive(int(match.group(1))):
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(staging)
    return removed


def _execute_once(spec: RunSpec, staging: Path, timeout: float | None) -> None:
    import papermill

    params = dict(spec.params, results_path=str(staging / RESULTS_NAME))
    papermill.execute_notebook(
        str(spec.target.notebook), str(staging / "notebook.ipynb"), parameters=params,
        kernel_name="python3", cwd=str(staging), progress_bar=False, log_output=False,
        execution_timeout=DEFAULT_CELL_TIMEOUT if timeout is None else timeout)


def execute(spec: RunSpec, timeout: float | None = None, retries: int = 1) -> RunOutcome:
    """Run one spec unless it is already complete; retry start-up failures and timeouts once."""
    if is_complete(spec.run_dir):
        metrics = read_results(spec.run_dir / RESULTS_NAME)["metrics"]
        return RunOutcome(spec, "skipped", metrics=metrics)
    spec.run_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = spec.run_dir.parent / (f"{STAGING_PREFIX}{spec.id}-{os.getpid()}-"
                                     f"{uuid.uuid4().hex[:8]}")
    start = time.perf_counter()
    attempts, error = 0, ""
    try:
        while True:
            attempts += 1
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            try:
                _execute_once(spec, staging, timeout)
                break
            except Exception as err:  # papermill raises many kinds; sort them below
                if attempts <= retries and _is_retryable(err):
                    continue
                error = f"{type(err).__name__}: {err}"
                break
        if not error and not is_complete(staging):
            error = (f"{spec.target.notebook.name} finished without writing a complete "
                     f"{RESULTS_NAME} (does its Record cell call Recorder.save()?)")
        seconds = time.perf_counter() - start
        if error:
            _keep_failed_notebook(staging, spec)
            return RunOutcome(spec, "failed", seconds, error.strip()[:2000], attempts)
        _point_notebook_at(staging / "notebook.ipynb", staging, spec.run_dir)
        atomic_write_text(staging / "params.json", json.dumps(spec.params, indent=2) + "\n")
        if spec.run_dir.exists():  # only an incomplete leftover can be here
            shutil.rmtree(spec.run_dir)
        os.rename(staging, spec.run_dir)
        metrics = read_results(spec.run_dir / RESULTS_NAME)["metrics"]
        return RunOutcome(spec, "complete", seconds, attempts=attempts, metrics=metrics)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _point_notebook_at(notebook: Path, staging: Path, run_dir: Path) -> None:
    """Make the executed notebook name the run folder it will live in, not the staging one."""
    text = notebook.read_text(encoding="utf-8")
    atomic_write_text(notebook, text.replace(str(staging), str(run_dir)))


def _keep_failed_notebook(staging: Path, spec: RunSpec) -> None:
    """Keep the failed execution as ``<id>.failed.ipynb`` beside the runs, for debugging."""
    executed = staging / "notebook.ipynb"
    if executed.exists():
        shutil.copyfile(executed, spec.run_dir.parent / f"{spec.id}.failed.ipynb")


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="run", disable=not enabled, file=sys.stderr)


def run_all(specs: Sequence[RunSpec], workers: int = 1, dask_address: str | None = None,
            timeout: float | None = None, progress: bool = True) -> list[RunOutcome]:
    """Execute specs in a process pool (or on a Dask cluster); outcomes in the specs' order."""
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    for folder in {s.run_dir.parent for s in specs}:
        clean_stale_staging(folder)
    todo = [s for s in specs if not is_complete(s.run_dir)]
    # keyed by run folder: the id hashes the parameters only, so two chapters at their smoke
    # defaults share one
    outcomes: dict[Path, RunOutcome] = {
        s.run_dir: RunOutcome(s, "skipped",
                              metrics=read_results(s.run_dir / RESULTS_NAME)["metrics"])
        for s in specs if s not in todo}
    desc = specs[0].target.name if specs else "runs"
    with _progress(len(specs), desc, progress) as bar:
        bar.update(len(outcomes))
        for outcome in _dispatch(todo, workers, dask_address, timeout):
            outcomes[outcome.spec.run_dir] = outcome
            bar.update(1)
    return [outcomes[s.run_dir] for s in specs]


def _dispatch(todo: Sequence[RunSpec], workers: int, dask_address: str | None,
              timeout: float | None) -> Iterable[RunOutcome]:
    if not todo:
        return
    if dask_address:
        from distributed import Client
        from distributed import as_completed as dask_completed

        with Client(dask_address) as client:
            futures = [client.submit(execute, s, timeout, pure=False) for s in todo]
            for future in dask_completed(futures):
                yield future.result()
        return
    if workers == 1:
        for spec in todo:
            yield execute(spec, timeout)
        return
    # spawn, not fork: a forked child inherits the parent's threads and zmq/asyncio state
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(execute, s, timeout) for s in todo]
        for future in as_completed(futures):
            yield future.result()


def summary(outcomes: Sequence[RunOutcome]) -> pd.DataFrame:
    """One row per run: parameters, status, seconds, scalar metrics, run folder."""
    rows = []
    for o in outcomes:
        row: dict[str, Any] = dict(o.spec.params)
        row.update(status=o.status, seconds=round(o.seconds, 1))
        row.update({k: v for k, v in o.metrics.items() if is_scalar(v)})
        row["run"] = str(o.spec.run_dir)
        if o.error:
            row["error"] = o.error.splitlines()[0][:200]
        rows.append(row)
    return pd.DataFrame(rows)


def sweep(target: Target, grid: Mapping[str, Sequence[Any]], base: Mapping[str, Any] | None = None,
          runs_root: Path = chapters.RUNS, workers: int = 1, dask_address: str | None = None,
          timeout: float | None = None, progress: bool = True,
          on_table: Callable[[pd.DataFrame, Path], None] | None = None) -> pd.DataFrame:
    """Run every combination of ``grid`` (over ``base`` parameters); save the summary as CSV."""
    base = dict(base or {})
    combos = [dict(base, **combo) for combo in expand_grid(grid)]
    for combo in combos:
        validate(target, combo)
    specs = [RunSpec(target, combo, Path(runs_root)) for combo in combos]
    table = summary(run_all(specs, workers, dask_address, timeout, progress))
    grid_id = run_id({"grid": {k: list(v) for k, v in grid.items()}, "base": base})
    csv = Path(runs_root) / target.name / f"sweep-{grid_id}.csv"
    atomic_write_text(csv, table.to_csv(index=False))
    if on_table is not None:
        on_table(table, csv)
    return table
