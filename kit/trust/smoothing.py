"""Section "Randomized smoothing": Cohen, Rosenfeld and Kolter (ICML 2019), PREDICT and CERTIFY.

The smoothed classifier ``g(x) = argmax_c P(f(x + N(0, sigma^2 I)) = c)`` is certified in l2:
if the Clopper-Pearson lower bound ``pA`` of the top class probability exceeds 1/2, ``g`` is
constant within radius ``sigma * Phi^-1(pA)``, with probability at least ``1 - alpha`` over the
sampling. Base-classifier forwards run in MindSpore in large batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from kit.trust.models import MLP, predict_logits

ABSTAIN = -1


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """A significance level must lie in the open interval (0, 1)."""
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0 < alpha < 1:
        raise ValueError(f"{name} must be in (0, 1), got {alpha!r}")
    return float(alpha)


def check_sigma(sigma: float) -> float:
    """A noise level must be a finite number > 0."""
    if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or not np.isfinite(sigma) \
            or sigma <= 0:
        raise ValueError(f"sigma must be a number > 0, got {sigma!r}")
    return float(sigma)


def clopper_pearson_lower(k: np.ndarray | int, n: int, alpha: float) -> np.ndarray:
    """One-sided (1 - alpha) Clopper-Pearson lower bound of a binomial proportion (k of n)."""
    alpha = check_alpha(alpha)
    k = np.asarray(k, dtype=float)
    safe = np.where(k > 0, k, 1.0)
    return np.where(k > 0, stats.beta.ppf(alpha, safe, n - safe + 1), 0.0)


def min_certify_samples(alpha: float) -> int:
    """Smallest N with which CERTIFY can certify at all: alpha^(1/N) > 1/2."""
    return int(np.floor(np.log(check_alpha(alpha)) / np.log(0.5))) + 1


def min_predict_samples(alpha: float) -> int:
    """Smallest N with which PREDICT can answer: two-sided binomial p-value 2^(1-N) <= alpha."""
    return int(np.ceil(1 - np.log2(check_alpha(alpha))))


def check_samples(n: int, alpha: float, what: str = "certify", name: str = "n") -> int:
    """Refuse a sample count that abstains on every input at confidence ``alpha``."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{name} must be an int >= 1, got {n!r}")
    need = min_certify_samples(alpha) if what == "certify" else min_predict_samples(alpha)
    if n < need:
        raise ValueError(f"{name}={n} cannot {what} at alpha={alpha}: abstains everywhere "
                         f"(needs {name} >= {need})")
    return n


def sample_counts(net: MLP, x: np.ndarray, sigma: float, n: int, rng: np.random.Generator,
                  chunk: int = 20000, n_classes: int = 10) -> np.ndarray:
    """Class counts (len(x), K) of the base classifier under ``n`` Gaussian noise draws each."""
    sigma = check_sigma(sigma)
    counts = np.zeros((len(x), n_classes), np.int64)
    per = max(1, chunk // n)
    for i in range(0, len(x), per):
        xs = np.repeat(x[i:i + per], n, axis=0)
        noisy = (xs + sigma * rng.standard_normal(xs.shape)).astype(np.float32)
        pred = predict_logits(net, noisy).argmax(1).reshape(-1, n)
        for j, row in enumerate(pred):
            counts[i + j] = np.bincount(row, minlength=n_classes)
    return counts


@dataclass
class Certificate:
    """CERTIFY's answers: predicted class (or ABSTAIN) and l2 radius per input."""

    label: np.ndarray
    radius: np.ndarray
    p_lower: np.ndarray
    sigma: float

    def certified_accuracy(self, y: np.ndarray, r: float) -> float:
        """Fraction of inputs predicted correctly with a radius of at least ``r``."""
        return float(((self.label == y) & (self.radius >= r)).mean())


def certify(net: MLP, x: np.ndarray, sigma: float, n0: int, n: int, alpha: float,
            seed: int = 0) -> Certificate:
    """Cohen et al.'s CERTIFY: guess the class from ``n0`` draws, bound it with ``n`` new ones."""
    sigma, alpha = check_sigma(sigma), check_alpha(alpha)
    if not isinstance(n0, int) or isinstance(n0, bool) or n0 < 1:
        raise ValueError(f"n0 must be an int >= 1, got {n0!r}")
    check_samples(n, alpha, "certify", "n")
    rng = np.random.default_rng(seed)
    guess = sample_counts(net, x, sigma, n0, rng).argmax(1)
    counts = sample_counts(net, x, sigma, n, rng)
    k = counts[np.arange(len(x)), guess]
    p_lower = clopper_pearson_lower(k, n, alpha)
    ok = p_lower > 0.5
    radius = np.where(ok, sigma * stats.norm.ppf(np.clip(p_lower, 0.5, 1 - 1e-16)), 0.0)
    return Certificate(np.where(ok, guess, ABSTAIN), np.where(ok, radius, -1.0), p_lower, sigma)


def predict(net: MLP, x: np.ndarray, sigma: float, n: int, alpha: float,
            seed: int = 0) -> np.ndarray:
    """Cohen et al.'s PREDICT: the top class unless a two-sided binomial test at ``alpha`` cannot
    tell it from the runner-up (then ABSTAIN)."""
    sigma, alpha = check_sigma(sigma), check_alpha(alpha)
    check_samples(n, alpha, "predict", "n")
    counts = sample_counts(net, x, sigma, n, np.random.default_rng(seed))
    top2 = np.argsort(-counts, axis=1)[:, :2]
    ca = counts[np.arange(len(x)), top2[:, 0]]
    cb = counts[np.arange(len(x)), top2[:, 1]]
    pv = np.array([stats.binomtest(int(a), int(a + b), 0.5).pvalue
                   for a, b in zip(ca, cb, strict=True)])
    return np.where(pv <= alpha, top2[:, 0], ABSTAIN)


def radius_curve(cert: Certificate, y: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Certified accuracy at each radius (the curve of Cohen et al.'s Figure 6)."""
    return np.array([cert.certified_accuracy(y, float(r)) for r in radii])


def smooth_pgd(net: MLP, x: np.ndarray, y: np.ndarray, radius: np.ndarray, sigma: float,
               steps: int = 20, draws: int = 32, seed: int = 0) -> np.ndarray:
    """l2 PGD against the *smoothed* classifier inside per-point radii (Salman et al. 2019):
    ascend the cross-entropy averaged over ``draws`` noise samples (expectation over noise)."""
    from kit.trust.attacks import _grad, input_grad

    sigma = check_sigma(sigma)
    rng = np.random.default_rng(seed)
    x = np.asarray(x, np.float32)
    radius = np.maximum(np.asarray(radius, np.float64), 0.0).reshape(-1, 1)
    fn = input_grad(net, "ce")
    xa = x.copy()
    yy = np.repeat(y, draws)
    for _ in range(steps):
        noisy = np.repeat(xa, draws, axis=0) + sigma * rng.standard_normal((len(xa) * draws,
                                                                          x.shape[1]))
        _, g = _grad(fn, noisy, yy)
        g = g.reshape(len(xa), draws, -1).mean(1)
        gn = np.linalg.norm(g, axis=1, keepdims=True)
        xa = xa + 2.5 * radius / steps * g / np.maximum(gn, 1e-12)
        delta = xa - x
        norm = np.linalg.norm(delta, axis=1, keepdims=True)
        delta = delta * np.minimum(1.0, radius / np.maximum(norm, 1e-12))
        xa = np.clip(x + delta, 0.0, 1.0)
    return xa.astype(np.float32)
