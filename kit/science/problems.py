"""A PDE posed by its user: residual, conditions and domain; trained by the kit's PINN loop
(chapter 04, section "Your own equation"; the beam of "Experiment 4" is one instance).

A problem names its inputs (``("x", "t")``) and the terms its residual reads, written
``"u"``, ``"u_x"``, ``"u_xx"``, ``"u_t"``, ... (the letter of an input repeated once per
derivative: pure derivatives only, one direction per jet). The residual is a plain function
``residual(x, u, u_t, u_xx)`` of the points and those terms, in the order named, written in a
source file (``ms.jit`` reads its source: an inline lambda or code typed at a prompt does not
compile, finding:jit-inline-lambda). Each term comes from one Taylor-mode jet along its input
(``method="taylor"``, or through the fused tanh kernels, ``"fused"``) or from nested
``ms.grad`` (``"nested"``), the same three ways as the chapter's experiments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import mindspore as ms
import numpy as np
from mindspore import ops

from kit.science import fused, nets, pinn, taylor


def parse_term(term: object, inputs: Sequence[str]) -> tuple[int, int]:
    """``"u"`` -> (0, 0); ``"u_xx"`` -> (index of x, 2). Refuses anything else, naming it."""
    if term == "u":
        return 0, 0
    letters = term[2:] if isinstance(term, str) and term.startswith("u_") else ""
    if not letters or len(set(letters)) != 1 or letters[0] not in inputs:
        raise ValueError(f"term must be 'u' or 'u_' followed by one input's name repeated once "
                         f"per derivative (inputs {', '.join(inputs)}; mixed partials are not "
                         f"supported), got {term!r}")
    return list(inputs).index(letters[0]), len(letters)


@dataclass(frozen=True)
class Condition:
    """``term`` = ``values`` at ``points`` (m, len(inputs)), penalised in the loss with
    ``weight`` (soft constraint): an initial or boundary condition, or measured data."""

    term: str
    points: np.ndarray
    values: np.ndarray
    weight: float = 1.0


@dataclass(frozen=True)
class Problem:
    """A PDE on the box [low, high]: ``residual(x, *terms) = 0`` inside, the ``conditions`` on
    its boundary; ``exact(x)`` (optional) scores a trained network."""

    name: str
    inputs: tuple[str, ...]
    terms: tuple[str, ...]
    residual: Callable
    low: tuple[float, ...]
    high: tuple[float, ...]
    conditions: tuple[Condition, ...] = ()
    exact: Callable[[np.ndarray], np.ndarray] | None = None
    parsed: tuple[tuple[int, int], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.inputs or len(set(self.inputs)) != len(self.inputs) or not all(
                isinstance(n, str) and len(n) == 1 for n in self.inputs):
            raise ValueError(f"inputs must be distinct one-letter names, got {self.inputs!r}")
        if len(self.low) != len(self.inputs) or len(self.high) != len(self.inputs) or not all(
                lo < hi for lo, hi in zip(self.low, self.high, strict=True)):
            raise ValueError(f"low and high must give each input an interval low < high, got "
                             f"low={self.low!r}, high={self.high!r} for {self.inputs!r}")
        if not self.terms:
            raise ValueError("terms must name at least one term the residual reads, got none")
        object.__setattr__(self, "parsed", tuple(parse_term(t, self.inputs) for t in self.terms))
        for c in self.conditions:
            parse_term(c.term, self.inputs)
            points, values = np.asarray(c.points), np.asarray(c.values)
            if points.ndim != 2 or points.shape[1] != len(self.inputs) or len(points) < 1:
                raise ValueError(f"condition on {c.term!r}: points must have shape (m, "
                                 f"{len(self.inputs)}), m >= 1, got {points.shape}")
            if values.shape != (len(points), 1):
                raise ValueError(f"condition on {c.term!r}: values must have shape "
                                 f"({len(points)}, 1), got {values.shape}")

    @property
    def max_order(self) -> int:
        """The highest derivative any term or condition needs."""
        orders = [k for _, k in self.parsed]
        orders += [parse_term(c.term, self.inputs)[1] for c in self.conditions]
        return max(orders)

    def collocation(self, n: int, seed: int) -> np.ndarray:
        """n interior points of the box by Latin hypercube sampling."""
        return pinn.latin_hypercube(n, np.array(self.low), np.array(self.high), seed)

    def data(self, n_f: int, seed: int) -> tuple[np.ndarray, ...]:
        """The arrays :func:`loss_fn`'s loss takes after theta: collocation points, then each
        condition's points and values."""
        out = [self.collocation(n_f, seed)]
        for c in self.conditions:
            out += [np.asarray(c.points, float), np.asarray(c.values, float)]
        return tuple(out)


