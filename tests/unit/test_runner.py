"""kit.core.runner: parsing, validation before any kernel, execution into complete run folders."""

import json

import pytest

from kit.core import runner
from kit.core.results import read_results


def test_parse_value_types_like_papermill():
    assert [runner.parse_value(v) for v in ["3", "-2", "0.5", "1e-3", "True", "None", "abc"]] == \
        [3, -2, 0.5, 1e-3, True, None, "abc"]


def test_parse_and_expand_grid():
    grid = runner.parse_grid(["order=1,2,4", "mode=graph,pynative"])
    assert grid == {"order": [1, 2, 4], "mode": ["graph", "pynative"]}
    combos = runner.expand_grid(grid)
    assert len(combos) == 6 and combos[0] == {"order": 1, "mode": "graph"}


@pytest.mark.parametrize(("items", "message"), [
    (["order"], "grid item must look like name=v1,v2,..., got 'order'"),
    (["1x=2"], "grid item must look like"),
    (["order=1,,2"], "has an empty value"),
    (["order="], "has an empty value"),
    (["a=1", "a=2"], "grid names 'a' twice"),
    ([], "grid is empty"),
])
def test_bad_grids_are_refused(items, message):
    with pytest.raises(ValueError, match=message):
        runner.parse_grid(items)


def test_run_id_is_stable_and_order_independent():
    assert runner.run_id({"a": 1, "b": 2}) == runner.run_id({"b": 2, "a": 1})
    assert runner.run_id({"a": 1}) != runner.run_id({"a": 2})
    assert len(runner.run_id({})) == 12


def test_resolve_targets(squares_notebook, tmp_path):
    target = runner.resolve(str(squares_notebook))
    assert target.name == "squares" and target.notebook == squares_notebook
    with pytest.raises(ValueError, match="chapter must be one of 01"):
        runner.resolve("42")
    with pytest.raises(ValueError, match="notebook 'nope.ipynb' does not exist"):
        runner.resolve("nope.ipynb")
    with pytest.raises(ValueError, match="chapter must be a chapter id"):
        runner.resolve("ai_for_science")


def test_validate_refuses_unknown_and_runner_parameters(squares_notebook):
    target = runner.resolve(str(squares_notebook))
    assert runner.notebook_parameters(squares_notebook) == {
        "n": 3, "sleep": 0.0, "seed": 0, "results_path": None}
    runner.validate(target, {"n": 5})
    with pytest.raises(ValueError, match=r"unknown parameter 'm' for squares \(allowed: n, sleep"):
        runner.validate(target, {"m": 5})
    with pytest.raises(ValueError, match="results_path is set by the runner"):
        runner.validate(target, {"results_path": "x"})


@pytest.mark.slow
def test_execute_writes_a_complete_run_then_skips_it(squares_notebook, tmp_path):
    spec = runner.RunSpec(runner.resolve(str(squares_notebook)), {"n": 6}, tmp_path)
    first = runner.execute(spec)
    assert first.status == "complete" and first.metrics == {"n_squared": 36}
    names = sorted(p.name for p in spec.run_dir.iterdir())
    assert names == ["notebook.ipynb", "params.json", "results.json", "squares.png"]
    assert json.loads((spec.run_dir / "params.json").read_text()) == {"n": 6}
    assert read_results(spec.run_dir / "results.json")["params"] == {"n": 6, "sleep": 0.0,
                                                                     "seed": 0}
    assert [p.name for p in spec.run_dir.parent.iterdir()] == [spec.id]  # no staging left
    executed = (spec.run_dir / "notebook.ipynb").read_text()
    assert runner.STAGING_PREFIX not in executed and str(spec.run_dir) in executed
    again = runner.execute(spec)
    assert again.status == "skipped" and again.metrics == {"n_squared": 36}


@pytest.mark.slow
def test_a_failing_notebook_leaves_no_run_folder(squares_notebook, tmp_path):
    spec = runner.RunSpec(runner.resolve(str(squares_notebook)), {"n": -1}, tmp_path)
    outcome = runner.execute(spec)
    assert outcome.status == "failed"
    assert "n must be an int in [0, 1000], got -1" in outcome.error
    assert not spec.run_dir.exists()
    assert (tmp_path / "squares" / f"{spec.id}.failed.ipynb").is_file()
    assert outcome.attempts == 1  # a cell error is not a start-up race: no retry


@pytest.mark.slow
def test_startup_errors_are_retried_once(squares_notebook, tmp_path, monkeypatch):
    calls = []
    real = runner._execute_once

    def flaky(spec, staging, timeout):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("Kernel didn't respond in 60 seconds")
        real(spec, staging, timeout)

    monkeypatch.setattr(runner, "_execute_once", flaky)
    spec = runner.RunSpec(runner.resolve(str(squares_notebook)), {"n": 2}, tmp_path)
    outcome = runner.execute(spec)
    assert outcome.status == "complete" and outcome.attempts == 2 and len(calls) == 2


def test_stale_staging_of_dead_processes_is_cleaned(tmp_path):
    dead = tmp_path / f"{runner.STAGING_PREFIX}abc123-999999999-deadbeef"
    live = tmp_path / f"{runner.STAGING_PREFIX}abc123-1-deadbeef"  # pid 1 is alive
    dead.mkdir()
    live.mkdir()
    assert runner.clean_stale_staging(tmp_path) == [dead]
    assert live.exists() and not dead.exists()


@pytest.mark.slow
def test_a_cell_timeout_is_retried_once_then_fails(squares_notebook, tmp_path):
    spec = runner.RunSpec(runner.resolve(str(squares_notebook)), {"sleep": 4.0}, tmp_path)
    outcome = runner.execute(spec, timeout=2)
    assert outcome.status == "failed" and outcome.attempts == 2
    assert "CellTimeoutError" in outcome.error
    assert not spec.run_dir.exists()
