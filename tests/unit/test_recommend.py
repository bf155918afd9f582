"""Chapter 10 (kit.recommend): meta-features, regret, portfolio, store, advisor, bad input."""

from __future__ import annotations

import gzip
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kit.recommend import advisor as adv
from kit.recommend import history as h
from kit.recommend import hpo

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- meta-features ----

def test_meta_features_of_a_known_task():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(-3, 1, (60, 3)), rng.normal(3, 1, (30, 3))])
    y = np.array([0] * 60 + [1] * 30)
    mf = h.meta_features(x, y)
    assert set(mf) == set(h.META_FEATURES)
    assert mf["log_n"] == pytest.approx(np.log(90))
    assert mf["log_d"] == pytest.approx(np.log(3))
    assert mf["n_classes"] == 2
    assert mf["minority_share"] == pytest.approx(1 / 3)
    p = np.array([2 / 3, 1 / 3])
    assert mf["class_entropy"] == pytest.approx(-(p * np.log(p)).sum() / np.log(2))
    # well separated: every landmarker is (nearly) perfect
    assert mf["nn1_error"] < 0.05 and mf["linear_error"] < 0.05 and mf["stump_error"] < 0.1


def test_meta_features_landmarkers_see_difficulty():
    easy = h.make_task("moons_01")
    hard = h.make_task("clf_hard")
    assert h.meta_features(easy.x, easy.y)["nn1_error"] < h.meta_features(hard.x,
                                                                          hard.y)["nn1_error"]


def test_meta_features_reject_bad_shapes():
    with pytest.raises(ValueError, match="x must be"):
        h.meta_features(np.zeros((3, 2)), np.zeros(3))


def test_tasks_are_deterministic_and_fit_the_padding():
    assert len(h.TASK_NAMES) >= 20
    for name in ("digits_down4", "wine_noise", "blobs_8"):
        a, b = h.make_task(name), h.make_task(name)
        assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
        assert a.x.shape[1] <= h.IN_DIM and a.n_classes <= h.OUT_DIM
    with pytest.raises(ValueError, match="task must be one of"):
        h.make_task("mnist")


# ---------------------------------------------------------------- regret, ranks ----

def test_normalised_regret_by_hand():
    errors = np.array([0.5, 0.1, 0.3, 0.9])
    r = hpo.normalised_regret(errors, [0, 2, 3, 1])
    np.testing.assert_allclose(r, [0.5, 0.25, 0.25, 0.0])
    assert np.all(np.diff(r) <= 0)
    np.testing.assert_allclose(hpo.normalised_regret(np.ones(3), [0, 1]), [0, 0])
    with pytest.raises(ValueError, match="trace"):
        hpo.normalised_regret(errors, [])


def _toy_table(n_tasks: int = 6, seed: int = 0) -> hpo.Table:
    rng = np.random.default_rng(seed)
    configs = h.grid()
    meta = rng.normal(size=(n_tasks, len(h.META_FEATURES)))
    errors = rng.random((n_tasks, len(configs)))
    curves = np.sort(rng.random((n_tasks, len(configs), 4)), axis=-1)[..., ::-1]
    curves[..., -1] = errors
    return hpo.Table(tuple(f"t{i}" for i in range(n_tasks)), tuple(configs), errors, curves,
                     meta)


def test_mean_ranks_and_reduction():
    table = _toy_table()
    ev = hpo.evaluate(table, budget=20, seeds=1)
    ranks = hpo.mean_ranks(ev, 10)
    assert set(ranks) == set(hpo.METHODS)
    assert sum(ranks.values()) == pytest.approx(len(hpo.METHODS) * (len(hpo.METHODS) + 1) / 2)
    point, lo, hi = hpo.reduction_ci(ev, "warm_tpe", "cold_tpe", 10)
    assert lo <= point <= hi
    with pytest.raises(ValueError, match="at must be"):
        hpo.mean_ranks(ev, 21)
    with pytest.raises(ValueError, match="budget"):
        hpo.evaluate(table, budget=0)


