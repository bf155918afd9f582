"""Chapter 10, sections "Recommenders", "Leave-one-family-out evaluation" and "Cold TPE
against random search".

The shipped history is a tabular benchmark (as in HPO-B): evaluating configuration ``c`` on a
held-out task returns its recorded validation error. Every method proposes a sequence of
configuration ids; the normalised regret after ``k`` evaluations is
``(best-so-far - best on task) / (worst on task - best on task)``.

The headline protocol holds out a task's whole *family* (:func:`kit.recommend.history.family`:
all digits variants together), so no variant of the held-out task is in the training history;
leave-one-task-out (``protocol="task"``) is kept to show how much the in-family leak helps.
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from kit.recommend.history import META_FEATURES, SPACE, family


@dataclass(frozen=True)
class Table:
    """Errors of every configuration on every task: ``errors[task, config]``, plus curves."""

    tasks: tuple[str, ...]
    configs: tuple[dict[str, Any], ...]
    errors: np.ndarray  # (T, C)
    curves: np.ndarray  # (T, C, epochs)
    meta: np.ndarray  # (T, M) meta-features in META_FEATURES order

    def index(self, task: str) -> int:
        if task not in self.tasks:
            raise ValueError(f"task must be one of {', '.join(self.tasks)}, got {task!r}")
        return self.tasks.index(task)


def table_from_history(doc: Mapping[str, Any]) -> Table:
    """The complete (task x config) table of a loaded history; incomplete tasks are dropped."""
    configs = tuple(doc["configs"])
    names, errs, curves, meta = [], [], [], []
    for name in sorted(doc["tasks"]):
        runs = doc["tasks"][name]["runs"]
        if len(runs) < len(configs):
            continue
        names.append(name)
        errs.append([runs[str(i)]["val_error"] for i in range(len(configs))])
        curves.append([runs[str(i)]["curve"] for i in range(len(configs))])
        meta.append([doc["tasks"][name]["meta_features"][k] for k in META_FEATURES])
    if len(names) < 3:
        raise ValueError(f"the history needs >= 3 complete tasks, got {len(names)}")
    return Table(tuple(names), configs, np.asarray(errs, float), np.asarray(curves, float),
                 np.asarray(meta, float))


def normalised_regret(errors: np.ndarray, trace: Sequence[int]) -> np.ndarray:
    """Normalised regret of the best-so-far after each evaluation of ``trace`` (config ids)."""
    errors = np.asarray(errors, float)
    if len(trace) == 0:
        raise ValueError("trace must hold at least one configuration id, got []")
    lo, hi = errors.min(), errors.max()
    best = np.minimum.accumulate(errors[np.asarray(trace, int)])
    if hi - lo <= 0:
        return np.zeros(len(trace))
    return (best - lo) / (hi - lo)


def regrets_matrix(errors: np.ndarray) -> np.ndarray:
    """Per-task normalised regret of each configuration (rows = tasks)."""
    lo = errors.min(1, keepdims=True)
    span = np.maximum(errors.max(1, keepdims=True) - lo, 1e-12)
    return (errors - lo) / span


# ------------------------------------------------------------------- recommenders ----

def task_distances(meta: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Euclidean distance in meta-feature space, features z-scored over the history tasks."""
    mu, sd = meta.mean(0), meta.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return np.linalg.norm((meta - mu) / sd - (target - mu) / sd, axis=1)


def knn_ranking(table: Table, train: Sequence[int], target_meta: np.ndarray,
                k: int = 3) -> tuple[list[int], list[int]]:
    """auto-sklearn-style warm start: the best configs of the ``k`` nearest tasks, in turn.

    Returns (config ids, in order without repeats; the neighbour task ids used).
    """
    if not 1 <= k <= len(train):
        raise ValueError(f"k must be an int in [1, {len(train)}], got {k!r}")
    train = list(train)
    d = task_distances(table.meta[train], target_meta)
    neigh = [train[i] for i in np.argsort(d, kind="stable")[:k]]
    reg = regrets_matrix(table.errors[neigh])
    order, seen = [], set()
    ranked = [list(np.argsort(r, kind="stable")) for r in reg]
    # round robin over neighbours' own rankings, then by mean regret over the neighbours
    for rank in range(reg.shape[1]):
        for r in ranked:
            c = int(r[rank])
            if c not in seen:
                seen.add(c)
                order.append(c)
        if len(order) >= 25:
            break
    rest = [int(c) for c in np.argsort(reg.mean(0), kind="stable") if int(c) not in seen]
    return order + rest, neigh


