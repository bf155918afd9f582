"""Physics-informed networks: residuals by nested grad or Taylor mode, Adam then L-BFGS-B
(chapter 04, sections "Burgers PINN", "Beam equation" and "Convergence").

Every loss is a function of one flat parameter vector ``theta`` and data tensors, so MindSpore
compiles ``loss`` and its gradient once (``ms.jit``) and scipy's L-BFGS-B drives them through
numpy (optimiser state in float64; MindSpore in float32 or float64, see :func:`train`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import mindspore as ms
import numpy as np
from mindspore import ops

from kit.core.tensors import fetch
from kit.science import fused, nets, taylor

PDES = ("burgers", "beam")
METHODS = ("taylor", "nested")
BEAM_METHODS = METHODS + ("fused",)  # the beam also trains through the fused tanh kernels


def check_pde(pde: object) -> str:
    """Section "Bad input": a known PDE name."""
    if pde not in PDES:
        raise ValueError(f"pde must be one of {', '.join(PDES)}, got {pde!r}")
    return str(pde)


def check_method(method: object, allowed: tuple = METHODS) -> str:
    """'taylor' or 'nested' (how the residual's derivatives are computed); the beam also
    allows 'fused' (:data:`BEAM_METHODS`)."""
    if method not in allowed:
        raise ValueError(f"method must be one of {', '.join(allowed)}, got {method!r}")
    return str(method)


def check_count(name: str, value: object, low: int = 1) -> int:
    """A collocation or data count: an int >= low."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low} (a number of points), got {value!r}")
    return value


# ---------------------------------------------------------------------------------- sampling
def latin_hypercube(n: int, low: np.ndarray, high: np.ndarray, seed: int) -> np.ndarray:
    """n points in the box [low, high] by Latin hypercube sampling (Raissi et al. 2019)."""
    from scipy.stats import qmc

    check_count("n", n)
    sample = qmc.LatinHypercube(d=len(low), seed=seed).random(n)
    return np.asarray(low) + sample * (np.asarray(high) - np.asarray(low))


@dataclass
class BurgersData:
    """Training points of the Burgers PINN (section "Burgers PINN"): inputs are (x, t)."""

    xu: np.ndarray  # (n_u, 2) initial and boundary points
    u: np.ndarray  # (n_u, 1) their values
    xf: np.ndarray  # (n_f, 2) collocation points
    nu: float


def burgers_data(n_u: int, n_f: int, seed: int, nu: float = 0.01 / math.pi) -> BurgersData:
    """Raissi's setup: n_u points on t = 0 (u = -sin(pi x)) and x = +-1 (u = 0), n_f
    Latin-hypercube collocation points in [-1, 1] x [0, 1] plus the n_u points themselves."""
    check_count("n_u", n_u, 2)
    check_count("n_f", n_f)
    if not (isinstance(nu, float) and nu > 0):
        raise ValueError(f"nu must be a float > 0 (the viscosity), got {nu!r}")
    rng = np.random.default_rng(seed)
    n_ic = n_u // 2
    x0 = rng.uniform(-1, 1, n_ic)
    ic = np.stack([x0, np.zeros(n_ic)], 1)
    tb = rng.uniform(0, 1, n_u - n_ic)
    side = np.where(rng.random(n_u - n_ic) < 0.5, -1.0, 1.0)
    bc = np.stack([side, tb], 1)
    xu = np.concatenate([ic, bc])
    u = np.concatenate([-np.sin(np.pi * x0), np.zeros(n_u - n_ic)])[:, None]
    xf = np.concatenate([latin_hypercube(n_f, np.array([-1.0, 0.0]), np.array([1.0, 1.0]), seed),
                         xu])
    return BurgersData(xu, u, xf, nu)


# ---------------------------------------------------------------------------------- residuals
def nested_directional(lay: tuple, activation: str, order: int) -> Callable:
    """d(theta, x, v): the order-th derivative of u along v by nested first-order AD, one
    ``ms.grad`` per order. The nesting is built here, outside any compiled function (building
    grad closures inside ``ms.jit`` fails: finding:jit-nested-grad-closure)."""
    g = _lift_scalar(lay, activation)
    for _ in range(order - 1):
        g = _lift(g)
    last = ms.grad(g, grad_position=1)

    def d(theta, x, v):
        return (last(theta, x, v) * v).sum(-1, keepdims=True)
    return d


def _lift_scalar(lay, activation):
    def f(theta, x, v):
        return nets.forward(theta, x, lay, activation).sum()
    return f


