"""kit.core.results: atomic writes, JSON conversion, the record, load_runs."""

import json
import os

import numpy as np
import pytest

from kit.core import results


def test_atomic_write_replaces_whole_file_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "sub" / "x.json"
    results.atomic_write_text(target, "one")
    results.atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.json"]
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    results.atomic_write_text(target, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        results.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_to_jsonable_converts_numpy_and_marks_nonfinite():
    where: list[str] = []
    out = results.to_jsonable({"a": np.float32(1.5), "b": np.arange(3), "c": (1, float("nan")),
                               "d": {"e": np.inf}}, "m", where)
    assert out == {"a": 1.5, "b": [0, 1, 2], "c": [1, None], "d": {"e": None}}
    assert where == ["m.c[1]", "m.d.e"]
    with pytest.raises(TypeError, match="metric 'x' must be a number"):
        results.to_jsonable(object(), "metric 'x'")


def test_recorder_saves_a_complete_record(tmp_path):
    path = tmp_path / "run" / "results.json"
    rec = results.Recorder("04", {"order": 3, "results_path": str(path)}, path)
    rec.metric("error", np.float64(1e-3))
    rec.log(ratio=2.5, matrix=[[1, 2], [3, 4]])
    rec.timing("fit", 1.25)
    rec.headline("error", anchor="Raissi 2019, Burgers", anchor_value=6.7e-4)
    assert rec.save() == path
    data = json.loads(path.read_text())
    assert data["status"] == "complete" and data["chapter"] == "04"
    assert data["params"] == {"order": 3}  # results_path is the runner's, not the science's
    assert data["metrics"] == {"error": 1e-3, "ratio": 2.5, "matrix": [[1, 2], [3, 4]]}
    assert data["timings"] == {"fit": 1.25}
    assert data["headline"][0]["anchor_value"] == 6.7e-4
    assert data["versions"]["mindspore"] == "2.10.0"
    assert results.is_complete(path.parent)


def test_recorder_refuses_bad_input_early(tmp_path):
    rec = results.Recorder("01", {}, None)
    with pytest.raises(KeyError, match="headline 'acc' is not a recorded metric"):
        rec.headline("acc", anchor="x")
    with pytest.raises(ValueError, match="timing 'fit' must be a number of seconds >= 0"):
        rec.timing("fit", -1)
    with pytest.raises(TypeError):
        rec.metric("bad", {1, 2})
    assert rec.save() is None and rec.folder is None


def test_recorder_figure_goes_to_the_run_folder(tmp_path):
    import matplotlib.pyplot as plt

    rec = results.Recorder("01", {}, tmp_path / "results.json")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    assert rec.figure(fig, "curve") is None
    assert (tmp_path / "curve.png").stat().st_size > 1000
    assert rec.figures == ["curve.png"]
    interactive = results.Recorder("01", {})
    interactive.figure(fig, "curve")
    assert interactive.figures == []


def test_read_results_names_the_broken_file(tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=str(bad)):
        results.read_results(bad)
    bad.write_text(json.dumps({"status": "running"}))
    with pytest.raises(ValueError, match="not a complete kit record"):
        results.read_results(bad)
    assert not results.is_complete(tmp_path)


def test_load_runs_tabulates_complete_runs_and_skips_staging(tmp_path):
    for i, order in enumerate([1, 2]):
        rec = results.Recorder("04", {"order": order}, tmp_path / "04" / f"r{i}" / "results.json")
        rec.log(err=10.0 ** -order, curve=[1, 2])
        rec.save()
    staged = tmp_path / "04" / ".staging-x" / "results.json"
    staged.parent.mkdir()
    staged.write_text("{half")
    table = results.load_runs(tmp_path)
    assert list(table["param.order"]) == [1, 2]
    assert list(table["metric.err"]) == [0.1, 0.01]
    assert "metric.curve" not in table.columns
    assert results.load_runs(tmp_path / "empty").empty


def test_spread_records_the_median_with_its_range(tmp_path):
    rec = results.Recorder("99", {"seed": 0}, tmp_path / "results.json")
    assert rec.spread("acc", [0.9, 0.7, 0.8], "seeds") == 0.8
    rec.spread("speedup", [3.0, 5.0, 4.0, 6.0, 2.0], "timing rounds")
    rec.metric("count", 7)
    rec.deterministic("count")
    data = results.read_results(rec.save())
    assert data["metrics"]["acc"] == 0.8 and data["metrics"]["speedup"] == 4.0
    acc = data["spread"]["acc"]
    assert (acc["n"], acc["median"], acc["min"], acc["max"], acc["source"]) == (
        3, 0.8, 0.7, 0.9, "seeds")
    assert "std" not in acc  # only from 5 draws on
    assert data["spread"]["speedup"]["std"] == pytest.approx(np.std([2, 3, 4, 5, 6], ddof=1))
    assert data["spread"]["speedup"]["samples"] == [3.0, 5.0, 4.0, 6.0, 2.0]
    assert data["spread"]["count"] == {"deterministic": True}


def test_spread_refuses_bad_input():
    rec = results.Recorder("99", {})
    with pytest.raises(ValueError, match="source must be one of seeds, timing rounds, got 'runs'"):
        rec.spread("acc", [1.0], "runs")
    with pytest.raises(ValueError, match="samples must be one or more finite numbers"):
        rec.spread("acc", [], "seeds")
    with pytest.raises(ValueError, match="samples must be one or more finite numbers"):
        rec.spread("acc", [1.0, float("nan")], "seeds")
    with pytest.raises(KeyError, match="deterministic 'nope' is not a recorded metric"):
        rec.deterministic("nope")


def test_headline_records_which_way_is_better():
    rec = results.Recorder("99", {})
    rec.metric("err", 0.1)
    rec.headline("err", anchor="paper", anchor_value=0.05, better="lower")
    assert rec.headlines[0]["better"] == "lower"
    with pytest.raises(ValueError, match="better must be 'higher', 'lower' or None, got 'up'"):
        rec.headline("err", anchor="paper", better="up")
    rec.headline("err", anchor="paper, MNIST", anchor_value=0.05, same_data=True)
    assert rec.headlines[-1]["same_data"] is True and "same_data" not in rec.headlines[0]
    with pytest.raises(ValueError, match="same_data must be True or False, got 'yes'"):
        rec.headline("err", anchor="paper", same_data="yes")


def test_median_draw_picks_the_middle_run_and_refuses_none():
    runs = [{"seed": s, "err": e} for s, e in enumerate([0.3, 0.1, 0.2, 0.4])]
    assert results.median_draw(runs[:3], lambda r: r["err"])["seed"] == 2
    assert results.median_draw(runs, lambda r: r["err"])["seed"] == 2  # lower middle
    assert results.median_draw(runs[:1], lambda r: r["err"])["seed"] == 0
    with pytest.raises(ValueError, match="draws"):
        results.median_draw([], lambda r: r)