def greedy_portfolio(regret: np.ndarray, size: int, weights: np.ndarray | None = None) -> list[int]:
    """Greedy portfolio (set cover in its soft form, Feurer et al. 2018 / Wistuba et al.):
    repeatedly add the configuration that most reduces sum_t w_t * min_{c in P} regret[t, c]."""
    regret = np.asarray(regret, float)
    n_tasks, n_configs = regret.shape
    if not 1 <= size <= n_configs:
        raise ValueError(f"size must be an int in [1, {n_configs}], got {size!r}")
    w = np.ones(n_tasks) if weights is None else np.asarray(weights, float)
    chosen: list[int] = []
    current = np.full(n_tasks, np.inf)
    # once every task is covered the gains tie: break ties by mean (weighted) regret
    tie = 1e-9 * (w[:, None] * regret).sum(0) / w.sum()
    for _ in range(size):
        scores = (w[:, None] * np.minimum(current[:, None], regret)).sum(0) + tie
        scores[chosen] = np.inf
        best = int(np.argmin(scores))
        chosen.append(best)
        current = np.minimum(current, regret[:, best])
    return chosen


def portfolio_value(regret: np.ndarray, chosen: Sequence[int]) -> float:
    """Mean over tasks of the best regret inside a portfolio."""
    return float(np.asarray(regret)[:, list(chosen)].min(1).mean())


def brute_force_portfolio(regret: np.ndarray, size: int) -> tuple[list[int], float]:
    """The optimal portfolio of ``size`` by enumeration (tests only: exponential)."""
    best, value = None, np.inf
    for combo in itertools.combinations(range(regret.shape[1]), size):
        v = portfolio_value(regret, combo)
        if v < value - 1e-12:
            best, value = list(combo), v
    return best or [], value


def similarity_weights(table: Table, train: Sequence[int], target_meta: np.ndarray,
                       bandwidth: float = 1.0) -> np.ndarray:
    """Gaussian-kernel weights of the history tasks by z-scored meta-feature distance
    (bandwidth in units of the median distance)."""
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be a number > 0, got {bandwidth!r}")
    d = task_distances(table.meta[list(train)], target_meta)
    return np.exp(-0.5 * (d / (bandwidth * np.median(d) + 1e-12)) ** 2)


def similarity_ranking(table: Table, train: Sequence[int], target_meta: np.ndarray,
                       bandwidth: float = 1.0) -> list[int]:
    """The kit's recommender: every configuration ranked by its similarity-weighted mean
    normalised regret over the history tasks (nearest tasks count most)."""
    train = list(train)
    w = similarity_weights(table, train, target_meta, bandwidth)
    reg = regrets_matrix(table.errors[train])
    return [int(c) for c in np.argsort((w[:, None] * reg).sum(0) / w.sum(), kind="stable")]


# ------------------------------------------------------------------ search methods ----

def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


def _lookup(configs: Sequence[Mapping[str, Any]]) -> dict[tuple, int]:
    return {tuple(c[k] for k in SPACE): i for i, c in enumerate(configs)}


def tpe_trace(errors: np.ndarray, configs: Sequence[Mapping[str, Any]], budget: int, seed: int,
              warm: Sequence[int] = (), n_startup: int = 5, ranking: Sequence[int] = (),
              ) -> list[int]:
    """Optuna TPE over the categorical grid; ``warm`` configs are enqueued first (warm start).

    With a ``ranking``, every second trial after the warm start is the best-ranked
    configuration not yet evaluated (enqueued), the others are TPE's proposals.
    The objective of a trial is the recorded error of its configuration (tabular benchmark).
    """
    optuna = _optuna()
    lookup = _lookup(configs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup,
                                             multivariate=True)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    for c in list(warm)[:budget]:
        study.enqueue_trial({k: configs[c][k] for k in SPACE})
    trace: list[int] = []

    def objective(trial: Any) -> float:
        cfg = tuple(trial.suggest_categorical(k, list(v)) for k, v in SPACE.items())
        trace.append(lookup[cfg])
        return float(errors[lookup[cfg]])

    if not ranking:
        study.optimize(objective, n_trials=budget)
        return trace
    n_warm = min(len(warm), budget)
    study.optimize(objective, n_trials=n_warm)
    for i in range(budget - n_warm):
        if i % 2 == 0:
            nxt = next((c for c in ranking if c not in trace), None)
            if nxt is not None:
                study.enqueue_trial({k: configs[nxt][k] for k in SPACE})
        study.optimize(objective, n_trials=1)
    return trace


