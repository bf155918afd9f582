"""Section "Privacy": DP-SGD in MindSpore, an RDP accountant, and membership inference.

DP-SGD (Abadi et al. 2016): Poisson-subsampled batches, per-example gradients (``ms.vmap`` of
``ms.grad``) clipped to norm ``clip``, Gaussian noise of standard deviation
``noise_multiplier * clip`` added to their sum. The accountant is the Renyi-DP bound of the
subsampled Gaussian mechanism at integer orders (Mironov, Talwar and Zhang 2019), converted to
(epsilon, delta) with the bound of Balle et al. 2020 -- the same formulas as Google's
``dp_accounting``, against which the unit tests check it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import mindspore as ms
import numpy as np
from mindspore import ops
from scipy.special import gammaln
from sklearn.metrics import roc_auc_score

from kit.trust.models import MLP

ORDERS = tuple(range(2, 257))


def check_delta(delta: float) -> float:
    """delta must lie in (0, 1)."""
    if not isinstance(delta, (int, float)) or isinstance(delta, bool) or not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    return float(delta)


def rdp_subsampled_gaussian(q: float, noise_multiplier: float,
                            orders: tuple[int, ...] = ORDERS) -> np.ndarray:
    """RDP of one step of the Poisson-subsampled Gaussian mechanism at integer orders.

    ``log A_a = log sum_k C(a, k) (1-q)^(a-k) q^k exp((k^2 - k) / (2 sigma^2))``, RDP
    ``= log A_a / (a - 1)``.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"q must be in [0, 1], got {q!r}")
    if noise_multiplier <= 0:
        raise ValueError(f"noise_multiplier must be > 0, got {noise_multiplier!r}")
    out = []
    for a in orders:
        if int(a) != a or a < 2:
            raise ValueError(f"orders must be integers >= 2, got {a!r}")
        if q == 0:
            out.append(0.0)
            continue
        if q == 1:
            out.append(a / (2 * noise_multiplier ** 2))
            continue
        k = np.arange(a + 1)
        log_terms = (gammaln(a + 1) - gammaln(k + 1) - gammaln(a - k + 1) + k * math.log(q)
                     + (a - k) * math.log1p(-q) + (k * k - k) / (2 * noise_multiplier ** 2))
        top = log_terms.max()
        out.append((top + math.log(np.exp(log_terms - top).sum())) / (a - 1))
    return np.array(out)


def epsilon_from_rdp(rdp: np.ndarray, delta: float,
                     orders: tuple[int, ...] = ORDERS) -> tuple[float, int]:
    """(epsilon, best order) from RDP values: ``eps = r + log(1 - 1/a) - log(delta a)/(a - 1)``."""
    delta = check_delta(delta)
    a = np.asarray(orders, float)
    eps = rdp + np.log1p(-1 / a) - np.log(delta * a) / (a - 1)
    eps = np.where(delta ** 2 + np.expm1(-rdp) > 0, 0.0, eps)
    i = int(np.argmin(eps))
    return max(0.0, float(eps[i])), int(orders[i])


def dp_sgd_epsilon(q: float, noise_multiplier: float, steps: int, delta: float) -> float:
    """Epsilon after ``steps`` DP-SGD steps at sampling rate ``q``."""
    return epsilon_from_rdp(steps * rdp_subsampled_gaussian(q, noise_multiplier), delta)[0]


def library_epsilon(q: float, noise_multiplier: float, steps: int, delta: float,
                    orders: tuple[int, ...] = ORDERS) -> float:
    """The same quantity from Google's ``dp_accounting`` (the maintained reference)."""
    import dp_accounting

    acc = dp_accounting.rdp.RdpAccountant(list(orders))
    event = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(noise_multiplier))
    acc.compose(dp_accounting.SelfComposedDpEvent(event, steps))
    return float(acc.get_epsilon(delta))