def _term_fn(parsed: tuple[tuple[int, int], ...], dim: int, lay: tuple, activation: str,
             method: str) -> Callable:
    """terms(theta, x) -> the tuple of terms ``parsed`` names, at the points x (n, dim)."""
    order = max(k for _, k in parsed)
    axes = sorted({a for a, k in parsed if k > 0})
    facts = [float(math.factorial(k)) for k in range(order + 1)]
    # one-hot directions, built outside the compiled function (a constant of the graph)
    directions = [ms.Tensor(np.eye(dim)[a:a + 1], ms.float32) for a in range(dim)]
    if order == 0:
        def values(theta, x):
            return tuple(nets.forward(theta, x, lay, activation) for _ in parsed)
        return values
    if method == "nested":
        nested = {k: pinn.nested_directional(lay, activation, k)
                  for k in sorted({k for _, k in parsed if k > 0})}

        def nested_terms(theta, x):
            out = []
            for a, k in parsed:
                if k == 0:
                    out.append(nets.forward(theta, x, lay, activation))
                else:
                    v = ops.ones_like(x) * directions[a].astype(x.dtype)
                    out.append(nested[k](theta, x, v))
            return tuple(out)
        return nested_terms

    def jet_terms(theta, x):
        n = x.shape[0]
        xs = ops.concat([x] * len(axes), 0)
        vs = ops.concat([ops.ones_like(x) * directions[a].astype(x.dtype) for a in axes], 0)
        if method == "fused":
            jet = fused.forward_jet(theta, xs, vs, lay, order)
        else:
            jet = nets.forward_jet(theta, [xs, vs], lay, activation, order)
        out = []
        for a, k in parsed:
            block = axes.index(a) if k > 0 else 0
            out.append(facts[k] * jet[k][block * n:(block + 1) * n])
        return tuple(out)
    return jet_terms


def residual_fn(problem: Problem, lay: tuple, activation: str = "tanh",
                method: str = "taylor") -> Callable:
    """A jitted r(theta, x): the problem's residual at points x (n, len(inputs))."""
    pinn.check_method(method, pinn.BEAM_METHODS)
    terms = _term_fn(problem.parsed, len(problem.inputs), lay, activation, method)
    residual = problem.residual

    def r(theta, x):
        return residual(x, *terms(theta, x))
    return ms.jit(r)


def loss_fn(problem: Problem, lay: tuple, activation: str = "tanh",
            method: str = "taylor") -> Callable:
    """A jitted (loss, grad) of theta for ``problem``: the mean squared residual at the
    collocation points plus each condition's weighted mean squared misfit; called as
    ``f(theta, *problem.data(n_f, seed))`` (or through :func:`solve`)."""
    pinn.check_method(method, pinn.BEAM_METHODS)
    taylor.check_activation(activation, problem.max_order)
    if method == "fused":
        fused.check_activation(activation)
    dim = len(problem.inputs)
    terms = _term_fn(problem.parsed, dim, lay, activation, method)
    conditions = tuple((_term_fn((parse_term(c.term, problem.inputs),), dim, lay, activation,
                                 method), float(c.weight)) for c in problem.conditions)
    residual = problem.residual

    def loss(theta, xf, *condition_data):
        total = (residual(xf, *terms(theta, xf)) ** 2).mean()
        for i, (term, weight) in enumerate(conditions):
            misfit = term(theta, condition_data[2 * i])[0] - condition_data[2 * i + 1]
            total = total + weight * (misfit ** 2).mean()
        return total
    return ms.jit(ms.value_and_grad(loss, grad_position=0))


@dataclass
class Solution:
    """A trained network for a problem, and its error against ``exact`` where there is one."""

    problem: Problem
    lay: tuple
    fit: pinn.Fit
    rel_l2: float | None