def test_knn_recommends_the_best_config_of_an_identical_task():
    table = _toy_table()
    # task 0's twin: same meta-features and errors as task 1
    errors = table.errors.copy()
    meta = table.meta.copy()
    errors[0], meta[0] = errors[1], meta[1]
    table = hpo.Table(table.tasks, table.configs, errors, table.curves, meta)
    order, neigh = hpo.knn_ranking(table, [1, 2, 3, 4, 5], meta[0], k=1)
    assert neigh == [1] and order[0] == int(np.argmin(errors[1]))
    with pytest.raises(ValueError, match="k must be"):
        hpo.knn_ranking(table, [1, 2], meta[0], k=3)


# ----------------------------------------------------------------- the portfolio ----

@pytest.mark.parametrize("seed", range(5))
def test_greedy_portfolio_against_brute_force(seed):
    regret = np.random.default_rng(seed).random((5, 7))
    for size in (1, 2, 3):
        greedy = hpo.greedy_portfolio(regret, size)
        best, value = hpo.brute_force_portfolio(regret, size)
        assert len(set(greedy)) == size
        g = hpo.portfolio_value(regret, greedy)
        if size == 1:
            assert g == pytest.approx(value)
        # submodular greedy: within (1 - 1/e) of the optimal reduction from the empty set
        base = regret.max()
        assert base - g >= (1 - 1 / np.e) * (base - value) - 1e-12


def test_portfolio_covers_disjoint_tasks():
    # three tasks, each solved by a different config: a size-3 portfolio covers all
    regret = np.ones((3, 5))
    regret[0, 1] = regret[1, 3] = regret[2, 4] = 0.0
    assert sorted(hpo.greedy_portfolio(regret, 3)) == [1, 3, 4]
    assert hpo.portfolio_value(regret, [1, 3, 4]) == 0.0
    with pytest.raises(ValueError, match="size"):
        hpo.greedy_portfolio(regret, 6)


def test_successive_halving_and_rung_calibration():
    table = _toy_table()
    # curves whose first epoch already ranks like the last -> rung 1
    curves = np.repeat(table.errors[..., None], 4, axis=-1)
    assert hpo.calibrate_rung(curves) == 1
    chosen, frac = hpo.successive_halving(curves[0], list(range(9)), rung=1, keep=1 / 3)
    assert chosen == int(np.argmin(table.errors[0, :9]))
    assert frac == pytest.approx((9 * 1 + 3 * 3) / (9 * 4))


# ------------------------------------------------------------ the space, bad input ----

def test_grid_is_full_factorial():
    g = h.grid()
    assert len(g) == np.prod([len(v) for v in h.SPACE.values()])
    assert len({h.config_key(c) for c in g}) == len(g)


@pytest.mark.parametrize("name, values, match", [
    ("lr", (0.3, 0.03), "strictly ascending"),
    ("width", (64, 16), "strictly ascending"),
    ("optimizer", ("sgd", "lbfgs"), "optimizer must be one of sgd, momentum, adam, got 'lbfgs'"),
    ("batch", (), "at least one value"),
    ("lr", (-0.1, 0.1), "positive"),
])
def test_bad_search_spaces(name, values, match):
    space = dict(h.SPACE)
    space[name] = values
    with pytest.raises(ValueError, match=match):
        h.check_space(space)


def test_inverted_range_and_unknown_optimizer():
    with pytest.raises(ValueError, match=r"range 'lr' must have low < high, got low=0.1"):
        h.check_range("lr", 0.1, 0.001)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        h.Trainer("rmsprop", 1, 16)


def test_history_of_another_schema_version_is_refused(tmp_path):
    path = tmp_path / "history.json.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(json.dumps({"schema_version": 99, "tasks": {}}).encode())
    before = path.read_bytes()
    with pytest.raises(ValueError, match="schema_version 99; this kit reads schema_version 1"):
        h.read_export(path)
    assert path.read_bytes() == before


def test_corrupt_sqlite_store_is_refused(tmp_path):
    bad = tmp_path / "store.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="not a readable SQLite file"):
        h.open_store(bad)
    assert bad.read_bytes() == b"this is not a database" * 100
    with pytest.raises(ValueError, match="does not exist"):
        h.open_store(tmp_path / "missing.sqlite", create=False)


def test_store_of_another_schema_version_is_not_overwritten(tmp_path):
    store = tmp_path / "s.sqlite"
    storage = h.open_store(store)
    import optuna

    study = optuna.create_study(study_name="history/iris", storage=storage)
    study.set_user_attr("schema_version", 0)
    with pytest.raises(ValueError, match="schema_version 0, this kit reads 1"):
        h.generate(store, ["iris"], h.grid()[:1], epochs=1)
    assert len(optuna.load_study(study_name="history/iris", storage=storage).trials) == 0