def noise_for_epsilon(epsilon: float, q: float, steps: int, delta: float) -> float:
    """Smallest noise multiplier (to 1e-3 relative) whose DP-SGD run meets ``epsilon``."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    lo, hi = 0.3, 2.0
    while dp_sgd_epsilon(q, hi, steps, delta) > epsilon:
        lo, hi = hi, hi * 2
        if hi > 1e4:
            raise ValueError(f"epsilon={epsilon} is out of reach with q={q}, steps={steps}")
    while hi - lo > 1e-3 * hi:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if dp_sgd_epsilon(q, mid, steps, delta) > epsilon else (lo, mid)
    return hi


def _apply(w1: ms.Tensor, b1: ms.Tensor, w2: ms.Tensor, b2: ms.Tensor, w3: ms.Tensor,
           b3: ms.Tensor, x: ms.Tensor) -> ms.Tensor:
    """The two-hidden-layer MLP as a pure function of its weights."""
    h = ops.relu(ops.matmul(x, w1.T) + b1)
    h = ops.relu(ops.matmul(h, w2.T) + b2)
    return ops.matmul(h, w3.T) + b3


def _loss_one(w1: ms.Tensor, b1: ms.Tensor, w2: ms.Tensor, b2: ms.Tensor, w3: ms.Tensor,
              b3: ms.Tensor, x: ms.Tensor, y: ms.Tensor) -> ms.Tensor:
    return ops.cross_entropy(_apply(w1, b1, w2, b2, w3, b3, x[None]), y[None])


# Weights as six separate arguments: with one tuple argument, vmap(grad(f, grad_position=0))
# silently returns an empty tuple on MindSpore 2.10 (finding:grad-tuple-argument).
_per_example = ms.vmap(ms.grad(_loss_one, grad_position=(0, 1, 2, 3, 4, 5)),
                       in_axes=(None,) * 6 + (0, 0))


@ms.jit
def clipped_sum(w1: ms.Tensor, b1: ms.Tensor, w2: ms.Tensor, b2: ms.Tensor, w3: ms.Tensor,
                b3: ms.Tensor, x: ms.Tensor, y: ms.Tensor, mask: ms.Tensor,
                clip: ms.Tensor) -> tuple:
    """Sum over the batch of per-example gradients clipped to l2 norm ``clip`` (mask 0 = pad)."""
    grads = _per_example(w1, b1, w2, b2, w3, b3, x, y)
    sq = 0.0
    for g in grads:
        sq = sq + (g * g).reshape(g.shape[0], -1).sum(1)
    factor = mask * ops.minimum(1.0, clip / (ops.sqrt(sq) + 1e-12))
    return tuple((g * factor.reshape((-1,) + (1,) * (g.ndim - 1))).sum(0) for g in grads)


@ms.jit
def per_example_grads(w1: ms.Tensor, b1: ms.Tensor, w2: ms.Tensor, b2: ms.Tensor,
                      w3: ms.Tensor, b3: ms.Tensor, x: ms.Tensor, y: ms.Tensor) -> tuple:
    """Unclipped per-example gradients (B, ...) of all six weight tensors (for tests/timing)."""
    return _per_example(w1, b1, w2, b2, w3, b3, x, y)


@dataclass
class DPConfig:
    """DP-SGD settings (section "Privacy")."""

    epsilon: float = 2.0
    delta: float = 1e-5
    epochs: int = 15
    batch: int = 128          # expected Poisson batch size
    clip: float = 1.0
    lr: float = 0.5
    momentum: float = 0.9
    hidden: int = 64
    seed: int = 0
    noise_multiplier: float = 0.0
    steps: int = 0
    spent_epsilon: float = 0.0
    losses: list[float] = field(default_factory=list)


def train_dp(x: np.ndarray, y: np.ndarray, cfg: DPConfig,
             noise: Callable[[tuple[int, ...]], np.ndarray] | None = None) -> MLP:
    """DP-SGD with Poisson sampling; the noise is calibrated so the run spends ``cfg.epsilon``.
    ``noise(shape)`` may replace the Gaussian draw of standard deviation
    ``noise_multiplier * clip`` (section "MindArmour side by side" passes MindArmour's
    mechanism)."""
    check_delta(cfg.delta)
    n = len(x)
    q = cfg.batch / n
    cfg.steps = int(round(cfg.epochs / q))
    cfg.noise_multiplier = noise_for_epsilon(cfg.epsilon, q, cfg.steps, cfg.delta)
    cfg.spent_epsilon = dp_sgd_epsilon(q, cfg.noise_multiplier, cfg.steps, cfg.delta)
    ms.set_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = MLP((x.shape[1], cfg.hidden, cfg.hidden, 10))
    params = [p.asnumpy().astype(np.float32) for p in net.trainable_params()]
    velocity = [np.zeros_like(p) for p in params]
    clip = ms.Tensor(np.float32(cfg.clip))
    chunk = int(cfg.batch + 4 * math.sqrt(cfg.batch)) + 1   # one call almost always
    for _ in range(cfg.steps):
        idx = np.flatnonzero(rng.random(n) < q)
        total = [np.zeros_like(p) for p in params]
        tparams = tuple(ms.Tensor(p) for p in params)
        for i in range(0, max(len(idx), 1), chunk):
            part = idx[i:i + chunk]
            xs = np.zeros((chunk, x.shape[1]), np.float32)
            ys = np.zeros(chunk, np.int32)
            mask = np.zeros(chunk, np.float32)
            xs[:len(part)], ys[:len(part)], mask[:len(part)] = x[part], y[part], 1.0
            sums = clipped_sum(*tparams, ms.Tensor(xs), ms.Tensor(ys), ms.Tensor(mask), clip)
            total = [t + s.asnumpy() for t, s in zip(total, sums, strict=True)]
        for j, p in enumerate(params):
            draw = (cfg.noise_multiplier * cfg.clip * rng.standard_normal(p.shape)
                    if noise is None else noise(p.shape))
            noisy = (total[j] + draw) / cfg.batch
            velocity[j] = cfg.momentum * velocity[j] + noisy
            params[j] = (p - cfg.lr * velocity[j]).astype(np.float32)
    for p, v in zip(net.trainable_params(), params, strict=True):
        p.set_data(ms.Tensor(v))
    net.set_train(False)
    return net


def example_losses(net: MLP, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-example cross-entropy (the membership-inference score)."""
    from kit.trust.models import predict_logits

    z = predict_logits(net, x).astype(np.float64)
    z = z - z.max(1, keepdims=True)
    return np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]


