"""Section "Fairness": group gaps with bootstrap confidence intervals, before and after a
post-processing mitigation (group-specific thresholds, Hardt et al. 2016 style).

The data set is synthetic and documented in :func:`synthetic`: a binary sensitive attribute
shifts two features (a proxy) and the base rate of the label (historical bias).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, y, a)``: 6 features in [0, 1], label y, sensitive attribute a (40 % of a = 1).

    Group a = 1 has the two 'income' features shifted down by 0.08 and a lower base rate of the
    positive label (its logit is 0.3 lower); a itself is not a feature, but the shift makes it
    partly recoverable.
    """
    if n < 100:
        raise ValueError(f"n must be >= 100, got {n!r}")
    rng = np.random.default_rng(seed)
    a = (rng.random(n) < 0.4).astype(np.int32)
    z = rng.normal(size=(n, 6))
    x = 0.5 + 0.15 * z
    x[:, :2] -= 0.08 * a[:, None]
    logit = 3.0 * (x[:, 0] - 0.5) + 2.0 * (x[:, 1] - 0.5) + 1.0 * (x[:, 2] - 0.5) - 0.3 * a
    y = (rng.random(n) < 1 / (1 + np.exp(-4 * logit))).astype(np.int32)
    return np.clip(x, 0, 1).astype(np.float32), y, a


def dp_gap(pred: np.ndarray, a: np.ndarray) -> float:
    """Demographic-parity difference |P(yhat=1 | a=1) - P(yhat=1 | a=0)|."""
    return float(abs(pred[a == 1].mean() - pred[a == 0].mean()))


def eo_gap(pred: np.ndarray, y: np.ndarray, a: np.ndarray) -> float:
    """Equalized-odds difference: the larger of the TPR and FPR gaps between groups."""
    gaps = []
    for label in (1, 0):
        r = [pred[(a == g) & (y == label)].mean() for g in (0, 1)]
        gaps.append(abs(r[1] - r[0]))
    return float(max(gaps))


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile-bootstrap (1 - alpha) interval."""

    value: float
    low: float
    high: float

    def as_list(self) -> list[float]:
        return [self.value, self.low, self.high]


def bootstrap(pred: np.ndarray, y: np.ndarray, a: np.ndarray, metric: str = "dp",
              reps: int = 1000, alpha: float = 0.05, seed: int = 0) -> Interval:
    """Percentile bootstrap CI of 'dp' or 'eo' gap, resampling test points with replacement."""
    if metric not in ("dp", "eo"):
        raise ValueError(f"metric must be 'dp' or 'eo', got {metric!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if reps < 10:
        raise ValueError(f"reps must be >= 10, got {reps!r}")
    fn = (lambda p, t, g: dp_gap(p, g)) if metric == "dp" else eo_gap
    rng = np.random.default_rng(seed)
    n = len(pred)
    vals = []
    for _ in range(reps):
        i = rng.integers(0, n, n)
        vals.append(fn(pred[i], y[i], a[i]))
    lo, hi = np.quantile(vals, [alpha / 2, 1 - alpha / 2])
    return Interval(fn(pred, y, a), float(lo), float(hi))


def parity_thresholds(score: np.ndarray, a: np.ndarray, rate: float) -> dict[int, float]:
    """Per-group thresholds giving each group the positive rate ``rate`` (fit on held-out data)."""
    return {g: float(np.quantile(score[a == g], 1 - rate)) for g in (0, 1)}


def apply_thresholds(score: np.ndarray, a: np.ndarray, thresholds: dict[int, float]) -> np.ndarray:
    """Predictions with the group's own threshold."""
    t = np.where(a == 1, thresholds[1], thresholds[0])
    return (score > t).astype(np.int32)
