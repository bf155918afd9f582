"""Chapter 07's schedule search ("Auto-tuning") and model/operator co-optimisation.

The search space is every valid ``kernels.Schedule`` of one matmul (tile sizes that divide the
problem, tile-loop order, vector width, threads). Three searches get the same trial budget:
random, grid (an evenly strided walk over the enumerated space) and a learned cost model
(gradient-boosted trees on schedule features, as Ansor/TVM's XGBoost model, refitted after each
batch and used to pick the next batch from the unmeasured space). Each trial runs the kernel
through ``ctypes`` (no MindSpore dispatch in the loop) and keeps the best of a few repeats.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kit.tensor import kernels
from kit.tensor.kernels import Schedule

TILES = (4, 8, 16, 32, 64, 128, 256, 512)
SEARCHES = ("random", "grid", "cost_model")


def space(m: int, n: int, k: int, max_threads: int = 2) -> list[Schedule]:
    """Every valid schedule of an (m, n, k) matmul from the tile candidates ``TILES``."""
    for name, size in (("m", m), ("n", n), ("k", k)):
        if size < 1:
            raise ValueError(f"{name} must be >= 1, got {size}")
    out = []
    for tm, tn, tk in itertools.product(TILES, repeat=3):
        if m % tm or n % tn or k % tk or tm > m or tn > n or tk > k:
            continue
        for order, vec, threads in itertools.product(range(len(kernels.ORDERS)), kernels.WIDTHS,
                                                      range(1, max_threads + 1)):
            if tn % vec == 0:
                out.append(Schedule(tm, tn, tk, order, vec, threads))
    if not out:
        raise ValueError(f"no tile sizes from {TILES} divide the problem ({m}, {n}, {k})")
    return out


def features(s: Schedule, m: int, n: int, k: int) -> list[float]:
    """What the cost model sees: log tile sizes, loop order (one-hot), vector width, threads,
    the log bytes of the tile working set (A, B and C tiles) and of the C row block re-read per
    k step, the inner loop's vector iterations, and how evenly the parallel loop splits."""
    working_set = 4 * (s.tm * s.tk + s.tk * s.tn + s.tm * s.tn)
    parallel_tiles = n // s.tn if s.order == 1 else m // s.tm
    balance = parallel_tiles / (s.threads * math.ceil(parallel_tiles / s.threads))
    return [math.log2(s.tm), math.log2(s.tn), math.log2(s.tk),
            *(float(s.order == o) for o in range(len(kernels.ORDERS))),
            math.log2(s.vec), float(s.threads), math.log2(working_set),
            math.log2(4 * s.tm * (n if s.order == 2 else s.tn)), math.log2(s.tn / s.vec),
            balance, math.log2(parallel_tiles)]


@dataclass
class Problem:
    """One matmul to tune (with the fused bias+GELU epilogue when ``epilogue``): its operands
    and a reusable output buffer."""

    m: int
    n: int
    k: int
    seed: int = 0
    epilogue: bool = False
    a: np.ndarray = field(init=False, repr=False)
    b: np.ndarray = field(init=False, repr=False)
    bias: np.ndarray | None = field(init=False, repr=False)
    out: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.a = rng.standard_normal((self.m, self.k)).astype(np.float32)
        self.b = rng.standard_normal((self.k, self.n)).astype(np.float32)
        bias = rng.standard_normal(self.n).astype(np.float32)
        self.bias = bias if self.epilogue else None
        self.out = np.empty((self.m, self.n), np.float32)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.m, self.n, self.k

    def run(self, s: Schedule) -> np.ndarray:
        return kernels.matmul(self.a, self.b, s, self.bias, self.out)

    def seconds(self, s: Schedule, repeats: int = 3) -> float:
        """Best of ``repeats`` timed runs of one schedule (after one warm-up run)."""
        return best_seconds(lambda: self.run(s), repeats)


