"""Section "Attacks": FGSM and PGD (l-inf and l2, random restarts) on MindSpore models.

Gradients with respect to the input come from MindSpore autodiff (a compiled Cell); the
projection and bookkeeping are numpy. Images live in [0, 1] and every attack stays there.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from kit.core.tensors import fetch
from kit.trust.models import MLP

NORMS = ("linf", "l2")
LOSSES = ("ce", "margin")


class InputGrad(nn.Cell):
    """Per-example loss and its gradient with respect to the input (sum over the batch)."""

    def __init__(self, net: MLP, loss: str = "ce") -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        self.net = net
        self.loss = loss
        self.grad = ms.value_and_grad(self.total, grad_position=0)

    def per_example(self, x: ms.Tensor, y: ms.Tensor) -> ms.Tensor:
        logits = self.net(x)
        if self.loss == "margin":
            onehot = ops.one_hot(y, logits.shape[1], ms.Tensor(1.0), ms.Tensor(0.0))
            true = (logits * onehot).sum(1)
            other = ops.amax(logits - 1e4 * onehot, 1)
            return other - true          # > 0 means misclassified
        return ops.cross_entropy(logits, y, reduction="none")

    def total(self, x: ms.Tensor, y: ms.Tensor) -> ms.Tensor:
        return self.per_example(x, y).sum()

    def construct(self, x: ms.Tensor, y: ms.Tensor) -> tuple[ms.Tensor, ms.Tensor]:
        return self.per_example(x, y), self.grad(x, y)[1]


def check_eps(eps: float, name: str = "eps") -> float:
    """A perturbation budget must be a finite number >= 0."""
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not np.isfinite(eps) \
            or eps < 0:
        raise ValueError(f"{name} must be a number >= 0, got {eps!r}")
    return float(eps)


class Judge(nn.Cell):
    """Forward-only margin ``max_{j != y} z_j - z_y`` per example (no gradient: the attacks'
    bookkeeping needs the score only)."""

    def __init__(self, net: MLP) -> None:
        super().__init__()
        self.net = net

    def construct(self, x: ms.Tensor, y: ms.Tensor) -> ms.Tensor:
        logits = self.net(x)
        onehot = ops.one_hot(y, logits.shape[1], ms.Tensor(1.0), ms.Tensor(0.0))
        return ops.amax(logits - 1e4 * onehot, 1) - (logits * onehot).sum(1)


_CACHE: dict[tuple[int, str], InputGrad] = {}
_JUDGES: dict[int, Judge] = {}


def judge(net: MLP) -> Judge:
    """One compiled :class:`Judge` per network."""
    if id(net) not in _JUDGES or _JUDGES[id(net)].net is not net:
        _JUDGES[id(net)] = Judge(net)
    return _JUDGES[id(net)]


def input_grad(net: MLP, loss: str = "ce") -> InputGrad:
    """One compiled :class:`InputGrad` per (network, loss), so attacks compile once."""
    key = (id(net), loss)
    if key not in _CACHE or _CACHE[key].net is not net:
        _CACHE[key] = InputGrad(net, loss)
    return _CACHE[key]


def _grad(fn: InputGrad, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return fetch(*fn(ms.Tensor(x.astype(np.float32)), ms.Tensor(y.astype(np.int32))))


def fgsm(net: MLP, x: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
    """Fast gradient sign method (Goodfellow et al. 2015), l-inf, one step of size ``eps``."""
    eps = check_eps(eps)
    _, g = _grad(input_grad(net), x, y)
    return np.clip(x + eps * np.sign(g), 0.0, 1.0).astype(np.float32)


def project(delta: np.ndarray, eps: float, norm: str) -> np.ndarray:
    """Project perturbations onto the l-inf or l2 ball of radius ``eps`` (row-wise)."""
    if norm == "linf":
        return np.clip(delta, -eps, eps)
    if norm == "l2":
        n = np.linalg.norm(delta.reshape(len(delta), -1), axis=1)
        scale = np.minimum(1.0, eps / np.maximum(n, 1e-12))
        return delta * scale.reshape((-1,) + (1,) * (delta.ndim - 1))
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")


def _random_start(x: np.ndarray, eps: float, norm: str, rng: np.random.Generator) -> np.ndarray:
    if norm == "linf":
        return rng.uniform(-eps, eps, x.shape)
    d = rng.normal(size=x.shape)
    d /= np.linalg.norm(d.reshape(len(d), -1), axis=1).reshape(-1, 1) + 1e-12
    return d * eps * rng.uniform(0, 1, (len(x), 1))


def pgd(net: MLP, x: np.ndarray, y: np.ndarray, eps: float, norm: str = "linf",
        steps: int = 20, restarts: int = 1, step_size: float | None = None,
        loss: str = "ce", seed: int = 0, fn: InputGrad | None = None) -> np.ndarray:
    """Projected gradient descent (Madry et al. 2018) with random restarts.

    Returns, for each input, the perturbed point with the highest margin loss over all steps and
    restarts (misclassified points are kept as soon as they are found).
    """
    eps = check_eps(eps)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if steps < 1 or restarts < 1:
        raise ValueError(f"steps and restarts must be >= 1, got {steps!r} and {restarts!r}")
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int32)
    fn = fn or input_grad(net, loss)
    ref = judge(fn.net)
    alpha = step_size if step_size is not None else 2.5 * eps / steps
    rng = np.random.default_rng(seed)
    best, best_score = x.copy(), judge_scores(ref, x, y)
    if eps == 0:
        return best

    def keep(xa: np.ndarray, score: np.ndarray) -> None:
        better = score > best_score
        best[better], best_score[better] = xa[better], score[better]

    for r in range(restarts):
        delta = _random_start(x, eps, norm, rng) if r > 0 or restarts > 1 else np.zeros_like(x)
        xa = np.clip(x + delta, 0.0, 1.0)
        for _ in range(steps):
            value, g = _grad(fn, xa, y)
            if fn.loss == "margin":      # the loss is the score of the current point
                keep(xa, value)
            if norm == "linf":
                step = alpha * np.sign(g)
            else:
                gn = np.linalg.norm(g.reshape(len(g), -1), axis=1).reshape(-1, 1)
                step = alpha * g / np.maximum(gn, 1e-12)
            xa = np.clip(x + project(xa + step - x, eps, norm), 0.0, 1.0)
            if fn.loss != "margin":
                keep(xa, judge_scores(ref, xa, y))
        if fn.loss == "margin":
            keep(xa, judge_scores(ref, xa, y))
    return best.astype(np.float32)


def judge_scores(ref: Judge | InputGrad, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Margin loss max_{j != y} z_j - z_y (positive: misclassified), from a :class:`Judge` (or
    an :class:`InputGrad` with the margin loss)."""
    if isinstance(ref, InputGrad):
        return _grad(ref, x, y)[0]
    return ref(ms.Tensor(x.astype(np.float32)), ms.Tensor(y.astype(np.int32))).asnumpy()


def robust_accuracy(net: MLP, x: np.ndarray, y: np.ndarray, eps: float, norm: str = "linf",
                    steps: int = 20, restarts: int = 1, seed: int = 0) -> float:
    """Accuracy under PGD: a point counts if clean and every attack leave it correct."""
    xa = pgd(net, x, y, eps, norm, steps, restarts, seed=seed)
    ref = judge(net)
    return float(((judge_scores(ref, xa, y) < 0) & (judge_scores(ref, x, y) < 0)).mean())
