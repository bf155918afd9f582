"""Sweeps: killed with SIGKILL and resumed without losing or half-writing a run; on Dask too."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kit.core.results import is_complete, load_runs

pytestmark = pytest.mark.slow
GRID = ["n=1,2,3,4"]


def run_dirs(runs: Path) -> list[Path]:
    folder = runs / "squares"
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.exists() else []


def wait_for_first_complete(runs: Path, proc: subprocess.Popen, limit: float = 180) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if any(is_complete(d) for d in run_dirs(runs) if not d.name.startswith(".")):
            return
        assert proc.poll() is None, "the sweep ended before any run completed"
        time.sleep(0.2)
    raise AssertionError("no run completed in time")


def sweep_cmd(kit_cli, notebook, runs, *extra):
    return [*kit_cli, "sweep", str(notebook), "--grid", *GRID, "-p", "sleep", "1.5",
            "--runs", str(runs), "--no-progress", *extra]


def test_sigkill_then_resume_loses_nothing_and_leaves_nothing_half_written(
        kit_cli, squares_notebook, tmp_path):
    runs = tmp_path / "runs"
    proc = subprocess.Popen(sweep_cmd(kit_cli, squares_notebook, runs),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for_first_complete(runs, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finals = [d for d in run_dirs(runs) if not d.name.startswith(".")]
    assert 1 <= len(finals) < 4
    assert all(is_complete(d) for d in finals), "a folder under its final name is incomplete"
    before = {d.name: (d / "results.json").stat().st_mtime_ns for d in finals}

    resumed = subprocess.run(sweep_cmd(kit_cli, squares_notebook, runs, "--workers", "2"),
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("skipped") == len(before)
    after = run_dirs(runs)
    assert [d.name for d in after if d.name.startswith(".")] == []  # staging cleaned
    assert len(after) == 4 and all(is_complete(d) for d in after)
    for name, mtime in before.items():
        assert (runs / "squares" / name / "results.json").stat().st_mtime_ns == mtime
    table = load_runs(runs)
    assert sorted(zip(table["param.n"], table["metric.n_squared"], strict=True)) == \
        [(1, 1), (2, 4), (3, 9), (4, 16)]
    (summary,) = (runs / "squares").glob("sweep-*.csv")
    rows = list(csv.DictReader(summary.open()))
    assert len(rows) == 4 and {r["status"] for r in rows} <= {"complete", "skipped"}


def test_the_same_grid_runs_on_a_dask_local_cluster(kit_cli, squares_notebook, tmp_path):
    from distributed import LocalCluster

    runs = tmp_path / "runs"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        out = subprocess.run(sweep_cmd(kit_cli, squares_notebook, runs,
                                       "--dask", cluster.scheduler_address),
                             capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("complete") == 4
    table = load_runs(runs)
    assert sorted(table["metric.n_squared"]) == [1, 4, 9, 16]
