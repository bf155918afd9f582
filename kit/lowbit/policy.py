"""Precision-policy search for chapter 01 ("Policy search").

A policy gives every layer one precision. With ``omega[l, p]`` the predicted loss increase of
layer ``l`` at precision ``p`` and ``cost[l, p]`` its modelled latency (or size), the search is
the integer program (HAWQ-V3 style, solved with HiGHS through ``scipy.optimize.milp``)::

    minimise  sum_lp omega[l,p] x[l,p]
    s.t.      sum_p x[l,p] = 1 for every layer,  sum_lp cost[l,p] x[l,p] <= budget,  x binary

Baselines: uniform policies, a greedy HAWQ-style descent, random policies of equal cost, and
brute force (the check on small cases).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Policy:
    """Per-layer precision indices into ``precisions``, with their totals."""

    choice: tuple[int, ...]
    precisions: tuple[str, ...]
    loss: float
    cost: float
    seconds: float = 0.0

    @property
    def names(self) -> list[str]:
        return [self.precisions[j] for j in self.choice]


def _check(omega: np.ndarray, cost: np.ndarray, precisions: list[str]) -> None:
    if omega.shape != cost.shape or omega.ndim != 2:
        raise ValueError(f"omega and cost must be (layers, precisions) arrays of one shape, "
                         f"got {omega.shape} and {cost.shape}")
    if omega.shape[1] != len(precisions):
        raise ValueError(f"precisions must name every column ({omega.shape[1]}), "
                         f"got {len(precisions)}")
    if np.isnan(omega).any() or np.isnan(cost).any() or (omega < 0).any():
        raise ValueError("omega must be finite and >= 0, and cost must not be NaN")


def evaluate(choice: tuple[int, ...] | list[int], omega: np.ndarray, cost: np.ndarray,
             precisions: list[str]) -> Policy:
    """The totals of a given per-layer choice."""
    rows = np.arange(len(choice))
    idx = np.asarray(choice)
    return Policy(tuple(int(i) for i in choice), tuple(precisions),
                  float(omega[rows, idx].sum()), float(cost[rows, idx].sum()))


def cheapest(cost: np.ndarray) -> float:
    """The cost of the cheapest policy (every layer at its cheapest precision)."""
    return float(np.min(cost, axis=1).sum())


def _budget_check(cost: np.ndarray, budget: float, unit: str) -> None:
    low = cheapest(cost)
    if not np.isfinite(budget) or budget < low * (1 - 1e-9):
        raise ValueError(f"no policy fits a budget of {budget:.6g} {unit}; the cheapest "
                         f"costs {low:.6g} {unit}")


def milp(omega: np.ndarray, cost: np.ndarray, precisions: list[str], budget: float,
         unit: str = "s") -> Policy:
    """Section "Policy search": the optimal policy under ``budget`` (HiGHS MILP)."""
    from scipy.optimize import Bounds, LinearConstraint
    from scipy.optimize import milp as scipy_milp

    _check(omega, cost, precisions)
    _budget_check(cost, budget, unit)
    start = time.perf_counter()
    layers, k = omega.shape
    allowed = np.isfinite(cost).ravel()
    c = np.where(allowed, omega.ravel(), 0.0)
    # HiGHS stops within an absolute gap of 1e-6: scale the objective so that this is
    # negligible against the largest loss (exact up to rounding, checked against brute force)
    c = c * (1e6 / max(float(c.max()), 1e-300))
    cst = np.where(allowed, cost.ravel(), 0.0)
    one_hot = np.kron(np.eye(layers), np.ones(k))
    scale = max(float(np.max(cst)), 1e-300)
    constraints = [LinearConstraint(one_hot, 1, 1),
                   LinearConstraint(cst[None, :] / scale, -np.inf, budget / scale * (1 + 1e-9))]
    res = scipy_milp(c, constraints=constraints, integrality=np.ones(layers * k),
                     bounds=Bounds(0, allowed.astype(float)),
                     options={"mip_rel_gap": 0.0})
    if res.x is None:
        raise ValueError(f"no policy fits a budget of {budget:.6g} {unit} (solver: "
                         f"{res.message})")
    choice = tuple(int(i) for i in np.argmax(res.x.reshape(layers, k), axis=1))
    found = evaluate(choice, omega, cost, precisions)
    return Policy(found.choice, found.precisions, found.loss, found.cost,
                  time.perf_counter() - start)


def brute_force(omega: np.ndarray, cost: np.ndarray, precisions: list[str],
                budget: float) -> Policy:
    """Every policy enumerated (small cases only: at most 200,000)."""
    _check(omega, cost, precisions)
    layers, k = omega.shape
    if k ** layers > 200_000:
        raise ValueError(f"brute force needs precisions ** layers <= 200000, got {k}**{layers}")
    _budget_check(cost, budget, "")
    best = None
    for choice in itertools.product(range(k), repeat=layers):
        p = evaluate(choice, omega, cost, precisions)
        if p.cost <= budget * (1 + 1e-9) and (best is None or p.loss < best.loss):
            best = p
    return best


def greedy(omega: np.ndarray, cost: np.ndarray, precisions: list[str], budget: float,
           unit: str = "s") -> Policy:
    """HAWQ-style greedy baseline: start every layer at its least-loss precision, then
    repeatedly take the move to a cheaper precision with the smallest loss increase per unit
    of cost saved, until the budget is met."""
    _check(omega, cost, precisions)
    _budget_check(cost, budget, unit)
    start = time.perf_counter()
    big = np.where(np.isfinite(cost), omega, np.inf)
    choice = list(np.argmin(big, axis=1))
    rows = np.arange(len(choice))
    while cost[rows, choice].sum() > budget * (1 + 1e-9):
        best, best_ratio = None, np.inf
        for layer, current in enumerate(choice):
            for j in range(cost.shape[1]):
                saved = cost[layer, current] - cost[layer, j]
                if np.isfinite(cost[layer, j]) and saved > 0:
                    ratio = (omega[layer, j] - omega[layer, current]) / saved
                    if ratio < best_ratio:
                        best, best_ratio = (layer, j), ratio
        if best is None:
            break
        choice[best[0]] = best[1]
    found = evaluate(choice, omega, cost, precisions)
    return Policy(found.choice, found.precisions, found.loss, found.cost,
                  time.perf_counter() - start)


def uniform(precision: str, omega: np.ndarray, cost: np.ndarray,
            precisions: list[str]) -> Policy:
    """Every layer at ``precision``."""
    if precision not in precisions:
        raise ValueError(f"precision must be one of {', '.join(precisions)}, got {precision!r}")
    return evaluate([precisions.index(precision)] * omega.shape[0], omega, cost, precisions)


def random_policies(omega: np.ndarray, cost: np.ndarray, precisions: list[str], budget: float,
                    n: int, seed: int, band: float = 0.1, tries: int = 200_000,
                    unique: bool = False) -> list[Policy]:
    """Up to ``n`` random policies whose cost lies within ``band`` below ``budget`` (equal cost
    to the searched policy, give or take ``band``); ``unique=True`` draws distinct policies
    (fewer than ``n`` when the band holds fewer)."""
    _check(omega, cost, precisions)
    rng = np.random.default_rng(seed)
    layers, k = omega.shape
    if unique and k ** layers <= tries:  # small space: every policy in the band, shuffled
        band_ = [p for p in (evaluate(c, omega, cost, precisions)
                             for c in itertools.product(range(k), repeat=layers))
                 if budget * (1 - band) <= p.cost <= budget]
        return [band_[i] for i in rng.permutation(len(band_))[:n]]
    out, seen = [], set()
    for _ in range(tries):
        choice = rng.integers(0, k, layers)
        p = evaluate(choice, omega, cost, precisions)
        if budget * (1 - band) <= p.cost <= budget:
            if unique and p.choice in seen:
                continue
            seen.add(p.choice)
            out.append(p)
            if len(out) == n:
                break
    return out


def difference_fraction(a: list[str], b: list[str]) -> float:
    """Share of layers whose precision differs between two policies."""
    if len(a) != len(b):
        raise ValueError(f"policies must have the same number of layers, got {len(a)} and "
                         f"{len(b)}")
    return float(np.mean([x != y for x, y in zip(a, b, strict=True)]))
