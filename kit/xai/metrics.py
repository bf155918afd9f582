"""Chapter 09 measurement ("Measuring explanations"): deletion/insertion AUC, faithfulness
correlation, max-sensitivity, sparsity (Gini), IG completeness, rank correlation for the
sanity checks, and the simulatability test (does an explanation help a simple learner predict
the model?).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from kit.xai.models import Classifier


def _flat(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    return a.reshape(len(a), -1)


def _check_pair(x: np.ndarray, attr: np.ndarray) -> None:
    if np.shape(x) != np.shape(attr):
        raise ValueError(f"attr must have the shape of x {np.shape(x)}, got {np.shape(attr)}")


def deletion_insertion(clf: Classifier, x: np.ndarray, target, attr: np.ndarray,
                       baseline=None, per_step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Petsiuk et al. 2018: the target probability as pixels are removed (deletion: x ->
    baseline) or added (insertion: baseline -> x) in decreasing order of attribution; the
    area under each curve over the fraction changed, per input. Higher insertion and lower
    deletion are better."""
    x = clf.check_input(x)
    t = clf.check_target(target, len(x))
    _check_pair(x, attr)
    if not isinstance(per_step, int) or per_step < 1:
        raise ValueError(f"per_step must be an int >= 1, got {per_step!r}")
    n, d = len(x), int(np.prod(x.shape[1:]))
    base = np.zeros_like(x) if baseline is None else np.broadcast_to(
        np.asarray(baseline, np.float32), x.shape)
    order = np.argsort(-_flat(attr), axis=1, kind="stable")
    counts = np.unique(np.r_[np.arange(0, d, per_step), d])
    rank = np.empty_like(order)
    rank[np.arange(n)[:, None], order] = np.arange(d)[None]
    changed = rank[:, None, :] < counts[None, :, None]  # (n, steps, d)
    xf, bf = x.reshape(n, 1, d), base.reshape(n, 1, d)
    deleted = np.where(changed, bf, xf).reshape(-1, *x.shape[1:])
    inserted = np.where(changed, xf, bf).reshape(-1, *x.shape[1:])
    pd = clf.probs(deleted).reshape(n, len(counts), -1)[np.arange(n), :, t]
    pi = clf.probs(inserted).reshape(n, len(counts), -1)[np.arange(n), :, t]
    frac = counts / d
    return np.trapz(pd, frac, axis=1), np.trapz(pi, frac, axis=1)


def faithfulness_correlation(clf: Classifier, x: np.ndarray, target, attr: np.ndarray,
                             subset: int = 8, runs: int = 32, baseline=None,
                             seed: int = 0) -> np.ndarray:
    """Bhatt et al. 2020: Pearson correlation, over ``runs`` random feature subsets of size
    ``subset``, between the attribution mass of the subset and the drop of the target logit
    when it is set to the baseline; one value per input."""
    x = clf.check_input(x)
    t = clf.check_target(target, len(x))
    _check_pair(x, attr)
    n, d = len(x), int(np.prod(x.shape[1:]))
    if not isinstance(subset, int) or not 1 <= subset < d:
        raise ValueError(f"subset must be an int in [1, {d - 1}], got {subset!r}")
    if not isinstance(runs, int) or runs < 3:
        raise ValueError(f"runs must be an int >= 3 (a correlation needs points), got {runs!r}")
    rng = np.random.default_rng(seed)
    base = np.zeros((n, d), np.float32) if baseline is None else np.broadcast_to(
        np.asarray(baseline, np.float32), x.shape).reshape(n, d)
    idx = np.argsort(rng.random((n, runs, d)), axis=2)[:, :, :subset]
    mask = np.zeros((n, runs, d), bool)
    np.put_along_axis(mask, idx, True, axis=2)
    xf = x.reshape(n, 1, d)
    perturbed = np.where(mask, base[:, None], xf).reshape(-1, *x.shape[1:])
    z0 = clf.logits(x)[np.arange(n), t]
    z = clf.logits(perturbed).reshape(n, runs, -1)[np.arange(n), :, t]
    mass = (mask * _flat(attr)[:, None]).sum(2)
    drop = z0[:, None] - z
    return np.array([_pearson(mass[i], drop[i]) for i in range(n)])


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if np.std(a) == 0 or np.std(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def max_sensitivity(explain: Callable[[np.ndarray, np.ndarray], np.ndarray], x: np.ndarray,
                    target: np.ndarray, radius: float = 0.05, samples: int = 5,
                    seed: int = 0) -> np.ndarray:
    """Yeh et al. 2019: max over ``samples`` uniform perturbations in an L-inf ball of
    ``radius`` of ||e(x + d) - e(x)|| / ||e(x)||, for the original target; one per input."""
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius!r}")
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an int >= 1, got {samples!r}")
    rng = np.random.default_rng(seed)
    n = len(x)
    noisy = x[None] + rng.uniform(-radius, radius, (samples, *x.shape)).astype(np.float32)
    e0 = _flat(explain(x, target))
    e = _flat(explain(noisy.reshape(-1, *x.shape[1:]), np.tile(target, samples)))
    e = e.reshape(samples, n, -1)
    norm = np.maximum(np.linalg.norm(e0, axis=1), 1e-12)
    return (np.linalg.norm(e - e0[None], axis=2) / norm).max(0)