@dataclass
class Search:
    """The trials of one search, in the order they were run."""

    name: str
    schedules: list[Schedule] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    wall: float = 0.0

    @property
    def best(self) -> tuple[Schedule, float]:
        i = int(np.argmin(self.seconds))
        return self.schedules[i], self.seconds[i]

    def best_so_far(self) -> np.ndarray:
        return np.minimum.accumulate(self.seconds)


def best_seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    """The minimum of ``repeats`` timed calls after one warm-up call (the least noisy
    estimate on a shared machine)."""
    fn()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _run(name: str, problem: Problem, pick: Callable[[Search], list[Schedule]], budget: int,
         max_seconds: float) -> Search:
    search = Search(name)
    start = time.perf_counter()
    while len(search.schedules) < budget and time.perf_counter() - start < max_seconds:
        for s in pick(search)[: budget - len(search.schedules)]:
            search.schedules.append(s)
            search.seconds.append(problem.seconds(s))
    search.wall = time.perf_counter() - start
    return search


def _check_budget(budget: int, candidates: list[Schedule]) -> None:
    if not 1 <= budget <= len(candidates):
        raise ValueError(f"budget must be in [1, {len(candidates)}] trials for this space, "
                         f"got {budget}")


def random_search(problem: Problem, candidates: list[Schedule], budget: int,
                  max_seconds: float = 60.0, seed: int = 0) -> Search:
    """Section "Auto-tuning": ``budget`` schedules drawn uniformly without replacement."""
    _check_budget(budget, candidates)
    order = np.random.default_rng(seed).permutation(len(candidates))
    return _run("random", problem, lambda s: [candidates[i] for i in order[len(s.schedules):]],
                budget, max_seconds)


def grid_search(problem: Problem, candidates: list[Schedule], budget: int,
                max_seconds: float = 60.0) -> Search:
    """Section "Auto-tuning": an evenly strided walk over the enumerated space (a coarse grid)."""
    _check_budget(budget, candidates)
    picks = [candidates[int(i)] for i in np.linspace(0, len(candidates) - 1, budget)]
    return _run("grid", problem, lambda s: picks[len(s.schedules):], budget, max_seconds)


def fit_cost_model(schedules: list[Schedule], seconds: list[float], shape: tuple[int, int, int],
                   seed: int = 0):
    """Gradient-boosted trees predicting log seconds from schedule features."""
    from sklearn.ensemble import GradientBoostingRegressor

    model = GradientBoostingRegressor(n_estimators=150, max_depth=3, learning_rate=0.1,
                                      subsample=0.9, random_state=seed)
    model.fit(np.array([features(s, *shape) for s in schedules]), np.log(seconds))
    return model


def model_search(problem: Problem, candidates: list[Schedule], budget: int,
                 max_seconds: float = 60.0, seed: int = 0, first: int = 8,
                 batch: int = 8, explore: float = 0.25,
                 warm_start: tuple[Schedule, ...] = ()) -> Search:
    """Section "Auto-tuning": the ``warm_start`` schedules and ``first`` random trials, then
    batches chosen by the cost model (best predicted among unmeasured schedules, a share
    ``explore`` of each batch random)."""
    _check_budget(budget, candidates)
    rng = np.random.default_rng(seed)
    x_all = np.array([features(s, *problem.shape) for s in candidates])

    def pick(search: Search) -> list[Schedule]:
        if not search.schedules and warm_start:
            return list(warm_start)
        seen = set(search.schedules)
        unseen = [i for i in range(len(candidates)) if candidates[i] not in seen]
        if len(search.schedules) < first + len(warm_start):
            return [candidates[i] for i in rng.choice(unseen, min(first, len(unseen)), False)]
        model = fit_cost_model(search.schedules, search.seconds, problem.shape, seed)
        ranked = [unseen[i] for i in np.argsort(model.predict(x_all[unseen]))]
        n_explore = int(round(batch * explore))
        chosen = ranked[: batch - n_explore]
        rest = [i for i in unseen if i not in set(chosen)]
        chosen += list(rng.choice(rest, min(n_explore, len(rest)), False))
        return [candidates[i] for i in chosen]

    return _run("cost_model", problem, pick, budget, max_seconds)


