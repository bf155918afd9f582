"""Part A of chapter 03: distributions, NUTS with adaptation, ADVI, on MindSpore autodiff.

Log densities are MindSpore functions of a batch of unconstrained parameter vectors
``q`` of shape ``(chains, dim)``; ``ms.value_and_grad`` under ``ms.jit`` gives every chain's
log density and gradient in one call. The sampler (numpy) runs all chains in lock-step: every
chain builds its NUTS tree with the same doubling schedule, and a chain whose tree has stopped
ignores the remaining leapfrog steps, so one MindSpore call serves all chains.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import mindspore as ms
import numpy as np
from mindspore import Tensor, ops

from kit.core.tensors import fetch

LOG_2PI = math.log(2 * math.pi)
DTYPE = ms.float32


# ---------------------------------------------------------------- distributions (section A.1)

def _positive(name: str, value: float | np.ndarray) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return arr


def _t(x: float | np.ndarray | Tensor) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))


class Normal:
    """Normal(loc, scale): ``log_prob`` in MindSpore ops, reparameterised ``sample``."""

    def __init__(self, loc: float | np.ndarray, scale: float | np.ndarray) -> None:
        self.loc = np.asarray(loc, dtype=np.float64)
        self.scale = _positive("scale", scale)

    def log_prob(self, x: Tensor) -> Tensor:
        z = (_t(x) - _t(self.loc)) / _t(self.scale)
        return -0.5 * z * z - ops.log(_t(self.scale)) - 0.5 * LOG_2PI

    def sample(self, shape: tuple[int, ...], seed: int = 0) -> Tensor:
        eps = np.random.default_rng(seed).standard_normal(shape + self.loc.shape)
        return _t(self.loc) + _t(self.scale) * _t(eps)


class HalfCauchy:
    """HalfCauchy(scale) on x > 0; ``sample`` is ``scale * tan(pi u / 2)`` (reparameterised)."""

    def __init__(self, scale: float | np.ndarray) -> None:
        self.scale = _positive("scale", scale)

    def log_prob(self, x: Tensor) -> Tensor:
        s = _t(self.scale)
        return math.log(2 / math.pi) - ops.log(s) - ops.log1p((_t(x) / s) ** 2)

    def sample(self, shape: tuple[int, ...], seed: int = 0) -> Tensor:
        u = np.random.default_rng(seed).random(shape + self.scale.shape)
        return _t(self.scale) * ops.tan(_t(math.pi / 2 * u))


class Gamma:
    """Gamma(concentration, rate); ``sample`` by numpy (not reparameterised)."""

    def __init__(self, concentration: float | np.ndarray, rate: float | np.ndarray) -> None:
        self.concentration = _positive("concentration", concentration)
        self.rate = _positive("rate", rate)

    def log_prob(self, x: Tensor) -> Tensor:
        a, b, x = _t(self.concentration), _t(self.rate), _t(x)
        return a * ops.log(b) + (a - 1) * ops.log(x) - b * x - ops.lgamma(a)

    def sample(self, shape: tuple[int, ...], seed: int = 0) -> Tensor:
        rng = np.random.default_rng(seed)
        return _t(rng.gamma(self.concentration, 1 / self.rate,
                            shape + np.broadcast(self.concentration, self.rate).shape))


class Bernoulli:
    """Bernoulli with ``logits`` (any real) or ``probs`` in [0, 1]."""

    def __init__(self, probs: float | np.ndarray) -> None:
        p = np.asarray(probs, dtype=np.float64)
        if not np.all((p >= 0) & (p <= 1)):
            raise ValueError(f"probs must lie in [0, 1], got {probs!r}")
        self.probs = p

    def log_prob(self, x: Tensor) -> Tensor:
        p = _t(np.clip(self.probs, 1e-12, 1 - 1e-12))
        x = _t(x)
        return x * ops.log(p) + (1 - x) * ops.log1p(-p)

    def sample(self, shape: tuple[int, ...], seed: int = 0) -> Tensor:
        u = np.random.default_rng(seed).random(shape + self.probs.shape)
        return _t((u < self.probs).astype(np.float32))


class Categorical:
    """Categorical over the last axis of ``probs`` (non-negative, each row sums to 1)."""

    def __init__(self, probs: np.ndarray) -> None:
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim < 1 or np.any(p < 0) or not np.allclose(p.sum(axis=-1), 1.0, atol=1e-6):
            raise ValueError(f"probs must be non-negative and sum to 1 on the last axis, "
                             f"got {probs!r}")
        self.probs = p

    def log_prob(self, x: np.ndarray) -> Tensor:
        idx = np.asarray(x)
        if not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or \
                idx.max() >= self.probs.shape[-1]:
            raise ValueError(f"x must be integer categories in [0, {self.probs.shape[-1]})")
        return _t(np.log(np.take_along_axis(
            np.broadcast_to(self.probs, idx.shape + self.probs.shape[-1:]),
            idx[..., None], axis=-1)[..., 0]))

    def sample(self, shape: tuple[int, ...], seed: int = 0) -> Tensor:
        rng = np.random.default_rng(seed)
        cum = np.cumsum(self.probs, axis=-1)
        u = rng.random(shape + self.probs.shape[:-1] + (1,))
        return Tensor((u > cum).sum(axis=-1).astype(np.int32))


# ---------------------------------------------------------------- models (section A.2)
# Each log density takes q (chains, dim) in unconstrained space and the data as tensors, and
# returns (sum over chains, per-chain log density) so value_and_grad(has_aux) gives both.

def _normal_lp(x: Tensor, loc: Tensor | float, scale: Tensor | float) -> Tensor:
    z = (x - loc) / scale
    return -0.5 * z * z - ops.log(scale * ops.ones_like(z)) - 0.5 * LOG_2PI


def _halfcauchy_lp(x: Tensor, scale: float) -> Tensor:
    return math.log(2 / (math.pi * scale)) - ops.log1p((x / scale) ** 2)


def eight_schools_centred(q: Tensor, y: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
    """Section A.2: mu ~ N(0, 5), tau ~ HalfCauchy(5), theta_j ~ N(mu, tau), y_j ~ N(theta_j,
    sigma_j); q = (mu, log tau, theta_1..8), with the log-Jacobian of tau = exp(log tau)."""
    mu, log_tau, theta = q[:, 0:1], q[:, 1:2], q[:, 2:]
    tau = ops.exp(log_tau)
    lp = (_normal_lp(mu, 0.0, 5.0).sum(axis=1) + _halfcauchy_lp(tau, 5.0).sum(axis=1)
          + log_tau.sum(axis=1) + _normal_lp(theta, mu, tau).sum(axis=1)
          + _normal_lp(y, theta, sigma).sum(axis=1))
    return lp.sum(), lp


def eight_schools_noncentred(q: Tensor, y: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
    """Section A.2: as the centred model with theta = mu + tau * eta, eta_j ~ N(0, 1)."""
    mu, log_tau, eta = q[:, 0:1], q[:, 1:2], q[:, 2:]
    tau = ops.exp(log_tau)
    theta = mu + tau * eta
    lp = (_normal_lp(mu, 0.0, 5.0).sum(axis=1) + _halfcauchy_lp(tau, 5.0).sum(axis=1)
          + log_tau.sum(axis=1) + _normal_lp(eta, 0.0, 1.0).sum(axis=1)
          + _normal_lp(y, theta, sigma).sum(axis=1))
    return lp.sum(), lp


def linear_regression(q: Tensor, x: Tensor, y: Tensor, noise: Tensor,
                      prior_scale: Tensor) -> tuple[Tensor, Tensor]:
    """Section A.2: conjugate model, w ~ N(0, prior_scale^2 I), y ~ N(X w, noise^2): the
    posterior is Gaussian and known exactly."""
    pred = ops.matmul(q, x.T)  # (chains, n)
    lp = (_normal_lp(q, 0.0, prior_scale).sum(axis=1)
          + _normal_lp(y[None, :], pred, noise).sum(axis=1))
    return lp.sum(), lp


def logistic_regression(q: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Section A.2: Bayesian logistic regression, w ~ N(0, 1) (intercept in column 0 of x)."""
    logits = ops.matmul(q, x.T)
    ll = y[None, :] * logits - ops.softplus(logits)
    lp = _normal_lp(q, 0.0, 1.0).sum(axis=1) + ll.sum(axis=1)
    return lp.sum(), lp