def gini(attr: np.ndarray) -> np.ndarray:
    """Chalasani et al. 2020 sparsity: the Gini index of |attribution| per input (0 = uniform,
    -> 1 = one feature carries everything)."""
    a = np.sort(np.abs(_flat(attr)), axis=1)
    d = a.shape[1]
    total = a.sum(1)
    k = np.arange(1, d + 1)
    g = ((2 * k - d - 1) * a).sum(1) / (d * np.where(total > 0, total, 1))
    return np.where(total > 0, g, 0.0)


def completeness_error(clf: Classifier, x: np.ndarray, target, attr: np.ndarray,
                       baseline=None) -> np.ndarray:
    """Sundararajan et al. 2017's completeness: |sum(attr) - (F(x) - F(x'))| / |F(x) - F(x')|
    on the target logit, per input."""
    x = clf.check_input(x)
    t = clf.check_target(target, len(x))
    _check_pair(x, attr)
    base = np.zeros_like(x) if baseline is None else np.broadcast_to(
        np.asarray(baseline, np.float32), x.shape)
    n = len(x)
    gap = clf.logits(x)[np.arange(n), t].astype(np.float64) - clf.logits(base)[np.arange(n), t]
    return np.abs(_flat(attr).sum(1) - gap) / np.maximum(np.abs(gap), 1e-12)


def rank_correlation(a: np.ndarray, b: np.ndarray, absolute: bool = True) -> np.ndarray:
    """Adebayo et al. 2018: Spearman rank correlation between two attribution maps, per
    input (of absolute values by default)."""
    _check_pair(a, b)
    fa, fb = _flat(a), _flat(b)
    if absolute:
        fa, fb = np.abs(fa), np.abs(fb)
    out = []
    for u, v in zip(fa, fb, strict=True):
        r = stats.spearmanr(u, v).statistic if np.std(u) > 0 and np.std(v) > 0 else 0.0
        out.append(float(r))
    return np.array(out)


def bootstrap_ci(values: np.ndarray, level: float = 0.95, draws: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    values = np.asarray(values, np.float64)
    if values.size < 2:
        raise ValueError(f"values must hold at least 2 numbers, got {values.size}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (draws, len(values)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Simulatability:
    """Forward simulation (section "Simulatability"): student accuracy at predicting the
    model's label on unseen inputs, without and with the explanations of its training set."""

    without: float
    with_explanation: float
    control: float
    gain: float
    ci: tuple[float, float]
    per_repeat: tuple[float, ...]


def simulatability(x_pool: np.ndarray, y_model_pool: np.ndarray, attr_pool: np.ndarray,
                   x_test: np.ndarray, y_model_test: np.ndarray, train_size: int = 40,
                   repeats: int = 20, seed: int = 0, c: float = 1.0,
                   classes: int = 10) -> Simulatability:
    """A student (L2 logistic regression on pixels) sees ``train_size`` inputs with the
    model's labels and predicts the model's labels on ``x_test``.

    With explanation, the student also sees the attribution maps of its training inputs
    (never of the test inputs, which would leak the answer): it averages them per predicted
    class into evidence templates T_c and adds the scores x . T_c as features, so that what
    the model attends to for each class carries over to new inputs. The control builds the
    same templates with the pixels of each map shuffled. The gain is the paired accuracy
    difference with explanation minus without, with a bootstrap interval over repeats.
    """
    from sklearn.linear_model import LogisticRegression

    if not isinstance(train_size, int) or train_size < 10:
        raise ValueError(f"train_size must be an int >= 10, got {train_size!r}")
    if not isinstance(repeats, int) or repeats < 2:
        raise ValueError(f"repeats must be an int >= 2, got {repeats!r}")
    if train_size > len(x_pool):
        raise ValueError(f"train_size must be at most the pool size {len(x_pool)}, "
                         f"got {train_size}")
    rng = np.random.default_rng(seed)
    xp, xt, ap = _flat(x_pool), _flat(x_test), _flat(attr_pool)
    y_pool = np.asarray(y_model_pool)

    def templates(maps: np.ndarray, labels: np.ndarray) -> np.ndarray:
        t = np.zeros((classes, maps.shape[1]))
        for k in range(classes):
            if (labels == k).any():
                t[k] = maps[labels == k].mean(0)
        return t / max(np.abs(t).max(), 1e-12)

    def fit_score(extra: np.ndarray | None, idx: np.ndarray) -> float:
        if len(np.unique(y_pool[idx])) < 2:
            return float(np.mean(y_model_test == y_pool[idx][0]))
        ftr, fte = xp[idx], xt
        if extra is not None:
            ftr, fte = np.hstack([ftr, ftr @ extra.T]), np.hstack([fte, fte @ extra.T])
        student = LogisticRegression(C=c, max_iter=3000)
        student.fit(ftr, y_pool[idx])
        return float(np.mean(student.predict(fte) == y_model_test))

    without, with_e, control = [], [], []
    for _ in range(repeats):
        idx = rng.choice(len(xp), train_size, replace=False)
        shuffled = np.array([rng.permutation(row) for row in ap[idx]])
        without.append(fit_score(None, idx))
        with_e.append(fit_score(templates(ap[idx], y_pool[idx]), idx))
        control.append(fit_score(templates(shuffled, y_pool[idx]), idx))
    gains = np.array(with_e) - np.array(without)
    return Simulatability(float(np.mean(without)), float(np.mean(with_e)),
                          float(np.mean(control)), float(gains.mean()),
                          bootstrap_ci(gains, seed=seed), tuple(float(g) for g in gains))
