"""Part A of chapter 03: MCMC diagnostics of Vehtari et al. (2021), implemented from the paper.

Rank-normalised split R-hat, bulk and tail effective sample size, and the Monte Carlo standard
error of the mean. ``draws`` are ``(chains, iterations)`` arrays of one scalar quantity.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _check(draws: np.ndarray) -> np.ndarray:
    x = np.asarray(draws, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 4:
        raise ValueError(f"draws must be (chains, iterations >= 4), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("draws must be finite")
    return x


def split_chains(x: np.ndarray) -> np.ndarray:
    """Each chain cut into its first and second half (an odd middle draw is dropped)."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half:]], axis=0)


def rank_normalise(x: np.ndarray) -> np.ndarray:
    """Normal scores of the pooled ranks: ``Phi^-1((r - 3/8) / (S + 1/4))``."""
    r = stats.rankdata(x, method="average").reshape(x.shape)
    return stats.norm.ppf((r - 0.375) / (x.size + 0.25))


def _rhat(x: np.ndarray) -> float:
    n = x.shape[1]
    w = x.var(axis=1, ddof=1).mean()
    b = n * x.mean(axis=1).var(ddof=1)
    if w == 0:
        return float("nan") if b == 0 else float("inf")
    return float(np.sqrt(((n - 1) / n * w + b / n) / w))


def rhat(draws: np.ndarray) -> float:
    """Section A.4: rank-normalised split R-hat, the larger of bulk and folded (tail)."""
    x = split_chains(_check(draws))
    bulk = _rhat(rank_normalise(x))
    tail = _rhat(rank_normalise(np.abs(x - np.median(x))))
    return max(bulk, tail)


def _autocov(x: np.ndarray) -> np.ndarray:
    n = x.shape[1]
    centred = x - x.mean(axis=1, keepdims=True)
    size = 2 ** int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(centred, n=size, axis=1)
    return np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :n] / n


def ess(draws: np.ndarray) -> float:
    """Effective sample size of (already split) chains with Geyer's initial monotone sequence."""
    x = np.asarray(draws, dtype=np.float64)
    m, n = x.shape
    acov = _autocov(x)
    chain_var = acov[:, 0] * n / (n - 1)
    w = chain_var.mean()
    var_plus = w * (n - 1) / n + (x.mean(axis=1).var(ddof=1) if m > 1 else 0.0)
    if var_plus == 0:
        return float("nan")
    rho = 1.0 - (w - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    # pair sums P_t = rho_{2t} + rho_{2t+1}, kept while positive, made monotone
    pairs = rho[: 2 * (n // 2)].reshape(-1, 2).sum(axis=1)
    stop = np.argmax(pairs <= 0) if np.any(pairs <= 0) else pairs.size
    pairs = np.minimum.accumulate(pairs[:stop])
    tau = -1.0 + 2.0 * pairs.sum()
    tau = max(tau, 1.0 / np.log10(m * n))
    return float(m * n / tau)


def ess_bulk(draws: np.ndarray) -> float:
    """Section A.4: bulk ESS, of the rank-normalised split chains."""
    return ess(rank_normalise(split_chains(_check(draws))))


def ess_tail(draws: np.ndarray) -> float:
    """Section A.4: tail ESS, the smaller ESS of the indicators of the 5 % and 95 % quantiles."""
    x = split_chains(_check(draws))
    out = []
    for q in (0.05, 0.95):
        ind = (x <= np.quantile(x, q)).astype(np.float64)
        out.append(ess(ind))
    return float(min(out))


def ess_mean(draws: np.ndarray) -> float:
    """ESS for the mean (split chains, no rank normalisation)."""
    return ess(split_chains(_check(draws)))


def mcse_mean(draws: np.ndarray) -> float:
    """Section A.4: Monte Carlo standard error of the posterior mean, ``sd / sqrt(ESS_mean)``."""
    x = _check(draws)
    return float(x.std(ddof=1) / np.sqrt(ess_mean(x)))


def summary(draws: np.ndarray, names: list[str]) -> list[dict[str, float]]:
    """One row per parameter: mean, sd, MCSE, bulk and tail ESS, R-hat.

    ``draws`` is ``(chains, iterations, parameters)``.
    """
    draws = np.asarray(draws)
    if draws.ndim != 3 or draws.shape[2] != len(names):
        raise ValueError(f"draws must be (chains, iterations, {len(names)}), got {draws.shape}")
    rows = []
    for i, name in enumerate(names):
        x = draws[:, :, i]
        rows.append({"parameter": name, "mean": float(x.mean()), "sd": float(x.std(ddof=1)),
                     "mcse": mcse_mean(x), "ess_bulk": ess_bulk(x), "ess_tail": ess_tail(x),
                     "rhat": rhat(x)})
    return rows