def held_out_spearman(problem: Problem, candidates: list[Schedule], train: list[Search],
                      n_held_out: int = 40, seed: int = 1) -> tuple[float, int]:
    """Section "Auto-tuning": the Spearman rank correlation, on schedules no search measured
    (drawn at random from the rest of the space and measured now), of a cost model fitted to
    every trial the searches ran (a tuner's measurement database, as in TVM)."""
    from scipy.stats import spearmanr

    measured: dict[Schedule, float] = {}
    for search in train:
        measured.update(zip(search.schedules, search.seconds, strict=True))
    rest = [s for s in candidates if s not in measured]
    if len(rest) < 3:
        raise ValueError("the space has fewer than 3 unmeasured schedules to hold out")
    rng = np.random.default_rng(seed)
    held = [rest[i] for i in rng.choice(len(rest), min(n_held_out, len(rest)), False)]
    truth = [problem.seconds(s) for s in held]
    model = fit_cost_model(list(measured), list(measured.values()), problem.shape)
    predicted = model.predict(np.array([features(s, *problem.shape) for s in held]))
    return float(spearmanr(predicted, truth).statistic), len(held)


def fusion_choice(m: int, n: int, k: int, tuned: Schedule, budget: int, max_seconds: float,
                  seed: int = 0, rounds: int = 3) -> dict[str, object]:
    """Section "Co-optimisation": one MLP layer ``gelu(x @ w + b)``, three ways.

    *separate*: the matmul tuned alone, then bias+GELU as its own pass; *fused, separate
    schedule*: the epilogue fused into the matmul with the schedule tuned without it;
    *co-optimised*: the fused operator's schedule searched with the epilogue in the loop
    (warm-started from the separately tuned schedule). The graph-level estimate of the fused
    time comes from operator-level costs, roofline style: fusing saves the separate pass's
    memory traffic, which costs what a copy of the same bytes costs (``np.copyto``: read h,
    write y), and keeps its arithmetic (pass minus copy). After the search, the five calls
    (matmul, pass, copy, fused with either schedule) are timed in ``rounds`` interleaved rounds;
    every time below is the median over rounds of each round's fastest call, and
    ``co_vs_separate_rounds`` holds the per-round ratios.
    """
    from kit.tensor import blocks

    plain = Problem(m, n, k, seed)
    fused = Problem(m, n, k, seed, epilogue=True)
    h = np.empty((m, n), np.float32)
    co_schedule, _ = model_search(fused, space(m, n, k, tuned.threads), budget,
                                  max_seconds, seed, warm_start=(tuned,)).best
    calls = {"matmul": lambda: plain.run(tuned),
             "pass": lambda: kernels.bias_gelu(plain.out, fused.bias, tuned.threads, h),
             "copy": lambda: np.copyto(h, plain.out),
             "fused": lambda: fused.run(tuned), "co": lambda: fused.run(co_schedule)}
    timed = blocks.interleaved(calls, rounds, 5)
    per_round = {name: np.array(timed.round_minima(name)) for name in calls}
    separate = per_round["matmul"] + per_round["pass"]
    predicted = per_round["matmul"] + np.maximum(0.0, per_round["pass"] - per_round["copy"])
    med = {name: float(np.median(v)) for name, v in per_round.items()}
    t_sep, t_pred = float(np.median(separate)), float(np.median(predicted))
    return {"m": m, "n": n, "k": k, "separate_ms": t_sep * 1e3,
            "fused_separate_schedule_ms": med["fused"] * 1e3, "co_optimised_ms": med["co"] * 1e3,
            "predicted_fused_ms": t_pred * 1e3, "pass share": med["pass"] / t_sep,
            "predicted_fuse": bool(t_pred < t_sep), "measured_fuse": bool(med["fused"] < t_sep),
            "co_vs_separate": float(np.median(separate / per_round["co"])),
            "co_vs_separate_rounds": [float(v) for v in separate / per_round["co"]],
            "co_schedule": co_schedule}