def test_shipped_history_is_verified_and_complete():
    doc = h.load_history()
    assert doc["schema_version"] == h.SCHEMA_VERSION
    assert len(doc["tasks"]) >= 20
    table = hpo.table_from_history(doc)
    assert table.errors.shape == (len(doc["tasks"]), len(h.grid()))
    assert np.all((table.errors >= 0) & (table.errors <= 1))


def test_changed_history_file_names_the_regeneration_command(tmp_path):
    from kit.datasets import DatasetError

    folder = tmp_path / "recommend"
    folder.mkdir()
    src = h.history_folder()
    (folder / "manifest.json").write_text((src / "manifest.json").read_text())
    with pytest.raises(DatasetError, match="missing; regenerate it with `python datasets/"
                                           "recommend/make_history.py`"):
        h.load_history(folder)
    (folder / h.HISTORY_FILE).write_bytes(b"changed")
    with pytest.raises(DatasetError, match=r"history.json.gz is corrupt or changed"):
        h.load_history(folder)


@pytest.mark.slow
def test_export_is_byte_stable_and_rebuilds_the_store(tmp_path):
    doc = h.load_history()
    small = {**doc, "tasks": {k: doc["tasks"][k] for k in sorted(doc["tasks"])[:2]}}
    store = tmp_path / "rebuilt.sqlite"
    n = h.store_from_export(small, store)
    assert n == sum(len(t["runs"]) for t in small["tasks"].values())
    assert h.store_from_export(small, store) == 0  # idempotent
    out1, out2 = tmp_path / "a.json.gz", tmp_path / "b.json.gz"
    h.export_history(store, out1, doc["epochs"])
    h.export_history(store, out2, doc["epochs"])
    assert out1.read_bytes() == out2.read_bytes()
    again = h.read_export(out1)
    for name in small["tasks"]:
        assert again["tasks"][name]["runs"] == small["tasks"][name]["runs"]


# --------------------------------------------------------- MindSpore training runs ----

def test_train_run_learns_and_is_reproducible():
    import kit

    kit.setup(0)
    task = h.make_task("iris")
    cfg = {"lr": 0.3, "optimizer": "momentum", "width": 16, "depth": 1, "batch": 16,
           "weight_decay": 0.0}
    a = h.train_run(task, cfg, epochs=3)
    b = h.train_run(task, cfg, epochs=3)
    assert a["curve"] == b["curve"]
    assert len(a["curve"]) == 3 and a["val_error"] < 0.5  # 3 classes: chance is 0.67
    with pytest.raises(ValueError, match="epochs"):
        h.train_run(task, cfg, epochs=0)