def _lift(g):
    gg = ms.grad(g, grad_position=1)

    def h(theta, x, v):
        return (gg(theta, x, v) * v).sum()
    return h


def nested_derivative_fn(lay: tuple, activation: str, order: int) -> Callable:
    """A jitted f(theta, x, v) -> d^order/dt^order u(x + t v) by nested ``ms.grad``
    (section "Taylor mode": the baseline)."""
    taylor.check_order(order)
    taylor.check_activation(activation, order)

    return ms.jit(nested_directional(lay, activation, order))


def taylor_derivative_fn(lay: tuple, activation: str, order: int) -> Callable:
    """A jitted f(theta, x, v) -> (u, d/dt u, ..., d^order/dt^order u) along v by Taylor mode,
    stacked in one tensor of shape (order + 1, n, d_out)."""
    taylor.check_order(order)
    taylor.check_activation(activation, order)
    facts = taylor.factorial_column(order)

    def f(theta, x, v):
        jet = ops.stack(nets.forward_jet(theta, [x, v], lay, activation, order))
        return jet * ms.Tensor(facts, jet.dtype)  # one output tensor: cheaper than K + 1
    return ms.jit(f)


def burgers_u(theta, xt, lay, activation, hard: bool):
    """u(x, t) of the Burgers PINN at points (n, 2). With ``hard`` the initial and boundary
    conditions hold exactly by construction (Lagaris et al. 1998; Lu et al. 2021):
    u = -sin(pi x) + t (1 - x^2) N(x, t), so the loss is the residual alone."""
    out = nets.forward(theta, xt, lay, activation)
    if not hard:
        return out
    x, t = xt[:, 0:1], xt[:, 1:2]
    return -ops.sin(math.pi * x) + t * (1.0 - x * x) * out


def burgers_u_jet(theta, xt, v, lay, activation, hard: bool, order: int) -> list:
    """The jet of :func:`burgers_u` along the lines xt + s v (section "Burgers PINN"): the
    network's jet, then the ansatz by the list primitives (x and t are jets of the line)."""
    out = nets.forward_jet(theta, [xt, v], lay, activation, order)
    if not hard:
        return out
    zero = ops.zeros_like(xt[:, 0:1])
    x = [xt[:, 0:1], v[:, 0:1]] + [zero] * (order - 1)
    t = [xt[:, 1:2], v[:, 1:2]] + [zero] * (order - 1)
    envelope = taylor.mul(t, taylor.shift(taylor.scale(taylor.square(x), -1.0), 1.0))
    return taylor.sub(taylor.mul(envelope, out), taylor.sin(taylor.scale(x, math.pi)))


def burgers_residual_taylor(theta, xf, lay, activation, nu, hard=False):
    """u_t + u u_x - nu u_xx from one jet pass: the x-line (order 2) and the t-line (order 2,
    only its first coefficient used) stacked on the batch axis."""
    n = xf.shape[0]
    ex = ops.concat([ops.ones((n, 1), xf.dtype), ops.zeros((n, 1), xf.dtype)], 1)
    et = ops.concat([ops.zeros((n, 1), xf.dtype), ops.ones((n, 1), xf.dtype)], 1)
    x2 = ops.concat([xf, xf], 0)
    v2 = ops.concat([ex, et], 0)
    jet = burgers_u_jet(theta, x2, v2, lay, activation, hard, 2)
    u = jet[0][:n]
    u_x = jet[1][:n]
    u_xx = 2.0 * jet[2][:n]
    u_t = jet[1][n:]
    return u_t + u * u_x - nu * u_xx


def _u_sum(theta, x, lay, activation, hard=False):
    return burgers_u(theta, x, lay, activation, hard).sum()


def burgers_residual_nested(theta, xf, lay, activation, nu, hard=False):
    """The same residual with nested ``ms.grad`` (DeepXDE's way)."""
    g1 = ms.grad(_u_sum, grad_position=1)
    u = burgers_u(theta, xf, lay, activation, hard)
    du = g1(theta, xf, lay, activation, hard)
    u_x = du[:, 0:1]
    u_t = du[:, 1:2]
    u_xx = _second_x(theta, xf, lay, activation, hard)
    return u_t + u * u_x - nu * u_xx


def _ux_sum(theta, x, lay, activation, hard):
    return ms.grad(_u_sum, grad_position=1)(theta, x, lay, activation, hard)[:, 0].sum()


def _second_x(theta, x, lay, activation, hard):
    return ms.grad(_ux_sum, grad_position=1)(theta, x, lay, activation, hard)[:, 0:1]