EIGHT_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
EIGHT_SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


@dataclass
class Target:
    """A posterior: its MindSpore log density, data, parameter names and (optionally) the
    exact posterior mean and sd in the unconstrained space."""

    name: str
    fn: object
    data: tuple[np.ndarray, ...]
    names: list[str]
    exact_mean: np.ndarray | None = None
    exact_sd: np.ndarray | None = None
    _vg: object = field(default=None, repr=False)
    _tensors: tuple = field(default=(), repr=False)
    _steps: object = field(default=None, repr=False)
    calls: int = 0

    @property
    def dim(self) -> int:
        return len(self.names)

    def value_and_grad(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-chain log density ``(chains,)`` and gradient ``(chains, dim)`` (MindSpore)."""
        if self._vg is None:
            self._vg = ms.jit(ms.value_and_grad(self.fn, grad_position=0, has_aux=True))
            self._tensors = tuple(Tensor(np.asarray(d, dtype=np.float32)) for d in self.data)
        (_, lp), g = self._vg(Tensor(np.asarray(q, dtype=np.float32)), *self._tensors)
        self.calls += 1
        return fetch(lp, g, dtype=np.float64)

    def leapfrogs(self, q: np.ndarray, p: np.ndarray, g: np.ndarray, eps: np.ndarray,
                  inv_m: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
        """``n`` leapfrog steps for every chain (step ``eps`` per chain, signed), computed
        ``BLOCK`` steps per MindSpore call; returns stacked (q, p, log p, grad), each
        ``(n, chains, ...)``."""
        if self._steps is None:
            self.value_and_grad(q)
            self._steps = {}
        outs = []
        while n > 0:
            k = min(BLOCK, 1 << (n.bit_length() - 1))
            if k not in self._steps:
                self._steps[k] = ms.jit(_make_steps(self.fn, k))
            res = self._steps[k](*(Tensor(np.asarray(a, np.float32))
                                   for a in (q, p, g, eps[:, None], inv_m)), self._tensors)
            block = list(fetch(*res, dtype=np.float64))
            self.calls += 1
            outs.append(block)
            q, p, g = block[0][-1], block[1][-1], block[3][-1]
            n -= k
        return tuple(np.concatenate([o[i] for o in outs]) for i in range(4))

    def log_prob(self, q: np.ndarray) -> np.ndarray:
        """Per-chain log density only (for emcee's vectorised walkers)."""
        return self.value_and_grad(np.atleast_2d(q))[0]


BLOCK = 4


def _make_steps(fn: object, k: int) -> object:
    """A MindSpore function doing ``k`` leapfrog steps of ``fn``'s Hamiltonian (for ms.jit)."""
    vg = ms.value_and_grad(fn, grad_position=0, has_aux=True)

    def steps(q: Tensor, p: Tensor, g: Tensor, eps: Tensor, inv_m: Tensor,
              data: tuple) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        qs, ps, lps, gs = [], [], [], []
        for _ in range(k):
            p = p + 0.5 * eps * g
            q = q + eps * inv_m * p
            (_, lp), g = vg(q, *data)
            p = p + 0.5 * eps * g
            qs.append(q)
            ps.append(p)
            lps.append(lp)
            gs.append(g)
        return ops.stack(qs), ops.stack(ps), ops.stack(lps), ops.stack(gs)

    return steps


def eight_schools(centred: bool) -> Target:
    """Section A.2: Rubin's eight schools, centred or non-centred."""
    names = ["mu", "log_tau"] + [f"{'theta' if centred else 'eta'}_{j}" for j in range(8)]
    fn = eight_schools_centred if centred else eight_schools_noncentred
    return Target(f"eight schools ({'centred' if centred else 'non-centred'})", fn,
                  (EIGHT_Y[None, :], EIGHT_SIGMA[None, :]), names)


def conjugate_regression(n: int = 50, dim: int = 3, noise: float = 1.0,
                         prior_scale: float = 2.0, seed: int = 0) -> Target:
    """Section A.2: synthetic linear regression with its exact Gaussian posterior."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim))
    w = rng.standard_normal(dim)
    y = x @ w + noise * rng.standard_normal(n)
    precision = x.T @ x / noise**2 + np.eye(dim) / prior_scale**2
    cov = np.linalg.inv(precision)
    mean = cov @ x.T @ y / noise**2
    return Target("conjugate linear regression", linear_regression,
                  (x, y, np.array(noise), np.array(prior_scale)),
                  [f"w_{i}" for i in range(dim)], mean, np.sqrt(np.diag(cov)))


def breast_cancer(features: int = 30) -> Target:
    """Section A.2: logistic regression on scikit-learn's breast-cancer data (standardised)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x = data.data[:, :features]
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    x = np.concatenate([np.ones((x.shape[0], 1)), x], axis=1)
    return Target("breast-cancer logistic regression", logistic_regression,
                  (x, data.target.astype(np.float64)),
                  ["intercept"] + [f"w_{i}" for i in range(features)])


# ---------------------------------------------------------------- NUTS (section A.3)

@dataclass
class Run:
    """Draws ``(chains, draws, dim)`` and per-draw sampler statistics."""

    draws: np.ndarray
    divergent: np.ndarray
    tree_depth: np.ndarray
    step_size: np.ndarray
    seconds: float
    grad_calls: int
    sampler: str = "NUTS"


def initial_point(target: Target, chains: int, rng: np.random.Generator,
                  radius: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform(-radius, radius) in unconstrained space, as Stan does; refuses a non-finite
    start naming the parameters whose log density or gradient is not finite."""
    q = rng.uniform(-radius, radius, (chains, target.dim))
    lp, g = target.value_and_grad(q)
    if not (np.all(np.isfinite(lp)) and np.all(np.isfinite(g))):
        bad = sorted({target.names[j] for j in np.nonzero(~np.isfinite(g).all(axis=0))[0]})
        raise ValueError(f"log density of {target.name} is not finite at the initial point "
                         f"(log p = {lp.tolist()}); parameters with non-finite gradient: "
                         f"{bad or 'none (the log density itself is not finite)'}")
    return q, lp, g


def _leapfrog_np(target: Target, q: np.ndarray, p: np.ndarray, g: np.ndarray, eps: np.ndarray,
              inv_m: np.ndarray) -> tuple[np.ndarray, ...]:
    p = p + 0.5 * eps[:, None] * g
    q = q + eps[:, None] * inv_m * p
    with np.errstate(all="ignore"):
        lp, g = target.value_and_grad(q)
    p = p + 0.5 * eps[:, None] * g
    return q, p, lp, g


def _turning(q_a: np.ndarray, q_b: np.ndarray, p_a: np.ndarray, p_b: np.ndarray,
             inv_m: np.ndarray, direction: np.ndarray) -> np.ndarray:
    dq = direction[:, None] * (q_b - q_a)
    return ((dq * inv_m * p_a).sum(axis=1) < 0) | ((dq * inv_m * p_b).sum(axis=1) < 0)


def _leaf(q1: np.ndarray, p1: np.ndarray, lp1: np.ndarray, g1: np.ndarray,
          inv_m: np.ndarray, h0: np.ndarray) -> dict[str, np.ndarray]:
    with np.errstate(all="ignore"):
        h = -lp1 + 0.5 * (inv_m * p1 * p1).sum(axis=1)
    bad = ~np.isfinite(h) | ~np.all(np.isfinite(g1), axis=1) | ~np.all(np.isfinite(q1), axis=1)
    h = np.where(bad, np.inf, h)
    logw = h0 - h
    return {"q_first": q1, "p_first": p1, "q_last": q1, "p_last": p1, "g_last": g1,
            "q_prop": q1, "lp_prop": lp1, "g_prop": g1, "logw": logw,
            "turning": np.zeros(len(h), bool), "div": bad | (h - h0 > 1000.0),
            "acc": np.where(bad, 0.0, np.minimum(1.0, np.exp(np.minimum(logw, 0.0)))),
            "n": np.ones(len(h))}


def _build(leaves: tuple[np.ndarray, ...], lo: int, depth: int, direction: np.ndarray,
           inv_m: np.ndarray, h0: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The subtree over leaves ``lo .. lo + 2**depth`` (precomputed leapfrog states)."""
    if depth == 0:
        return _leaf(leaves[0][lo], leaves[1][lo], leaves[2][lo], leaves[3][lo], inv_m, h0)
    left = _build(leaves, lo, depth - 1, direction, inv_m, h0, rng)
    right = _build(leaves, lo + 2 ** (depth - 1), depth - 1, direction, inv_m, h0, rng)
    ok = ~(left["turning"] | left["div"])
    logw = np.logaddexp(left["logw"], right["logw"])
    with np.errstate(all="ignore"):
        take = ok & (np.log(rng.random(len(logw))) < right["logw"] - logw)
    out = {k: np.where(take[:, None] if left[k].ndim == 2 else take, right[k], left[k])
           for k in ("q_prop", "lp_prop", "g_prop")}
    out.update(q_first=left["q_first"], p_first=left["p_first"], q_last=right["q_last"],
               p_last=right["p_last"], g_last=right["g_last"],
               logw=np.where(ok, logw, left["logw"]),
               div=left["div"] | (ok & right["div"]),
               acc=left["acc"] + np.where(ok, right["acc"], 0.0),
               n=left["n"] + np.where(ok, right["n"], 0.0))
    out["turning"] = left["turning"] | (ok & (right["turning"] | _turning(
        out["q_first"], out["q_last"], out["p_first"], out["p_last"], inv_m, direction)))
    return out


def nuts_step(target: Target, q: np.ndarray, lp: np.ndarray, g: np.ndarray, eps: np.ndarray,
              inv_m: np.ndarray, max_depth: int, rng: np.random.Generator
              ) -> tuple[np.ndarray, ...]:
    """Section A.3: one NUTS transition for every chain (multinomial sampling along the
    trajectory, biased progressive sampling between subtrees, the no-U-turn criterion)."""
    chains = q.shape[0]
    p0 = rng.standard_normal(q.shape) / np.sqrt(inv_m)
    h0 = -lp + 0.5 * (inv_m * p0 * p0).sum(axis=1)
    qm, pm, gm = q.copy(), p0.copy(), g.copy()
    qp, pp, gp = q.copy(), p0.copy(), g.copy()
    prop_q, prop_lp, prop_g = q.copy(), lp.copy(), g.copy()
    logw = np.zeros(chains)
    active = np.ones(chains, bool)
    divergent = np.zeros(chains, bool)
    depth = np.zeros(chains, int)
    acc = np.zeros(chains)
    n = np.zeros(chains)
    for j in range(max_depth):
        direction = rng.choice([-1.0, 1.0], chains)
        fwd = direction > 0
        start_q = np.where(fwd[:, None], qp, qm)
        start_p = np.where(fwd[:, None], pp, pm)
        start_g = np.where(fwd[:, None], gp, gm)
        with np.errstate(all="ignore"):
            leaves = target.leapfrogs(start_q, start_p, start_g, direction * eps, inv_m, 2 ** j)
        sub = _build(leaves, 0, j, direction, inv_m, h0, rng)
        depth += active
        acc += np.where(active, sub["acc"], 0.0)
        n += np.where(active, sub["n"], 0.0)
        divergent |= active & sub["div"]
        valid = active & ~sub["turning"] & ~sub["div"]
        with np.errstate(all="ignore"):
            take = valid & (np.log(rng.random(chains)) < sub["logw"] - logw)
        prop_q = np.where(take[:, None], sub["q_prop"], prop_q)
        prop_lp = np.where(take, sub["lp_prop"], prop_lp)
        prop_g = np.where(take[:, None], sub["g_prop"], prop_g)
        logw = np.where(valid, np.logaddexp(logw, sub["logw"]), logw)
        f, b = (valid & fwd)[:, None], (valid & ~fwd)[:, None]
        qp, pp, gp = (np.where(f, sub["q_last"], qp), np.where(f, sub["p_last"], pp),
                      np.where(f, sub["g_last"], gp))
        qm, pm, gm = (np.where(b, sub["q_last"], qm), np.where(b, sub["p_last"], pm),
                      np.where(b, sub["g_last"], gm))
        active = valid & ~_turning(qm, qp, pm, pp, inv_m, np.ones(chains))
        if not active.any():
            break
    return prop_q, prop_lp, prop_g, divergent, depth, acc / np.maximum(n, 1)


def nuts(target: Target, chains: int = 4, warmup: int = 500, draws: int = 500,
         max_depth: int = 8, target_accept: float = 0.8, seed: int = 0,
         step_size: float | None = None, adapt_mass: bool = True) -> Run:
    """Section A.3: NUTS with dual-averaging step size (Hoffman & Gelman 2014) and a diagonal
    mass matrix estimated in one warm-up window (15 %-75 % of warm-up, Stan's regularisation).
    With ``step_size`` given, no adaptation (the Explore widget's fixed-step mode)."""
    for name, v, lo in (("chains", chains, 1), ("draws", draws, 4), ("max_depth", max_depth, 1),
                        ("warmup", warmup, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must be in (0, 1), got {target_accept}")
    if step_size is not None and not step_size > 0:
        raise ValueError(f"step_size must be > 0, got {step_size}")
    rng = np.random.default_rng(seed)
    q, lp, g = initial_point(target, chains, rng)
    with np.errstate(all="ignore"):  # compile the 1-, 2- and 4-step graphs outside the timing
        target.leapfrogs(q, np.zeros_like(q), g, np.full(chains, 1e-3), np.ones_like(q),
                         2 * BLOCK - 1)
    calls0 = target.calls
    start = time.perf_counter()
    inv_m = np.ones((chains, target.dim))
    eps = np.full(chains, 0.1 if step_size is None else step_size)
    mu, h_bar, log_eps_bar, m = np.log(10 * eps), np.zeros(chains), np.zeros(chains), 0
    window = (int(0.15 * warmup), int(0.75 * warmup))
    kept = []
    out = np.empty((chains, draws, target.dim))
    div = np.zeros((chains, draws), bool)
    depth = np.zeros((chains, draws), int)
    for it in range(warmup + draws):
        q, lp, g, d, dep, alpha = nuts_step(target, q, lp, g, eps, inv_m, max_depth, rng)
        if it < warmup and step_size is None:
            m += 1
            h_bar = (1 - 1 / (m + 10)) * h_bar + (target_accept - alpha) / (m + 10)
            log_eps = mu - np.sqrt(m) / 0.05 * h_bar
            log_eps_bar = m ** -0.75 * log_eps + (1 - m ** -0.75) * log_eps_bar
            eps = np.exp(log_eps)
            if adapt_mass and window[0] <= it < window[1]:
                kept.append(q.copy())
            if adapt_mass and it == window[1] - 1 and len(kept) > 10:
                x = np.stack(kept, axis=1)
                k = x.shape[1]
                inv_m = (k / (k + 5)) * x.var(axis=1, ddof=1) + 1e-3 * 5 / (k + 5)
                mu, h_bar, log_eps_bar, m = np.log(10 * eps), np.zeros(chains), \
                    np.zeros(chains), 0
            if it == warmup - 1:
                eps = np.exp(log_eps_bar)
        elif it >= warmup:
            out[:, it - warmup] = q
            div[:, it - warmup] = d
            depth[:, it - warmup] = dep
    return Run(out, div, depth, eps, time.perf_counter() - start, target.calls - calls0)


# ---------------------------------------------------------------- baselines (section A.5)

def emcee_run(target: Target, walkers: int = 32, steps: int = 1000, burn: int = 500,
              seed: int = 0) -> tuple[Run, float]:
    """Section A.5: emcee's affine-invariant ensemble on the same (MindSpore) log density,
    walkers vectorised; returns the run and emcee's own ESS (draws / integrated autocorr)."""
    import emcee

    rng = np.random.default_rng(seed)
    p0 = rng.uniform(-2, 2, (walkers, target.dim))
    np.random.seed(seed)  # emcee draws from numpy's global RandomState
    sampler = emcee.EnsembleSampler(walkers, target.dim, target.log_prob, vectorize=True)
    calls0 = target.calls
    start = time.perf_counter()
    sampler.run_mcmc(p0, burn + steps, progress=False)
    seconds = time.perf_counter() - start
    chain = sampler.get_chain(discard=burn)  # (steps, walkers, dim)
    tau = emcee.autocorr.integrated_time(chain, quiet=True)
    ess = float(np.min(steps * walkers / tau))
    draws = np.transpose(chain, (1, 0, 2))
    return Run(draws, np.zeros(draws.shape[:2], bool), np.zeros(draws.shape[:2], int),
               np.zeros(walkers), seconds, target.calls - calls0, "emcee"), ess


def advi(target: Target, steps: int = 2000, samples: int = 8, lr: float = 0.05,
         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Section A.5: mean-field ADVI, Gaussian q(z) = N(m, exp(s)^2), reparameterised ELBO
    gradients from MindSpore (the draws are the batch), Adam on (m, s). Returns (mean, sd)."""
    rng = np.random.default_rng(seed)
    m, s = np.zeros(target.dim), np.full(target.dim, -1.0)
    mom = np.zeros(2 * target.dim)
    vel = np.zeros(2 * target.dim)
    for t in range(1, steps + 1):
        eps = rng.standard_normal((samples, target.dim))
        z = m + np.exp(s) * eps
        _, gz = target.value_and_grad(z)
        gm = gz.mean(axis=0)
        gs = (gz * eps * np.exp(s)).mean(axis=0) + 1.0  # + entropy gradient
        grad = -np.concatenate([gm, gs])
        mom = 0.9 * mom + 0.1 * grad
        vel = 0.999 * vel + 0.001 * grad * grad
        stepv = lr * (mom / (1 - 0.9**t)) / (np.sqrt(vel / (1 - 0.999**t)) + 1e-8)
        m, s = m - stepv[:target.dim], s - stepv[target.dim:]
    return m, np.exp(s)