def _count(store: Path) -> int:
    try:
        con = sqlite3.connect(store)
        try:
            return con.execute("select count(*) from trials where state='COMPLETE'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_generator_survives_sigkill_and_resumes(tmp_path):
    store = tmp_path / "h.sqlite"
    cmd = [sys.executable, str(ROOT / "datasets/recommend/make_history.py"), "--tasks", "iris",
           "--configs", "16", "--epochs", "1", "--store", str(store), "--no-export"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while _count(store) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _count(store)
    assert 3 <= done < 16, f"kill came too late to test resumption ({done} runs)"
    storage = h.open_store(store, create=False)  # the killed store is intact
    import optuna

    kept = {t.user_attrs["config_key"]: t.value
            for t in optuna.load_study(study_name="history/iris", storage=storage).trials
            if t.state.name == "COMPLETE"}
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=300)
    trials = [t for t in optuna.load_study(study_name="history/iris", storage=storage).trials
              if t.state.name == "COMPLETE"]
    assert len(trials) == 16
    assert len({t.user_attrs["config_key"] for t in trials}) == 16
    # nothing completed was lost or redone, and the reruns reproduce the same numbers
    again = {t.user_attrs["config_key"]: t.value for t in trials}
    assert all(again[k] == v for k, v in kept.items())


# ------------------------------------------------------------------ the advisor ----

def test_diagnose_rules_on_synthetic_profiles():
    def prof(**kw):
        base = dict(steps=20, samples=1280, wall=1.0, data=0.05, compute=0.9, host=0.0,
                    first_step=0.5, step_times=[0.045] * 20, data_alone=0.001,
                    compute_alone=0.04)
        base.update(kw)
        return adv.Profile(**base)

    assert adv.diagnose(prof(), probe=lambda: 12.0).cause == "compute_bound"
    assert adv.diagnose(prof(), probe=lambda: 1.2).cause == "tiny_batch"
    assert adv.diagnose(prof(py_calls=11)).cause == "pynative"
    assert adv.diagnose(prof(host=0.4, compute=0.5)).cause == "host_sync"
    assert adv.diagnose(prof(runnable=8.0), cores=2).cause == "oversubscription"
    spiky = [0.045] * 17 + [1.0] * 3
    assert adv.diagnose(prof(step_times=spiky, shapes=4)).cause == "recompilation"
    data = dict(data=0.6, compute=0.4, data_alone=0.1)
    assert adv.diagnose(prof(**data)).cause == "per_sample_pipeline"
    assert adv.diagnose(prof(map_wall=0.8, map_cpu=0.05, **data)).cause == "io_bound_map"
    assert adv.diagnose(prof(map_wall=0.8, map_cpu=0.7, deterministic=True,
                             **data)).cause == "uncached_preprocessing"
    assert adv.diagnose(prof(map_wall=0.8, map_cpu=0.7, deterministic=False,
                             **data)).cause == "slow_python_map"


def test_fixes_change_only_the_diagnosed_knob():
    s = adv.Scenario("x", "tiny_batch", batch=2)
    assert adv.apply_fix(s, "tiny_batch").batch == 32
    assert adv.apply_fix(s, "compute_bound") is None
    assert adv.apply_fix(adv.Scenario("p", "pynative", mode="pynative"), "pynative").mode == "graph"
    with pytest.raises(ValueError, match="cause must be one of"):
        adv.apply_fix(s, "gremlins")
    with pytest.raises(ValueError, match="steps must be"):
        adv.measure(s, steps=2)


def test_vectorised_augmentation_matches_the_per_sample_shift():
    x = np.arange(64, dtype=np.float32).reshape(1, 64)
    rng = np.random.default_rng(3)
    out = adv._augment_batch(x, rng)
    assert out.shape == (1, 64) and np.abs(out - x).max() < 64


@pytest.mark.slow
@pytest.mark.quiet  # the diagnosis reads time shares: not beside a chapter on the other core
@pytest.mark.parametrize("scenario", adv.scenarios(), ids=lambda s: s.cause)
def test_advisor_on_each_scenario_at_smoke_size(scenario):
    import kit

    kit.setup(0)
    out = adv.advise(scenario, steps=15)
    assert out.before.steps == 15 and out.before.wall > 0
    assert abs(sum(out.before.shares().values()) - 1.0) < 1e-6
    assert out.diagnosis.cause == scenario.cause, out.diagnosis.evidence
    if scenario.cause == "compute_bound":
        assert out.after is None
    else:
        assert out.speedup is not None and out.speedup > 1.0


# ------------------------------------------- task families, grouped evaluation (#24.2) ----

FAMILY_TASKS = ("digits", "digits_a", "digits_b", "iris", "wine", "wine_x", "moons")


def _family_table(seed: int = 0) -> hpo.Table:
    """A toy table whose names form families (digits x3, wine x2, iris, moons); every digits
    variant is an exact twin (errors and meta-features) of ``digits``."""
    base = _toy_table(len(FAMILY_TASKS), seed)
    errors, meta = base.errors.copy(), base.meta.copy()
    for i in (1, 2):
        errors[i], meta[i] = errors[0], meta[0]
    return hpo.Table(FAMILY_TASKS, base.configs, errors, base.curves, meta)


def test_family_is_the_name_prefix():
    assert h.family("digits_0to4") == "digits" and h.family("digits") == "digits"
    assert h.family("clf_hard") == "clf" and h.family("wine_noise") == "wine"
    fams = h.families(h.TASK_NAMES)
    assert len(fams["digits"]) == 8 and all(n.startswith("digits") for n in fams["digits"])
    assert sum(len(v) for v in fams.values()) == len(h.TASK_NAMES)
    for bad in ("", "__", None, 3):
        with pytest.raises(ValueError, match="task_name must be"):
            h.family(bad)


def test_family_grouping_never_trains_on_the_targets_family():
    table = _family_table()
    ev = hpo.evaluate(table, budget=20, seeds=1, k=1, n_warm=5, protocol="family")
    assert ev.protocol == "family"
    for name in FAMILY_TASKS:
        fam = h.family(name)
        assert all(h.family(t) != fam for t in ev.train[name]), (name, ev.train[name])
        assert all(h.family(t) != fam for t in ev.neighbours[name])
        # every task of another family is used
        assert set(ev.train[name]) == {t for t in FAMILY_TASKS if h.family(t) != fam}
    # leave-one-task-out keeps the twins: kNN's nearest task is a twin, its best config first
    loto = hpo.evaluate(table, budget=20, seeds=1, k=1, n_warm=5, protocol="task")
    assert "digits_a" in loto.train["digits"] and loto.neighbours["digits"][0] in ("digits_a",
                                                                                   "digits_b")
    assert loto.regret["knn"][0, 0, 0] == 0.0
    assert hpo.training_tasks(table, "wine", "family") == [0, 1, 2, 3, 6]
    with pytest.raises(ValueError, match="protocol must be one of"):
        hpo.evaluate(table, protocol="random")
    one_family = hpo.Table(("a", "a_1", "a_2"), table.configs, table.errors[:3],
                           table.curves[:3], table.meta[:3])
    with pytest.raises(ValueError, match="leaves no training task"):
        hpo.training_tasks(one_family, "a_1")


def _hand_evaluation() -> hpo.Evaluation:
    # 4 tasks x 3 seeds x budget 2; method "a" halves "b"'s regret on every pair
    b = np.array([[[0.4, 0.2], [0.6, 0.3], [0.8, 0.4]]] * 4) + np.arange(4)[:, None, None] * 0.1
    regret = {"a": b / 2, "b": b, "c": b.copy()}
    return hpo.Evaluation(regret, ("digits", "digits_x", "iris", "wine"), 2, 3, 0.0, {}, "family")


def test_per_seed_summaries_by_hand():
    ev = _hand_evaluation()
    np.testing.assert_allclose(hpo.reduction_per_seed(ev, "a", "b", 2), [0.5, 0.5, 0.5])
    np.testing.assert_allclose(hpo.regret_per_seed(ev, "b", 1),
                               [0.4 + 0.15, 0.6 + 0.15, 0.8 + 0.15])
    ranks = hpo.ranks_per_seed(ev, "a", 1)
    np.testing.assert_allclose(ranks, [1.0, 1.0, 1.0])  # best of three on every task
    np.testing.assert_allclose(hpo.ranks_per_seed(ev, "b", 1), [2.5, 2.5, 2.5])  # tie with c
    sub = ev.subset(["iris", "wine"])
    assert sub.tasks == ("iris", "wine") and sub.regret["a"].shape == (2, 3, 2)
    with pytest.raises(ValueError, match="tasks must be a non-empty subset"):
        ev.subset(["mnist"])
    with pytest.raises(ValueError, match="method must be one of"):
        hpo.regret_per_seed(ev, "tpe", 1)
    with pytest.raises(ValueError, match="at must be"):
        hpo.reduction_per_seed(ev, "a", "b", 3)


def test_paired_wilcoxon_and_separation():
    ev = _hand_evaluation()
    same = hpo.paired_wilcoxon(ev, "b", "c", 2)
    assert same["n"] == 12 and same["n_differ"] == 0 and same["p"] == 1.0
    better = hpo.paired_wilcoxon(ev, "a", "b", 2)
    assert better["n_differ"] == 12 and better["median_diff"] < 0 and better["p"] < 0.01
    assert hpo.significant_budgets(ev, "a", "b") == [1, 2]
    assert hpo.separation_budget(ev, "a", "b") == 1
    assert hpo.separation_budget(ev, "b", "c") is None
    with pytest.raises(ValueError, match="alpha must be"):
        hpo.separation_budget(ev, "a", "b", alpha=1.5)


def test_cold_curves_continue_the_evaluations_traces():
    table = _toy_table()
    ev = hpo.evaluate(table, budget=20, seeds=2)
    cold = hpo.cold_curves(table, budget=30, seeds=2)
    for m in ("random", "cold_tpe"):
        assert cold.regret[m].shape == (6, 2, 30)
        np.testing.assert_array_equal(cold.regret[m][:, :, :20], ev.regret[m])
        assert np.all(np.diff(cold.regret[m], axis=-1) <= 0)
    summary = hpo.cold_vs_random(cold, at=10)
    assert summary["cold_tpe_vs_random_pairs"] == 12 and summary["cold_budget"] == 30
    assert 0 <= summary["cold_tpe_vs_random_p_at10"] <= 1
    assert 0 <= summary["cold_tpe_vs_random_budgets_significant"] <= 30
    from kit.recommend import chapter

    assert list(chapter.cold_table(cold)["evaluations"]) == [5, 10, 20, 30]
    with pytest.raises(ValueError, match="budget must be"):
        hpo.cold_curves(table, budget=len(table.configs) + 1)


def test_protocol_table_has_one_row_per_baseline():
    from kit.recommend import chapter

    table = _family_table()
    run = dict(budget=20, seeds=2, k=1, n_warm=5)
    out = chapter.protocol_table(hpo.evaluate(table, protocol="family", **run),
                                 hpo.evaluate(table, protocol="task", **run))
    assert len(out) == len(hpo.METHODS) - 1 and out.shape[1] == 4
    grouped = hpo.evaluate(table, protocol="family", **run)
    spreads = chapter.evaluation_spreads(grouped, hpo.evaluate(table, protocol="task", **run))
    assert all(len(v) == 2 for v in spreads.values())
    assert {"regret_reduction_vs_portfolio_at10", "regret_reduction_vs_random_at10_nondigits",
            "regret_reduction_vs_cold_tpe_at10_loto", "mean_rank_at_10"} <= set(spreads)
    np.testing.assert_allclose(spreads["regret_reduction_vs_random_at10"],
                               hpo.reduction_per_seed(grouped, "warm_tpe", "random", 10))
    assert chapter.non_digits(hpo.evaluate(table, **run)).tasks == ("iris", "wine", "wine_x",
                                                                    "moons")


# ------------------------------------- advisor thresholds, fitting, held-out scenarios ----

def _prof(**kw):
    base = dict(steps=20, samples=1280, wall=1.0, data=0.05, compute=0.9, host=0.0,
                first_step=0.5, step_times=[0.045] * 20, data_alone=0.001, compute_alone=0.04,
                probe_ratio=12.0)
    base.update(kw)
    base["compute"] = 1.0 - base["data"] - base["host"]
    return adv.Profile(**base)


def test_thresholds_default_to_the_hand_values_and_are_validated():
    th = adv.Thresholds()
    assert (th.data_share, th.pipeline_ratio, th.map_load, th.map_frac, th.map_cpu_share,
            th.host_share, th.probe_ratio, th.spike_factor) == (0.35, 0.5, 0.3, 0.3, 0.15, 0.1,
                                                                4.0, 20.0)
    assert th.py_calls_eager == adv.PY_CALLS_EAGER and adv.HAND_THRESHOLDS == th
    for name, values in adv.FIT_GRID.items():
        assert getattr(th, name) in values, name
    with pytest.raises(ValueError, match="thresholds host_share must be a finite number"):
        adv.Thresholds(host_share=-0.1)
    with pytest.raises(ValueError, match="thresholds must be an advisor.Thresholds"):
        adv.diagnose(_prof(), thresholds={"host_share": 0.1})
    p = _prof(host=0.06)
    assert adv.diagnose(p).cause == "compute_bound"
    assert adv.diagnose(p, thresholds=adv.Thresholds(host_share=0.05)).cause == "host_sync"


@pytest.mark.parametrize("grid", [None, {"host_share": (0.03, 0.05, 0.2)}])
def test_fit_thresholds_recovers_a_host_share_threshold(grid):
    # host shares of host-sync jobs 6-8%, of compute-bound jobs 1-2.5%: the hand value (10%)
    # misses every host-sync job; any cut in (2.5%, 6%] separates them, 5% is nearest the hand
    profiles = [_prof(host=v) for v in (0.06, 0.07, 0.08, 0.01, 0.02, 0.025)]
    causes = ["host_sync"] * 3 + ["compute_bound"] * 3
    hand, _ = adv.score(profiles, causes)
    assert hand == 0.5
    fitted, acc = adv.fit_thresholds(profiles, causes, grid=grid)
    assert acc == 1.0 and fitted.host_share == 0.05
    assert adv.replace(fitted, host_share=0.1) == adv.HAND_THRESHOLDS  # nothing else moved
    assert adv.score(profiles, causes, fitted)[1] == causes


def test_fit_thresholds_and_score_reject_bad_input():
    profiles, causes = [_prof()], ["compute_bound"]
    with pytest.raises(ValueError, match="grid names must be Thresholds fields"):
        adv.fit_thresholds(profiles, causes, grid={"data_fraction": (0.1,)})
    with pytest.raises(ValueError, match="rounds must be an int >= 1"):
        adv.fit_thresholds(profiles, causes, rounds=0)
    with pytest.raises(ValueError, match="grid 'host_share' must hold finite numbers"):
        adv.fit_thresholds(profiles, causes, grid={"host_share": (-1.0,)})
    with pytest.raises(ValueError, match="profiles and causes must be non-empty"):
        adv.score(profiles, causes * 2)
    with pytest.raises(ValueError, match="causes must be in"):
        adv.score(profiles, ["gremlins"])


def test_heldout_scenarios_are_deterministic_new_and_cover_every_cause():
    a, b = adv.heldout_scenarios(0), adv.heldout_scenarios(0)
    assert a == b and len(a) >= 10
    assert {s.cause for s in a} == set(adv.CAUSES)
    assert a != adv.heldout_scenarios(1)
    assert len(adv.heldout_scenarios(0, per_cause=2)) == 2 * len(adv.CAUSES)
    train = {adv.replace(s, name="") for s in adv.scenarios()}
    assert not any(adv.replace(s, name="") in train for s in a)  # no training job repeated
    assert len({s.name for s in a}) == len(a)
    for s in a:  # the knobs stay inside what measure() and the data can run
        assert s.batch >= 1 and s.width >= 1 and s.workers >= 1
        assert not s.varying_shapes or s.batch > 21
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        adv.heldout_scenarios(-1)
    with pytest.raises(ValueError, match="per_cause must be an int in"):
        adv.heldout_scenarios(0, per_cause=0)


def test_heldout_experiment_fits_then_scores_without_new_training_measurements(monkeypatch):
    calls = []

    def fake_probe(s, steps=6, seed=0):
        calls.append((s.batch, s.width, s.mode, s.varying_shapes, s.lr))
        return 1.5 if s.batch <= 4 else 12.0

    held_profiles = {"host_sync": _prof(host=0.06), "tiny_batch": _prof(probe_ratio=None)}

    def fake_measure_all(items, steps=12, seed=0):
        return [held_profiles.get(s.cause, _prof(probe_ratio=None)) for s in items]

    monkeypatch.setattr(adv, "scaling_probe", fake_probe)
    monkeypatch.setattr(adv, "measure_all", fake_measure_all)
    train = [adv.Scenario("h1", "host_sync", host_every=1), adv.Scenario("c", "compute_bound"),
             adv.Scenario("t", "tiny_batch", batch=2)]
    before = [_prof(host=0.07), _prof(host=0.01, probe_ratio=None),
              _prof(probe_ratio=None)]
    outcomes = [adv.Outcome(s, p, adv.diagnose(p), None)
                for s, p in zip(train, before, strict=True)]
    held = adv.heldout_experiment(outcomes, seed=0)
    # hand: host 7% < 10% -> falls through to the probe (12x: compute-bound): 1 of 3 wrong
    assert held.train_accuracy_hand == pytest.approx(2 / 3)
    assert held.train_accuracy == 1.0 and held.fitted.host_share == 0.05
    assert len(held.scenarios) == len(adv.CAUSES) == len(held.verdicts_fitted)
    # probes are measured once per distinct train-step setup and reused
    assert len(calls) == len(set(calls))
    assert held.verdicts_fitted[adv.CAUSES.index("host_sync")] == "host_sync"
    assert held.verdicts_hand[adv.CAUSES.index("host_sync")] == "compute_bound"
    assert held.accuracy >= held.accuracy_hand
    with pytest.raises(ValueError, match="outcomes must hold"):
        adv.heldout_experiment([])