def random_trace(n_configs: int, budget: int, seed: int) -> list[int]:
    """Random search without replacement."""
    return [int(c) for c in np.random.default_rng(seed).permutation(n_configs)[:budget]]


METHODS = ("random", "cold_tpe", "knn", "portfolio", "warm_tpe")
KIT_METHOD = "warm_tpe"
PROTOCOLS = ("family", "task")  # hold out the target's whole family | only the target task


def training_tasks(table: Table, target: str, protocol: str = "family") -> list[int]:
    """Indices of the history tasks a recommender may learn from when ``target`` is held out
    (chapter 10 "Leave-one-family-out evaluation").

    ``protocol="family"`` (the headline) drops every task of the target's family
    (:func:`kit.recommend.history.family`); ``"task"`` drops only the target itself.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    t = table.index(target)
    if protocol == "task":
        train = [i for i in range(len(table.tasks)) if i != t]
    else:
        fam = family(target)
        train = [i for i, name in enumerate(table.tasks) if family(name) != fam]
    if not train:
        raise ValueError(f"target {target!r} leaves no training task under protocol "
                         f"{protocol!r}: the history needs tasks of another family")
    return train


@dataclass(frozen=True)
class Evaluation:
    """Regret curves ``regret[method][task, seed, k]``, the wall time of the evaluation, the
    protocol and, per held-out task, the history tasks the recommenders learned from."""

    regret: dict[str, np.ndarray]
    tasks: tuple[str, ...]
    budget: int
    seeds: int
    seconds: float
    neighbours: dict[str, list[str]]
    protocol: str = "task"
    train: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.regret)

    def subset(self, tasks: Sequence[str]) -> Evaluation:
        """The same evaluation restricted to some held-out tasks (chapter 10 "Results on the
        non-digits tasks")."""
        missing = [t for t in tasks if t not in self.tasks]
        if not list(tasks) or missing:
            raise ValueError(f"tasks must be a non-empty subset of the evaluated tasks, got "
                             f"{list(tasks)!r} (unknown: {missing})")
        rows = [self.tasks.index(t) for t in tasks]
        return replace(self, regret={m: r[rows] for m, r in self.regret.items()},
                       tasks=tuple(tasks),
                       neighbours={t: self.neighbours[t] for t in tasks if t in self.neighbours},
                       train={t: self.train[t] for t in tasks if t in self.train})


def evaluate(table: Table, budget: int = 20, seeds: int = 3, k: int = 3, n_warm: int = 10,
             tasks: Sequence[str] | None = None,
             progress: Callable[[str], None] | None = None,
             protocol: str = "family") -> Evaluation:
    """Hold out each task in turn (with its whole family under ``protocol="family"``, the
    chapter's headline; alone under ``"task"``): every method's regret curve per seed
    (chapter 10 "Experiment 1").

    ``warm_tpe`` (the kit's recommender) enqueues the first ``n_warm`` configurations of
    :func:`similarity_ranking`, then runs TPE; ``portfolio`` is the unweighted greedy
    portfolio; ``knn`` evaluates the nearest tasks' best configurations in turn. ``random`` and
    ``cold_tpe`` use no history, so they are the same under both protocols.
    """
    if not isinstance(budget, int) or not 1 <= budget <= len(table.configs):
        raise ValueError(f"budget must be an int in [1, {len(table.configs)}], got {budget!r}")
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an int >= 1, got {seeds!r}")
    if not isinstance(n_warm, int) or not 0 <= n_warm <= budget:
        raise ValueError(f"n_warm must be an int in [0, {budget}], got {n_warm!r}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    names = list(table.tasks if tasks is None else tasks)
    start = time.perf_counter()
    out = {m: np.zeros((len(names), seeds, budget)) for m in METHODS}
    neighbours, trained = {}, {}
    for ti, name in enumerate(names):
        t = table.index(name)
        train = training_tasks(table, name, protocol)
        trained[name] = tuple(table.tasks[i] for i in train)
        errors, meta = table.errors[t], table.meta[t]
        knn_order, neigh = knn_ranking(table, train, meta, k)
        neighbours[name] = [table.tasks[i] for i in neigh]
        port = greedy_portfolio(regrets_matrix(table.errors[train]), budget)
        mine = similarity_ranking(table, train, meta)
        for s in range(seeds):
            seed = 1000 * s + t
            traces = {
                "random": random_trace(len(table.configs), budget, seed),
                "cold_tpe": tpe_trace(errors, table.configs, budget, seed),
                "knn": knn_order[:budget],
                "portfolio": port,
                "warm_tpe": tpe_trace(errors, table.configs, budget, seed, warm=mine[:n_warm],
                                      ranking=mine),
            }
            for m, trace in traces.items():
                out[m][ti, s] = normalised_regret(errors, trace)
        if progress is not None:
            progress(name)
    return Evaluation(out, tuple(names), budget, seeds, time.perf_counter() - start, neighbours,
                      protocol, trained)


def mean_ranks(ev: Evaluation, at: int) -> dict[str, float]:
    """Average rank (1 = best, ties averaged) of each method's regret after ``at`` evaluations,
    ranked per (task, seed) as in auto-sklearn's and HPO-B's rank plots."""
    from scipy.stats import rankdata

    if not 1 <= at <= ev.budget:
        raise ValueError(f"at must be an int in [1, {ev.budget}], got {at!r}")
    vals = np.stack([ev.regret[m][:, :, at - 1] for m in ev.methods], -1)
    ranks = rankdata(vals, axis=-1)
    return {m: float(ranks[..., i].mean()) for i, m in enumerate(ev.methods)}


def _check_at(ev: Evaluation, at: int, *methods: str) -> None:
    if not isinstance(at, (int, np.integer)) or not 1 <= at <= ev.budget:
        raise ValueError(f"at must be an int in [1, {ev.budget}], got {at!r}")
    for m in methods:
        if m not in ev.regret:
            raise ValueError(f"method must be one of {', '.join(ev.methods)}, got {m!r}")


def ranks_per_seed(ev: Evaluation, method: str, at: int) -> np.ndarray:
    """Per seed, ``method``'s mean rank over tasks after ``at`` evaluations (its spread over
    seeds is what chapter 10 "Experiment 1" records)."""
    from scipy.stats import rankdata

    _check_at(ev, at, method)
    vals = np.stack([ev.regret[m][:, :, at - 1] for m in ev.methods], -1)
    return rankdata(vals, axis=-1)[..., ev.methods.index(method)].mean(0)


def regret_per_seed(ev: Evaluation, method: str, at: int) -> np.ndarray:
    """Per seed, the mean normalised regret over tasks after ``at`` evaluations."""
    _check_at(ev, at, method)
    return ev.regret[method][:, :, at - 1].mean(0)


def reduction_per_seed(ev: Evaluation, method: str, baseline: str, at: int) -> np.ndarray:
    """Per seed, the regret reduction ``1 - regret(method) / regret(baseline)`` after ``at``
    evaluations (regrets averaged over tasks first); the chapter's headline is its median."""
    a, b = regret_per_seed(ev, method, at), regret_per_seed(ev, baseline, at)
    return 1.0 - a / np.maximum(b, 1e-12)


def paired_wilcoxon(ev: Evaluation, method: str, baseline: str, at: int) -> dict[str, float]:
    """Wilcoxon signed-rank test of ``method`` against ``baseline`` on the regret after ``at``
    evaluations, paired by (task, seed) (chapter 10 "Cold TPE against random search").

    Returns ``n`` pairs, ``n_differ`` pairs whose regrets differ, the median and mean of
    ``regret(method) - regret(baseline)`` and the two-sided ``p`` value (1.0 when no pair
    differs: zero differences are dropped, scipy's ``zero_method="wilcox"``).
    """
    from scipy.stats import wilcoxon

    _check_at(ev, at, method, baseline)
    diff = (ev.regret[method][:, :, at - 1] - ev.regret[baseline][:, :, at - 1]).ravel()
    differ = int(np.count_nonzero(diff))
    p = float(wilcoxon(diff).pvalue) if differ > 0 else 1.0
    return {"n": int(diff.size), "n_differ": differ, "median_diff": float(np.median(diff)),
            "mean_diff": float(diff.mean()), "p": p}


def cold_curves(table: Table, budget: int = 50, seeds: int = 3) -> Evaluation:
    """Random search and cold Optuna TPE (no history) on every task up to ``budget``
    evaluations, with the same seeds as :func:`evaluate` (chapter 10 "Cold TPE against random
    search": TPE's first 5 trials are random start-up trials)."""
    if not isinstance(budget, int) or not 1 <= budget <= len(table.configs):
        raise ValueError(f"budget must be an int in [1, {len(table.configs)}], got {budget!r}")
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an int >= 1, got {seeds!r}")
    start = time.perf_counter()
    out = {m: np.zeros((len(table.tasks), seeds, budget)) for m in ("random", "cold_tpe")}
    for t, errors in enumerate(table.errors):
        for s in range(seeds):
            seed = 1000 * s + t
            out["random"][t, s] = normalised_regret(
                errors, random_trace(len(table.configs), budget, seed))
            out["cold_tpe"][t, s] = normalised_regret(
                errors, tpe_trace(errors, table.configs, budget, seed))
    return Evaluation(out, table.tasks, budget, seeds, time.perf_counter() - start, {}, "none")


def significant_budgets(ev: Evaluation, method: str, baseline: str, alpha: float = 0.05,
                        ) -> list[int]:
    """The budgets (numbers of evaluations) at which the paired Wilcoxon test of ``method``
    against ``baseline`` has ``p < alpha`` (chapter 10 "Cold TPE against random search")."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    return [k for k in range(1, ev.budget + 1)
            if paired_wilcoxon(ev, method, baseline, k)["p"] < alpha]


def cold_vs_random(cold: Evaluation, at: int = 10, alpha: float = 0.05) -> dict[str, Any]:
    """Chapter 10 "Experiment 1b" metrics of :func:`cold_curves`: the paired Wilcoxon test of
    cold TPE against random search at ``at`` and at the whole budget, the number of budgets
    with ``p < alpha`` and :func:`separation_budget`."""
    w, wb = (paired_wilcoxon(cold, "cold_tpe", "random", k) for k in (at, cold.budget))
    return {f"cold_tpe_vs_random_p_at{at}": w["p"],
            f"cold_tpe_vs_random_median_diff_at{at}": w["median_diff"],
            "cold_tpe_vs_random_pairs": w["n"], "cold_tpe_vs_random_p_at_budget": wb["p"],
            "cold_budget": cold.budget,
            "cold_tpe_separates_from_random_at": separation_budget(cold, "cold_tpe", "random",
                                                                   alpha),
            "cold_tpe_vs_random_budgets_significant": len(
                significant_budgets(cold, "cold_tpe", "random", alpha))}


def separation_budget(ev: Evaluation, method: str, baseline: str, alpha: float = 0.05,
                      ) -> int | None:
    """The smallest number of evaluations from which on every paired Wilcoxon test of
    ``method`` against ``baseline`` has ``p < alpha`` (None if it never holds up to the budget)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    significant = set(significant_budgets(ev, method, baseline, alpha))
    first = None
    for k in range(ev.budget, 0, -1):
        if k not in significant:
            break
        first = k
    return first


def mean_regret(ev: Evaluation, method: str, at: int) -> float:
    """Mean normalised regret after ``at`` evaluations over tasks and seeds."""
    return float(ev.regret[method][:, :, at - 1].mean())


def regret_ci(ev: Evaluation, method: str, at: int, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap CI (scipy.stats.bootstrap, over tasks) of the mean regret at ``at``."""
    from scipy.stats import bootstrap

    per_task = ev.regret[method][:, :, at - 1].mean(1)
    if np.ptp(per_task) == 0:
        return float(per_task[0]), float(per_task[0])
    res = bootstrap((per_task,), np.mean, n_resamples=999, random_state=seed,
                    method="percentile")
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def reduction_ci(ev: Evaluation, method: str, baseline: str, at: int,
                 seed: int = 0) -> tuple[float, float, float]:
    """Regret reduction ``1 - regret(method)/regret(baseline)`` at ``at``, with a paired
    bootstrap 95% CI over tasks."""
    from scipy.stats import bootstrap

    a = ev.regret[method][:, :, at - 1].mean(1)
    b = ev.regret[baseline][:, :, at - 1].mean(1)
    point = 1.0 - a.mean() / max(b.mean(), 1e-12)

    def stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return 1.0 - x.mean(axis) / np.maximum(y.mean(axis), 1e-12)

    res = bootstrap((a, b), stat, paired=True, n_resamples=999, random_state=seed,
                    method="percentile", vectorized=True)
    return float(point), float(res.confidence_interval.low), float(res.confidence_interval.high)


# --------------------------------------------------- early stopping from curve history ----

def calibrate_rung(curves: np.ndarray, min_corr: float = 0.8) -> int:
    """The earliest epoch whose error ranks configs like the final error does (mean Spearman
    over history tasks >= ``min_corr``); successive halving stops there (history-calibrated)."""
    from scipy.stats import spearmanr

    epochs = curves.shape[-1]
    for e in range(epochs - 1):
        rho = []
        for task_curves in curves:
            r = spearmanr(task_curves[:, e], task_curves[:, -1]).statistic
            rho.append(0.0 if np.isnan(r) else r)
        if np.mean(rho) >= min_corr:
            return e + 1
    return epochs


def successive_halving(curves: np.ndarray, candidates: Sequence[int], rung: int,
                       keep: float = 1 / 3) -> tuple[int, float]:
    """One-rung successive halving: train all candidates for ``rung`` epochs, continue the best
    ``keep`` share to the end. Returns (chosen config, epochs spent / full training of all)."""
    cands = list(candidates)
    epochs = curves.shape[-1]
    early = curves[cands, rung - 1]
    n_keep = max(1, int(round(keep * len(cands))))
    survivors = [cands[i] for i in np.argsort(early, kind="stable")[:n_keep]]
    final = curves[survivors, -1]
    chosen = survivors[int(np.argmin(final))]
    spent = len(cands) * rung + n_keep * (epochs - rung)
    return chosen, spent / (len(cands) * epochs)


def early_stopping_experiment(table: Table, n_candidates: int = 27, seeds: int = 3,
                              min_corr: float = 0.8, protocol: str = "family",
                              ) -> dict[str, Any]:
    """Successive halving on each held-out task with a rung calibrated on the curves of the
    other families' tasks (``protocol="family"``; ``"task"``: all other tasks), against full
    training of the same random candidates (same seeds) (chapter 10 "Experiment 2").

    ``regret_sh_seeds`` / ``regret_full_seeds`` are the per-seed means over tasks."""
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an int >= 1, got {seeds!r}")
    saved, rungs = [], []
    sh_regret = np.zeros((len(table.tasks), seeds))
    full_regret = np.zeros((len(table.tasks), seeds))
    for t, name in enumerate(table.tasks):
        train = training_tasks(table, name, protocol)
        rung = calibrate_rung(table.curves[train], min_corr)
        rungs.append(rung)
        errors = table.errors[t]
        for s in range(seeds):
            cands = random_trace(len(table.configs), n_candidates, 7919 * s + t)
            chosen, frac = successive_halving(table.curves[t], cands, rung)
            sh_regret[t, s] = normalised_regret(errors, [chosen])[0]
            full_regret[t, s] = normalised_regret(errors, cands)[-1]
            saved.append(1.0 - frac)
    return {"compute_saved": float(np.mean(saved)), "regret_sh": float(sh_regret.mean()),
            "regret_full": float(full_regret.mean()), "rung_epochs": float(np.median(rungs)),
            "regret_sh_seeds": sh_regret.mean(0).tolist(),
            "regret_full_seeds": full_regret.mean(0).tolist()}
