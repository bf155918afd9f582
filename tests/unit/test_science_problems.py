"""kit.science.problems: a PDE posed by its user (chapter 04, section "Your own equation")."""

from __future__ import annotations

import math

import mindspore as ms
import numpy as np
import pytest

import kit
from kit.science import chapter, nets, pinn, problems


@pytest.fixture(scope="module", autouse=True)
def graph_mode():
    kit.setup(0, mode="graph")


def heat_residual(x, u_t, u_xx):
    return u_t - u_xx / (math.pi ** 2)


def heat(n: int = 40) -> problems.Problem:
    """u_t = u_xx / pi^2 on [0, 1] x [0, 1], u(x, 0) = sin(pi x), u(0, t) = u(1, t) = 0;
    exact u = exp(-t) sin(pi x): an equation the chapter does not use."""
    s = np.linspace(0, 1, n)
    initial = np.stack([s, np.zeros(n)], 1)
    ends = np.stack([np.where(np.arange(n) % 2 == 0, 0.0, 1.0), s], 1)
    return problems.Problem(
        "heat", ("x", "t"), ("u_t", "u_xx"), heat_residual, (0.0, 0.0), (1.0, 1.0),
        (problems.Condition("u", initial, np.sin(np.pi * initial[:, :1])),
         problems.Condition("u", ends, np.zeros((n, 1)))),
        exact=lambda x: np.exp(-x[:, 1:2]) * np.sin(np.pi * x[:, 0:1]))


@pytest.mark.parametrize(("term", "expected"), [("u", (0, 0)), ("u_t", (1, 1)),
                                                ("u_xxxx", (0, 4))])
def test_terms_parse(term, expected):
    assert problems.parse_term(term, ("x", "t")) == expected


@pytest.mark.parametrize("term", ["v", "u_", "u_xt", "u_y", "uxx", 3])
def test_bad_terms_are_refused_by_name(term):
    with pytest.raises(ValueError, match="term must be"):
        problems.parse_term(term, ("x", "t"))


def test_bad_problems_are_refused():
    with pytest.raises(ValueError, match="low and high"):
        problems.Problem("p", ("x",), ("u_xx",), heat_residual, (1.0,), (0.0,))
    with pytest.raises(ValueError, match="inputs must be"):
        problems.Problem("p", ("x", "x"), ("u_xx",), heat_residual, (0, 0), (1, 1))
    with pytest.raises(ValueError, match=r"points must have shape \(m, 2\)"):
        problems.Problem("p", ("x", "t"), ("u_xx",), heat_residual, (0, 0), (1, 1),
                         (problems.Condition("u", np.zeros((3, 1)), np.zeros((3, 1))),))
    with pytest.raises(ValueError, match="method must be"):
        problems.loss_fn(heat(), nets.layout((2, 4, 1)), method="finite-differences")


@pytest.mark.slow
def test_the_beam_instance_is_experiment_4s_loss():
    sizes = (1, 16, 16, 1)
    lay = nets.layout(sizes)
    theta = ms.Tensor(nets.init_params(sizes, 0).astype(np.float32))
    points = chapter.beam_points(16)
    expected = pinn.beam_loss_fn(lay, "tanh", "taylor")(theta, ms.Tensor(
        points.astype(np.float32)))[0].asnumpy()
    problem = problems.beam()
    data = [points[:-2]] + [a for c in problem.conditions for a in (c.points, c.values)]
    for method in pinn.BEAM_METHODS:
        value = problems.loss_fn(problem, lay, "tanh", method)(
            theta, *[ms.Tensor(np.asarray(d, np.float32)) for d in data])[0].asnumpy()
        assert value == pytest.approx(float(expected), rel=1e-5), method


def test_the_burgers_instance_has_the_chapters_residual():
    sizes = (2, 12, 12, 1)
    lay = nets.layout(sizes)
    theta = ms.Tensor(nets.init_params(sizes, 1))
    x = ms.Tensor(np.random.default_rng(0).uniform([-1, 0], [1, 1], (50, 2)))
    expected = pinn.burgers_residual_fn(lay, "tanh", "taylor", 0.01 / math.pi,
                                        hard=False)(theta, x).asnumpy()
    for method in pinn.BEAM_METHODS:
        got = problems.residual_fn(problems.burgers(), lay, "tanh", method)(theta, x).asnumpy()
        assert np.abs(got - expected).max() <= 1e-12 * np.abs(expected).max(), method


@pytest.mark.slow
def test_a_users_heat_equation_is_solved():
    # measured 1.2e-3 with Taylor mode and with nested grad (400 iterations, 6 s)
    solution = problems.solve(heat(), width=16, depth=2, n_f=256, lbfgs_steps=400)
    assert solution.fit.lbfgs_iterations > 100
    assert solution.rel_l2 < 1e-2  # an untrained network is off by ~1


def test_the_kits_heat_example_is_the_users_problem():
    mine, kits = heat(), problems.heat()
    assert (mine.inputs, mine.terms, mine.low, mine.high) == (
        kits.inputs, kits.terms, kits.low, kits.high)
    x = np.random.default_rng(0).random((5, 2))
    np.testing.assert_allclose(kits.exact(x), mine.exact(x))
    for a, b in zip(mine.conditions, kits.conditions, strict=True):
        np.testing.assert_allclose(a.points, b.points)
        np.testing.assert_allclose(a.values, b.values)