def mia_auc(net: MLP, members: tuple[np.ndarray, np.ndarray],
            nonmembers: tuple[np.ndarray, np.ndarray]) -> float:
    """AUC of the loss-threshold membership-inference attack (Yeom et al. 2018): lower loss
    means 'member'. 0.5 is chance."""
    lm, ln = example_losses(net, *members), example_losses(net, *nonmembers)
    labels = np.r_[np.ones(len(lm)), np.zeros(len(ln))]
    return float(roc_auc_score(labels, -np.r_[lm, ln]))


def _batch_loss(w1: ms.Tensor, b1: ms.Tensor, w2: ms.Tensor, b2: ms.Tensor, w3: ms.Tensor,
                b3: ms.Tensor, x: ms.Tensor, y: ms.Tensor) -> ms.Tensor:
    return ops.cross_entropy(_apply(w1, b1, w2, b2, w3, b3, x), y)


_batch_grads = ms.grad(_batch_loss, grad_position=(0, 1, 2, 3, 4, 5))


@ms.jit
def batch_grads(w1: ms.Tensor, b1: ms.Tensor, w2: ms.Tensor, b2: ms.Tensor, w3: ms.Tensor,
                b3: ms.Tensor, x: ms.Tensor, y: ms.Tensor) -> tuple:
    """The ordinary (averaged) batch gradient, the non-private baseline for timing."""
    return _batch_grads(w1, b1, w2, b2, w3, b3, x, y)


def per_example_overhead(batch: int, hidden: int, repeats: int = 7) -> dict[str, float]:
    """Section "Privacy": median seconds of the vmap per-example gradients (clipped sum) and of
    an ordinary batch gradient on the same batch, and their ratio (same run, same machine)."""
    from kit.core.measure import time_call

    rng = np.random.default_rng(0)
    net = MLP((64, hidden, hidden, 10))
    params = [ms.Tensor(p.asnumpy()) for p in net.trainable_params()]
    x = ms.Tensor(rng.uniform(0, 1, (batch, 64)).astype(np.float32))
    y = ms.Tensor(rng.integers(0, 10, batch).astype(np.int32))
    mask, clip = ms.Tensor(np.ones(batch, np.float32)), ms.Tensor(np.float32(1.0))

    def private() -> None:
        clipped_sum(*params, x, y, mask, clip)[0].asnumpy()

    def plain() -> None:
        batch_grads(*params, x, y)[0].asnumpy()

    t_private = time_call(private, repeats=repeats).median
    t_plain = time_call(plain, repeats=repeats).median
    return {"per_example_s": t_private, "batch_s": t_plain, "ratio": t_private / t_plain}