def solve(problem: Problem, *, width: int = 20, depth: int = 3, n_f: int = 256,
          adam_steps: int = 0, lbfgs_steps: int = 500, method: str = "taylor",
          activation: str = "tanh", seed: int = 0, test_points: int = 2001) -> Solution:
    """Train a ``depth`` x ``width`` MLP on ``problem`` (Adam then L-BFGS-B, float32) and score
    it on ``test_points`` uniform random points of the box against ``problem.exact``."""
    pinn.check_count("width", width)
    pinn.check_count("depth", depth)
    pinn.check_count("test_points", test_points)
    sizes = (len(problem.inputs),) + (width,) * depth + (1,)
    lay = nets.layout(sizes)
    fit = pinn.train(loss_fn(problem, lay, activation, method), nets.init_params(sizes, seed),
                     problem.data(n_f, seed), adam_steps, lbfgs_steps)
    error = None
    if problem.exact is not None:
        rng = np.random.default_rng(seed + 1)
        x = np.array(problem.low) + rng.random((test_points, len(problem.inputs))) * (
            np.array(problem.high) - np.array(problem.low))
        exact = np.asarray(problem.exact(x), float).reshape(-1, 1)
        error = pinn.rel_l2(pinn.predict(fit.theta, x, lay, activation), exact)
    return Solution(problem, lay, fit, error)


# ------------------------------------------------------------------------ built-in instances
def beam_residual(x, u_xxxx):
    """u'''' = pi^4 sin(pi x), divided by pi^4 (the loss of "Experiment 4")."""
    return u_xxxx / (math.pi ** 4) - ops.sin(math.pi * x)


def beam() -> Problem:
    """Experiment 4's simply supported beam: u'''' = pi^4 sin(pi x) on (0, 1), u = u'' = 0 at
    both ends; exact u = sin(pi x). The u'' condition is scaled by 1/pi^2 through a weight of
    1/pi^4 on its squared misfit, as in the chapter's hand-written loss."""
    ends = np.array([[0.0], [1.0]])
    zero = np.zeros((2, 1))
    return Problem("beam", ("x",), ("u_xxxx",), beam_residual, (0.0,), (1.0,),
                   (Condition("u", ends, zero), Condition("u_xx", ends, zero, math.pi ** -4)),
                   exact=pinn.beam_exact)


def burgers(nu: float = 0.01 / math.pi, n_boundary: int = 100, seed: int = 0) -> Problem:
    """Raissi's Burgers problem with soft conditions: u_t + u u_x = nu u_xx on [-1, 1] x
    [0, 1], u(x, 0) = -sin(pi x), u(+-1, t) = 0 (the chapter's Burgers PINN builds the
    conditions into the network instead, its ``hard`` ansatz)."""
    pinn.check_count("n_boundary", n_boundary)
    rng = np.random.default_rng(seed)
    x0 = np.stack([rng.uniform(-1, 1, n_boundary), np.zeros(n_boundary)], 1)
    tb = rng.uniform(0, 1, n_boundary)
    xb = np.stack([np.where(np.arange(n_boundary) % 2 == 0, -1.0, 1.0), tb], 1)

    def residual(x, u, u_t, u_x, u_xx):
        return u_t + u * u_x - nu * u_xx
    return Problem("burgers", ("x", "t"), ("u", "u_t", "u_x", "u_xx"), residual,
                   (-1.0, 0.0), (1.0, 1.0),
                   (Condition("u", x0, -np.sin(np.pi * x0[:, :1])),
                    Condition("u", xb, np.zeros((n_boundary, 1)))))


def heat_residual(x, u_t, u_xx):
    """u_t = u_xx / pi^2 (the section "Your own equation" example)."""
    return u_t - u_xx / (math.pi ** 2)


def heat_exact(x: np.ndarray) -> np.ndarray:
    """u = exp(-t) sin(pi x) solves the heat problem of :func:`heat`."""
    return np.exp(-x[:, 1:2]) * np.sin(np.pi * x[:, 0:1])


def heat(n_boundary: int = 40) -> Problem:
    """Section "Your own equation": u_t = u_xx / pi^2 on [0, 1] x [0, 1], u(x, 0) = sin(pi x),
    u(0, t) = u(1, t) = 0, posed through the API exactly as a user would pose their own."""
    pinn.check_count("n_boundary", n_boundary)
    s = np.linspace(0.0, 1.0, n_boundary)
    initial = np.stack([s, np.zeros(n_boundary)], 1)
    ends = np.stack([np.where(np.arange(n_boundary) % 2 == 0, 0.0, 1.0), s], 1)
    return Problem("heat", ("x", "t"), ("u_t", "u_xx"), heat_residual, (0.0, 0.0), (1.0, 1.0),
                   (Condition("u", initial, np.sin(np.pi * initial[:, :1])),
                    Condition("u", ends, np.zeros((n_boundary, 1)))), exact=heat_exact)