def burgers_residual_fn(lay: tuple, activation: str, method: str, nu: float,
                        hard: bool = True) -> Callable:
    """A jitted residual r(theta, xf) (for residual-based refinement and the error maps)."""
    check_method(method)
    residual = burgers_residual_taylor if method == "taylor" else burgers_residual_nested

    def r(theta, xf):
        return residual(theta, xf, lay, activation, nu, hard)
    return ms.jit(r)


def burgers_loss_fn(lay: tuple, activation: str, method: str, nu: float,
                    hard: bool = False) -> Callable:
    """A jitted (loss, grad) of theta: mean squared residual, plus the mean squared data misfit
    unless the conditions are built in (``hard``)."""
    check_method(method)
    residual = burgers_residual_taylor if method == "taylor" else burgers_residual_nested

    def loss(theta, xu, u, xf):
        res = (residual(theta, xf, lay, activation, nu, hard) ** 2).mean()
        if hard:
            return res
        pred = nets.forward(theta, xu, lay, activation)
        return ((pred - u) ** 2).mean() + res
    return ms.jit(ms.value_and_grad(loss, grad_position=0))


# ---------------------------------------------------------------------------------- beam
def beam_exact(x: np.ndarray) -> np.ndarray:
    """u = sin(pi x) solves u'''' = pi^4 sin(pi x), u = u'' = 0 at x = 0, 1 (simply supported)."""
    return np.sin(np.pi * x)


def beam_terms_taylor(theta, x, lay, activation):
    """(u, u_xx, u_xxxx) at every point of x from one order-4 jet along x."""
    jet = nets.forward_jet(theta, [x, ops.ones_like(x)], lay, activation, 4)
    return jet[0], 2.0 * jet[2], 24.0 * jet[4]


def beam_terms_fused(theta, x, lay):
    """Section "Experiment 4": (u, u_xx, u_xxxx) from one order-4 jet through the fused tanh
    kernels (:mod:`kit.science.fused`, differentiable through their adjoint kernel)."""
    jet = fused.forward_jet(theta, x, ops.ones_like(x), lay, 4)
    return jet[0], 2.0 * jet[2], 24.0 * jet[4]


def beam_terms_nested(theta, x, lay, activation, d2, d4):
    """(u, u_xx, u_xxxx) by a forward pass and two and four nested ``ms.grad`` calls
    (``d2``, ``d4`` from :func:`nested_directional`)."""
    v = ops.ones_like(x)
    return nets.forward(theta, x, lay, activation), d2(theta, x, v), d4(theta, x, v)


def beam_loss_fn(lay: tuple, activation: str, method: str) -> Callable:
    """A jitted (loss, grad) of theta for u_xxxx = pi^4 sin(pi x) on (0, 1), u = u_xx = 0 at
    both ends. ``x`` holds the collocation points followed by the two ends; each method
    computes every derivative it needs at all of them in one pass ('fused': one order-4 jet
    through the C++ tanh kernels, tanh only)."""
    check_method(method, BEAM_METHODS)
    taylor.check_activation(activation, 4)
    if method == "fused":
        fused.check_activation(activation)
    d2 = nested_directional(lay, activation, 2)
    d4 = nested_directional(lay, activation, 4)

    def loss(theta, x):
        if method == "taylor":
            u, u_xx, u_xxxx = beam_terms_taylor(theta, x, lay, activation)
        elif method == "fused":
            u, u_xx, u_xxxx = beam_terms_fused(theta, x, lay)
        else:
            u, u_xx, u_xxxx = beam_terms_nested(theta, x, lay, activation, d2, d4)
        n = x.shape[0] - 2
        res = u_xxxx[:n] / (math.pi ** 4) - ops.sin(math.pi * x[:n])
        return (res ** 2).mean() + (u[n:] ** 2).mean() + ((u_xx[n:] / (math.pi ** 2)) ** 2).mean()
    return ms.jit(ms.value_and_grad(loss, grad_position=0))


# ---------------------------------------------------------------------------------- training
@dataclass
class Fit:
    """A trained flat parameter vector and its history."""

    theta: np.ndarray
    losses: list[float] = field(default_factory=list)
    adam_seconds: float = 0.0
    lbfgs_seconds: float = 0.0
    lbfgs_iterations: int = 0
    evaluations: int = 0
    stops: list[str] = field(default_factory=list)  # why each L-BFGS-B run ended

    def then(self, later: Fit) -> None:
        """Continue this history with a later fit's (section "Burgers PINN": refinement
        rounds): its parameters, losses, times and counts."""
        self.theta = later.theta
        self.losses += later.losses
        self.adam_seconds += later.adam_seconds
        self.lbfgs_seconds += later.lbfgs_seconds
        self.lbfgs_iterations += later.lbfgs_iterations
        self.evaluations += later.evaluations
        self.stops += later.stops


