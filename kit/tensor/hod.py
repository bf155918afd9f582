"""Chapter 07's higher-order differentiation ("Higher-order derivatives").

Hessian-vector products by forward-over-reverse (``ms.jvp`` of ``ms.grad``), checked against
central finite differences of the gradient and against the full Hessian (``ms.jacfwd`` of
``ms.grad``: there is no ``hessian`` transform, finding:no-hessian); and nested derivatives of
a program with a data-dependent ``while`` loop.
"""

from __future__ import annotations

import numpy as np
from mindspore import ops as ms_ops


def rosen(x):
    """A Rosenbrock chain (a classic non-convex test function) in MindSpore ops."""
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def hvp_check(n: int = 64, seed: int = 0, repeats: int = 20,
              rounds: int = 3) -> dict[str, object]:
    """HVP three ways; relative errors, and the cost of one HVP relative to one gradient
    (gradient and HVP interleaved in ``rounds`` rounds of ``repeats`` calls each; the ratio of
    each round's fastest calls, ``hvp_cost_rounds``, and their median ``hvp_cost_ratio``)."""
    import mindspore as ms

    from kit.core.measure import interleave

    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    rng = np.random.default_rng(seed)
    x = ms.Tensor(rng.uniform(-1, 1, n).astype(np.float32))
    v = ms.Tensor(rng.standard_normal(n).astype(np.float32))
    grad = ms.grad(rosen)

    @ms.jit
    def gradient(x):
        return grad(x)

    @ms.jit
    def hvp(x, v):
        return ms.jvp(grad, x, v)[1]  # single tensors: the tuple form fails, finding:jvp-tuple-form

    @ms.jit
    def hessian(x):
        return ms.jacfwd(grad)(x)

    exact = hvp(x, v).asnumpy().astype(np.float64)
    full = hessian(x).asnumpy().astype(np.float64) @ v.asnumpy().astype(np.float64)
    xd, vd, eps = x.asnumpy().astype(np.float64), v.asnumpy().astype(np.float64), 1e-3
    fd = (_grad64(xd + eps * vd) - _grad64(xd - eps * vd)) / (2 * eps)
    analytic = _hvp64(xd, vd)
    timed = interleave({"gradient": lambda: gradient(x).asnumpy(),
                        "hvp": lambda: hvp(x, v).asnumpy()}, rounds=rounds, repeats=repeats,
                       warmup=2)
    cost = timed.ratios("hvp", "gradient", stat="min")  # hvp time / gradient time per round
    scale = np.linalg.norm(analytic)
    return {"hvp_rel_error": float(np.linalg.norm(exact - analytic) / scale),
            "full_hessian_rel_error": float(np.linalg.norm(full - analytic) / scale),
            "finite_difference_rel_error": float(np.linalg.norm(fd - analytic) / scale),
            "hvp_cost_ratio": float(np.median(cost)), "hvp_cost_rounds": cost}


def _grad64(x: np.ndarray) -> np.ndarray:
    """The Rosenbrock gradient in float64 numpy (the reference)."""
    g = np.zeros_like(x)
    d = x[1:] - x[:-1] ** 2
    g[:-1] += -400.0 * x[:-1] * d - 2 * (1 - x[:-1])
    g[1:] += 200.0 * d
    return g


def _hvp64(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The exact Rosenbrock Hessian times v, in float64 numpy."""
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        h[i + 1, i + 1] += 200
        h[i, i + 1] += -400 * x[i]
        h[i + 1, i] += -400 * x[i]
    return h @ v


def loop_program(x, steps):
    """A program with a data-dependent loop: apply x <- sin(x) + x/2 ``steps`` times (no
    import inside: graph mode cannot parse one, and the caller's mode may be either)."""
    i = 0
    while i < steps:
        x = ms_ops.sin(x) + x / 2
        i += 1
    return x


def nested_loop_derivatives(x0: float = 0.3, steps: int = 3, order: int = 3) -> dict:
    """Derivatives 1..order of :func:`loop_program` by nested ``ms.grad`` (PyNative), against
    float64 finite differences of the same program."""
    import mindspore as ms

    def f(x):
        return loop_program(x, steps)

    fns, g = [], f
    for _ in range(order):
        g = ms.grad(g)
        fns.append(g)
    x = ms.Tensor(np.float32(x0))
    ad = [float(fn(x).asnumpy()) for fn in fns]
    ref = [_fd_derivative(x0, steps, k) for k in range(1, order + 1)]
    return {"orders": list(range(1, order + 1)), "autodiff": ad, "finite_difference": ref,
            "max_rel_error": max(abs(a - r) / max(abs(r), 1e-12) for a, r in zip(ad, ref,
                                                                              strict=True))}


def _loop64(x: float, steps: int) -> float:
    for _ in range(steps):
        x = np.sin(x) + x / 2
    return x


def _fd_derivative(x: float, steps: int, k: int, h: float = 2e-2) -> float:
    """k-th derivative by a central finite-difference stencil in float64, with one Richardson
    extrapolation step (error O(h^4) instead of O(h^2))."""
    from math import comb

    def central(step: float) -> float:
        return sum((-1) ** j * comb(k, j) * _loop64(x + (k / 2 - j) * step, steps)
                   for j in range(k + 1)) / step ** k

    return (4 * central(h / 2) - central(h)) / 3