def train(loss_grad: Callable, theta0: np.ndarray, data: tuple, adam_steps: int,
          lbfgs_steps: int, lr: float = 1e-3, time_limit: float | None = None,
          dtype: str = "float32", maxcor: int = 50, restarts: bool = False) -> Fit:
    """Adam (``adam_steps``) then scipy L-BFGS-B (at most ``lbfgs_steps`` iterations) on a
    MindSpore (loss, grad) function of a flat vector (section "Burgers PINN"). MindSpore
    computes in ``dtype``; the optimizers keep their state in float64 numpy. ``maxcor`` is
    L-BFGS-B's memory; ``restarts`` restarts it when it stops before ``lbfgs_steps``; the reason
    each run stopped is kept in ``Fit.stops``."""
    from scipy.optimize import minimize

    check_count("adam_steps", adam_steps, 0)
    check_count("lbfgs_steps", lbfgs_steps, 0)
    check_count("maxcor", maxcor)
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    np_dtype = np.dtype(dtype)
    args = tuple(ms.Tensor(np.asarray(d, np_dtype)) for d in data)
    theta = theta0.astype(np.float64).copy()
    fit = Fit(theta)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    b1, b2, eps = 0.9, 0.999, 1e-8
    start = time.perf_counter()
    for step in range(1, adam_steps + 1):
        value, g = fetch(*loss_grad(ms.Tensor(theta.astype(np_dtype)), *args), dtype=np.float64)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta -= lr * (m / (1 - b1 ** step)) / (np.sqrt(v / (1 - b2 ** step)) + eps)
        if step % 50 == 0 or step == adam_steps:
            fit.losses.append(float(value))
    fit.adam_seconds = time.perf_counter() - start
    fit.evaluations = adam_steps
    if lbfgs_steps > 0:
        start = time.perf_counter()
        deadline = None if time_limit is None else start + time_limit

        def fun(th: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = fetch(*loss_grad(ms.Tensor(th.astype(np_dtype)), *args),
                                dtype=np.float64)
            fit.evaluations += 1
            return float(value), grad

        last = [theta]

        def callback(xk: np.ndarray) -> None:
            last[0] = np.array(xk)
            fit.lbfgs_iterations += 1
            if fit.lbfgs_iterations % 50 == 0:
                fit.losses.append(float(fun(xk)[0]))
            if deadline is not None and time.perf_counter() > deadline:
                raise StopIteration

        # with ``restarts``, L-BFGS-B starts again with fresh curvature memory when it stops
        # early (its line search fails or f stalls: float32 loss values stop resolving the
        # decrease long before the budget is spent); a restart that makes fewer than 10
        # iterations ends the run (section "Burgers PINN")
        while fit.lbfgs_iterations < lbfgs_steps:
            before = fit.lbfgs_iterations
            left = lbfgs_steps - before
            try:
                res = minimize(fun, theta, jac=True, method="L-BFGS-B", callback=callback,
                               options={"maxiter": left, "maxfun": 2 * left, "maxcor": maxcor,
                                        "ftol": 1e-16, "gtol": 1e-12})
                theta = res.x
                fit.stops.append(str(res.message))
            except StopIteration:
                theta = last[0]
                fit.stops.append("time limit")
                break
            if not restarts or fit.lbfgs_iterations - before < 10:
                break
        fit.lbfgs_seconds = time.perf_counter() - start
    fit.theta = theta
    return fit


def predict(theta: np.ndarray, x: np.ndarray, lay: tuple, activation: str = "tanh",
            hard: bool = False) -> np.ndarray:
    """u at points x (n, d) with float64 parameters (evaluation, not compiled); ``hard`` adds
    the Burgers ansatz of :func:`burgers_u`."""
    xt = ms.Tensor(np.asarray(x, np.float64))
    if hard:
        return burgers_u(ms.Tensor(theta), xt, lay, activation, True).asnumpy()
    return nets.forward(ms.Tensor(theta), xt, lay, activation).asnumpy()


def rel_l2(pred: np.ndarray, ref: np.ndarray) -> float:
    """||pred - ref|| / ||ref|| over all points."""
    return float(np.linalg.norm(pred.ravel() - ref.ravel()) / np.linalg.norm(ref.ravel()))
