"""Unit tests of chapter 04's kit: Taylor-mode primitives, nested-grad agreement, PINN pieces,
reference solutions and the FNO."""

from __future__ import annotations

import math

import mindspore as ms
import numpy as np
import pytest
from mindspore import ops

import kit
from kit.science import PARAMS, chapter, data, fno, fused, nets, pinn, references, taylor

X0 = 0.7
K = 6


@pytest.fixture(scope="module", autouse=True)
def _setup():
    kit.setup(0, mode="pynative")


def _derivs(jet_out) -> np.ndarray:
    return np.array([float(c.asnumpy().ravel()[0]) * math.factorial(k)
                     for k, c in enumerate(jet_out)])


def _line(order: int = K, x0: float = X0):
    x = ms.Tensor(np.array([x0]))
    return taylor.seed_jet(x, ops.ones_like(x), order)


def _close(got, exact, tol=1e-11):
    got, exact = np.asarray(got, float), np.asarray(exact, float)
    assert np.max(np.abs(got - exact) / np.maximum(np.abs(exact), 1e-300)) < tol, (got, exact)


KS = np.arange(K + 1)


def test_exp_matches_closed_form():
    _close(_derivs(taylor.exp(taylor.scale(_line(), 2.0))), 2.0 ** KS * math.exp(2 * X0))


def test_sin_and_cos_match_closed_form():
    _close(_derivs(taylor.sin(_line())), np.sin(X0 + KS * np.pi / 2))
    _close(_derivs(taylor.cos(_line())), np.cos(X0 + KS * np.pi / 2))


def test_log_matches_closed_form():
    exact = [math.log(X0)] + [(-1) ** (k - 1) * math.factorial(k - 1) / X0 ** k
                              for k in range(1, K + 1)]
    _close(_derivs(taylor.log(_line())), exact)


def test_pow_matches_closed_form():
    p = 2.5
    exact = [np.prod([p - i for i in range(k)]) * X0 ** (p - k) for k in range(K + 1)]
    _close(_derivs(taylor.pow(_line(), p)), exact)


def test_div_and_mul_match_closed_form():
    one = taylor.constant_jet(ms.Tensor(np.array([1.0])), K)
    exact = [(-1) ** k * math.factorial(k) / (1 + X0) ** (k + 1) for k in range(K + 1)]
    _close(_derivs(taylor.div(one, taylor.shift(_line(), 1.0))), exact)
    # (x^2)(x^3) = x^5
    line = _line()
    prod = taylor.mul(taylor.mul(line, line), taylor.mul(taylor.square(line), line))
    exact5 = [np.prod([5 - i for i in range(k)]) * X0 ** (5 - k) for k in range(K + 1)]
    _close(_derivs(prod), exact5)


def test_add_sub_linear():
    line = _line()
    _close(_derivs(taylor.sub(taylor.add(line, line), line)), [X0, 1] + [0] * (K - 1))
    w = ms.Tensor(np.array([[3.0]]))
    out = taylor.linear([c.reshape(1, 1) for c in line], w, ms.Tensor(np.array([1.0])))
    _close(_derivs(out), [3 * X0 + 1, 3] + [0] * (K - 1))


def test_tanh_sigmoid_softplus_match_finite_free_references():
    _close(_derivs(taylor.tanh(_line()))[1:], chapter._tanh_derivatives(X0, K))
    # sigmoid(x) = (1 + tanh(x/2)) / 2
    half = chapter._tanh_derivatives(X0 / 2, K) / 2.0 ** np.arange(1, K + 1) / 2
    _close(_derivs(taylor.sigmoid(_line()))[1:], half)
    # softplus' = sigmoid
    sig = _derivs(taylor.sigmoid(_line(K - 1)))
    _close(_derivs(taylor.softplus(_line()))[1:], sig)


@pytest.mark.slow
def test_taylor_matches_nested_grad_on_random_mlps():
    # not softplus: MindSpore's float64 Softplus kernel on CPU is only float32-accurate (~4e-7)
    for seed, act in ((0, "tanh"), (1, "sin"), (2, "sigmoid")):
        sizes = (2, 16, 16, 1)
        lay = nets.layout(sizes)
        theta = ms.Tensor(nets.init_params(sizes, seed))
        rng = np.random.default_rng(seed)
        x = ms.Tensor(rng.uniform(-1, 1, (5, 2)))
        v = ms.Tensor(rng.standard_normal((5, 2)))
        jet = nets.forward_jet(theta, taylor.seed_jet(x, v, 4), lay, act)
        line = nets.forward_jet(theta, [x, v], lay, act, 4)  # zeros not propagated
        for k in range(1, 5):
            np.testing.assert_allclose(line[k].asnumpy(), jet[k].asnumpy(), rtol=1e-12,
                                       atol=1e-14)
            ref = pinn.nested_directional(lay, act, k)(theta, x, v).asnumpy()
            got = jet[k].asnumpy() * math.factorial(k)
            assert np.abs(got - ref).max() <= 1e-10 * max(1.0, np.abs(ref).max()), (act, k)


def test_weighted_tanh_path_matches_the_generic_one():
    # forward_jet's tanh path (weighted linear + tanh_weighted) against linear + activate
    sizes = (2, 8, 8, 1)
    lay = nets.layout(sizes)
    theta = ms.Tensor(nets.init_params(sizes, 4))
    rng = np.random.default_rng(4)
    x, v = ms.Tensor(rng.uniform(-1, 1, (3, 2))), ms.Tensor(rng.standard_normal((3, 2)))
    w, b = nets.unpack(theta, lay)[1]
    h = [ms.Tensor(rng.standard_normal((3, 8))) for _ in range(K + 1)]
    plain, weighted = taylor.linear(h, w, b), taylor.linear(h, w, b, weighted=True)
    for j in range(K + 1):
        np.testing.assert_allclose(weighted[j].asnumpy(), max(j, 1) * plain[j].asnumpy(),
                                   rtol=1e-15)
    fast = nets.forward_jet(theta, [x, v], lay, "tanh", K)
    h = taylor.activate(taylor.linear([x, v], *nets.unpack(theta, lay)[0]), "tanh", K)
    h = taylor.linear(taylor.activate(taylor.linear(h, w, b), "tanh"), *nets.unpack(theta, lay)[2])
    assert len(fast) == len(h) == K + 1
    for k in range(K + 1):
        np.testing.assert_allclose(fast[k].asnumpy(), h[k].asnumpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.slow
def test_jitted_taylor_and_nested_agree():
    kit.setup(0, mode="graph")
    try:
        sizes = (1, 8, 8, 1)
        lay = nets.layout(sizes)
        theta = ms.Tensor(nets.init_params(sizes, 3))
        x = ms.Tensor(np.linspace(-1, 1, 7).reshape(-1, 1))
        v = ops.ones_like(x)
        t = pinn.taylor_derivative_fn(lay, "tanh", 3)(theta, x, v)[3].asnumpy()
        n = pinn.nested_derivative_fn(lay, "tanh", 3)(theta, x, v).asnumpy()
        assert np.abs(t - n).max() < 1e-10 * np.abs(n).max()
    finally:
        kit.setup(0, mode="pynative")


def test_bad_orders_activations_and_names_raise():
    for bad in (0, 13, 2.0, True):
        with pytest.raises(ValueError, match="order must be an int in"):
            taylor.check_order(bad)
    with pytest.raises(ValueError, match="piecewise linear"):
        taylor.check_activation("relu", 2)
    assert taylor.check_activation("relu", 1) == "relu"
    with pytest.raises(ValueError, match="activation must be one of"):
        taylor.check_activation("gelu", 1)
    with pytest.raises(ValueError, match="pde must be one of"):
        pinn.check_pde("heat")
    with pytest.raises(ValueError, match="n_f must be an int >= 1"):
        pinn.burgers_data(100, 0, 0)
    with pytest.raises(ValueError, match="n_f must be an int >= 1"):
        chapter.beam_points(-3)
    with pytest.raises(ValueError, match="method must be one of"):
        pinn.check_method("finite-differences")
    with pytest.raises(ValueError, match="sizes must be"):
        nets.check_sizes([3])
    with pytest.raises(ValueError, match="timing_orders"):
        chapter.check_timing_orders([1, 2, 4])
    with pytest.raises(ValueError, match="modes must be < size/2"):
        fno.FNO1d(32, modes=16)
    with pytest.raises(ValueError, match="order must be an int"):
        pinn.nested_derivative_fn(nets.layout((1, 4, 1)), "tanh", 0)
    with pytest.raises(ValueError, match="piecewise linear"):
        pinn.taylor_derivative_fn(nets.layout((1, 4, 1)), "relu", 4)


def test_params_spec_rejects_bad_values():
    with pytest.raises(ValueError, match="n_f must be an int in"):
        PARAMS.check_values({"n_f": 0})
    with pytest.raises(ValueError, match="accuracy_order must be an int in"):
        PARAMS.check_values({"accuracy_order": 13})
    with pytest.raises(ValueError, match="residual must be one of"):
        PARAMS.check_values({"residual": "fd"})


def test_burgers_data_shapes_and_values():
    d = pinn.burgers_data(10, 50, 0)
    assert d.xu.shape == (10, 2) and d.u.shape == (10, 1) and d.xf.shape == (60, 2)
    ic = d.xu[:, 1] == 0
    np.testing.assert_allclose(d.u[ic, 0], -np.sin(np.pi * d.xu[ic, 0]))
    assert np.all(d.u[~ic] == 0) and np.all(np.abs(d.xu[~ic, 0]) == 1)
    assert d.xf[:, 0].min() >= -1 and d.xf[:, 1].max() <= 1


def test_cole_hopf_agrees_with_finite_differences():
    nu = 0.1 / math.pi
    x, u = references.burgers_fd(201, 0.5, nu, 4000)
    exact = references.cole_hopf(x, np.array([0.5]), nu)[0]
    assert np.abs(u - exact).max() < 2e-3
    x2, u2 = references.burgers_fd(401, 0.5, nu, 8000)
    exact2 = references.cole_hopf(x2, np.array([0.5]), nu)[0]
    assert np.abs(u2 - exact2).max() < np.abs(u - exact).max() / 3  # second order


def test_cole_hopf_initial_and_boundary_values():
    x = np.linspace(-1, 1, 9)
    u = references.cole_hopf(x, np.array([0.0, 0.3]))
    np.testing.assert_allclose(u[0], -np.sin(np.pi * x), atol=1e-15)
    assert abs(u[1, 0]) < 1e-12 and abs(u[1, -1]) < 1e-12


def test_shipped_reference_matches_formula_and_checksum():
    ref = data.burgers_reference()
    assert ref["u"].shape == (100, 256)
    i = 50
    again = references.cole_hopf(ref["x"][::32], ref["t"][i:i + 1], ref["nu"])[0]
    np.testing.assert_allclose(ref["u"][i, ::32], again, atol=1e-12)
    ops_data = data.burgers_operator_data()
    assert ops_data["a"].shape == (1000, 256) and ops_data["u"].shape == (1000, 256)


def test_spectral_solver_conserves_mean_and_decays():
    u0 = references.grf_1d(3, 128, 0)
    u1 = references.burgers_spectral(u0, 0.05, 0.5, 1e-3)
    np.testing.assert_allclose(u1.mean(1), u0.mean(1), atol=1e-12)
    assert np.all((u1 ** 2).sum(1) < (u0 ** 2).sum(1))


@pytest.mark.slow
def test_fno_shapes_transforms_agree_and_overfit():
    kit.setup(0, mode="graph")
    try:
        assert fno.spectral_agreement(32, 6) < 1e-5
        net = fno.FNO1d(32, modes=6, width=8, layers=2)
        out = net(ms.Tensor(np.zeros((3, 32), np.float32)))
        assert out.shape == (3, 32)
        rng = np.random.default_rng(0)
        x = np.linspace(0, 1, 32, endpoint=False)
        a = np.stack([np.sin(2 * np.pi * (x + s)) for s in rng.random(4)]).astype(np.float32)
        u = (0.5 * a).astype(np.float32)
        fit = fno.train_fno(a, u, a, u, epochs=150, modes=6, width=8, layers=2, batch=4,
                            lr=5e-3)
        assert fit.train_rel_l2 < 0.05 and fit.losses[-1] < fit.losses[0] / 5
    finally:
        kit.setup(0, mode="pynative")


@pytest.mark.slow
def test_lbfgs_training_reduces_beam_loss():
    sizes = (1, 8, 1)
    lay = nets.layout(sizes)
    kit.setup(0, mode="graph")
    try:
        lg = pinn.beam_loss_fn(lay, "tanh", "taylor")
        points = chapter.beam_points(8)
        assert points.shape == (10, 1) and points[-2:, 0].tolist() == [0.0, 1.0]
        theta0 = nets.init_params(sizes, 0)
        first = float(lg(ms.Tensor(theta0), ms.Tensor(points))[0].asnumpy())
        fit = pinn.train(lg, theta0, (points,), 10, 50, dtype="float64")
        last = float(lg(ms.Tensor(fit.theta), ms.Tensor(points))[0].asnumpy())
        assert last < first / 10 and fit.lbfgs_iterations > 0
        # both residual methods give the same loss and gradient
        nested = pinn.beam_loss_fn(lay, "tanh", "nested")(ms.Tensor(theta0), ms.Tensor(points))
        taylor_ = lg(ms.Tensor(theta0), ms.Tensor(points))
        assert abs(float(nested[0].asnumpy()) - first) < 1e-12 * first
        np.testing.assert_allclose(nested[1].asnumpy(), taylor_[1].asnumpy(), rtol=1e-8,
                                   atol=1e-12)
    finally:
        kit.setup(0, mode="pynative")


def test_growth_fits_recover_exponents():
    k = [1, 2, 3, 4, 5, 6]
    fits = chapter.growth_fits(k, {"taylor": [2.0 * x ** 2 for x in k],
                                   "nested": [0.5 * 3.0 ** x for x in k]})
    assert abs(fits["taylor_power_exponent"] - 2) < 1e-9
    assert abs(fits["nested_growth_per_order"] - 3) < 1e-9
    assert fits["nested_exp_rss"] < fits["nested_power_rss"]


def test_burgers_hard_constraints_and_residuals_agree():
    sizes = (2, 12, 12, 1)
    lay = nets.layout(sizes)
    theta = ms.Tensor(nets.init_params(sizes, 4))
    xs = np.linspace(-1, 1, 9)
    start = np.stack([xs, np.zeros(9)], 1)
    ends = np.array([[-1.0, 0.3], [1.0, 0.7]])
    u0 = pinn.burgers_u(theta, ms.Tensor(start), lay, "tanh", True).asnumpy().ravel()
    # pi enters as a Python float, which MindSpore rounds to float32 (finding:float64-scalars)
    np.testing.assert_allclose(u0, -np.sin(np.pi * xs), atol=1e-7)
    assert np.abs(pinn.burgers_u(theta, ms.Tensor(ends), lay, "tanh", True).asnumpy()).max() < 1e-7
    pts = ms.Tensor(np.random.default_rng(0).uniform([-1, 0], [1, 1], (7, 2)))
    for hard in (True, False):
        t = pinn.burgers_residual_taylor(theta, pts, lay, "tanh", 0.01, hard).asnumpy()
        n = pinn.burgers_residual_nested(theta, pts, lay, "tanh", 0.01, hard).asnumpy()
        np.testing.assert_allclose(t, n, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_burgers_rounds_sampling_and_validation_choice():
    ref = data.burgers_reference()
    with pytest.raises(ValueError, match="sampling must be one of rar, rad"):
        chapter.burgers(ref, 20, 50, 6, 1, 0, 4, "nested", 0, sampling="grid")
    with pytest.raises(ValueError, match="sampling must be one of"):
        PARAMS.check_values({"sampling": "grid"})
    with pytest.raises(ValueError, match="candidates must be >= n_f"):
        chapter.burgers(ref, 20, 50, 6, 1, 0, 4, "nested", 0, rar_rounds=1, rar_points=10,
                        candidates=30)
    kit.setup(0, mode="graph")
    try:
        for sampling in chapter.SAMPLINGS:
            run = chapter.burgers(ref, 20, 60, 6, 1, 0, 24, "nested", 0, rar_rounds=2,
                                  rar_points=10, sampling=sampling, validation=200)
            assert [r["n_f"] for r in run.rounds] == [80, 90, 100]
            assert sum(r["reported"] for r in run.rounds) == 1
            best = min(run.rounds, key=lambda r: r["validation_residual"])
            assert best["reported"] and run.rel_l2 == pytest.approx(best["rel_l2"], rel=1e-6)
            assert run.fit.lbfgs_iterations <= 24 and run.cpu_seconds > 0
            # RAR keeps the first points and adds; RAD draws a whole new set of the same size
            assert run.added.shape == ((20, 2) if sampling == "rar" else (80, 2))
    finally:
        kit.setup(0, mode="pynative")


@pytest.mark.slow
def test_lbfgs_restarts_spend_the_budget():
    sizes = (2, 8, 1)
    lay = nets.layout(sizes)
    d = pinn.burgers_data(20, 40, 0)
    kit.setup(0, mode="graph")
    try:
        lg = pinn.burgers_loss_fn(lay, "tanh", "nested", d.nu, True)
        theta0 = nets.init_params(sizes, 0)
        once = pinn.train(lg, theta0, (d.xu, d.u, d.xf), 0, 3000)
        again = pinn.train(lg, theta0, (d.xu, d.u, d.xf), 0, 3000, restarts=True)
        assert len(once.stops) == 1 and once.lbfgs_iterations < 3000  # float32 stalls early
        # the same first run, then at least one restart with fresh memory
        assert len(again.stops) >= 2 and again.lbfgs_iterations >= once.lbfgs_iterations
    finally:
        kit.setup(0, mode="pynative")


@pytest.fixture
def graph_mode():
    kit.setup(0, mode="graph")
    yield
    kit.setup(0, mode="pynative")


def _tanh_net_on_line(seed: int, dtype=np.float64) -> tuple:
    """A 12 x 12 tanh MLP and 29 points on a line: rows * width not a multiple of the fused
    kernels' block of 64."""
    sizes = (1, 12, 12, 1)
    lay, theta = nets.layout(sizes), ms.Tensor(nets.init_params(sizes, seed).astype(dtype))
    x = ms.Tensor(np.linspace(-1.5, 1.5, 29).reshape(-1, 1).astype(dtype))
    return lay, theta, x, ops.ones_like(x)


@pytest.mark.slow
def test_fused_tanh_kernel_matches_stock_taylor_mode(graph_mode):
    # the C++ tanh recurrence (ops.Custom, aot) against the stock-op jet
    lay, theta, x, v = _tanh_net_on_line(5)
    for k in (1, 4, 7):
        got = fused.derivative_fn(lay, "tanh", k)(theta, x, v).asnumpy()
        ref = pinn.taylor_derivative_fn(lay, "tanh", k)(theta, x, v).asnumpy()
        assert got.shape == ref.shape == (k + 1, 29, 1)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    with pytest.raises(ValueError, match="activation must be 'tanh'"):
        fused.derivative_fn(lay, "sin", 3)
    with pytest.raises(ValueError, match="theta must be float32 or float64"):
        fused.derivative_fn(lay, "tanh", 3)(theta.astype(ms.float16), x, v)
    with pytest.raises(ValueError, match="x must have the same dtype"):
        fused.derivative_fn(lay, "tanh", 3)(theta.astype(ms.float32), x, v)


@pytest.mark.slow
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-4)])
def test_fused_kernel_gradient_matches_stock_taylor_mode(graph_mode, dtype, rtol):
    # the adjoint kernel (the operator's bprop): d(loss on the jet)/d(theta), weights and
    # biases, against MindSpore's autodiff through the stock-op jet, at order 5
    lay, theta, x, v = _tanh_net_on_line(6, dtype)
    weights = ms.Tensor(np.arange(1.0, 7.0).reshape(-1, 1, 1).astype(dtype))

    def loss_fused(th):
        return ((fused.forward_jet(th, x, v, lay, 5) ** 2) * weights).sum()

    def loss_stock(th):
        return ((ops.stack(nets.forward_jet(th, [x, v], lay, "tanh", 5), 0) ** 2)
                * weights).sum()
    got = ms.jit(ms.grad(loss_fused))(theta).asnumpy()
    ref = ms.jit(ms.grad(loss_stock))(theta).asnumpy()
    assert np.abs(ref).max() > 1.0
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * np.abs(ref).max())


@pytest.mark.slow
def test_beam_trains_through_the_fused_kernels(graph_mode):
    sizes = (1, 8, 8, 1)
    lay, theta = nets.layout(sizes), nets.init_params(sizes, 2).astype(np.float32)
    points = ms.Tensor(chapter.beam_points(10).astype(np.float32))
    lf, gf = pinn.beam_loss_fn(lay, "tanh", "fused")(ms.Tensor(theta), points)
    ls, gs = pinn.beam_loss_fn(lay, "tanh", "taylor")(ms.Tensor(theta), points)
    assert float(lf) == pytest.approx(float(ls), rel=1e-5)
    np.testing.assert_allclose(gf.asnumpy(), gs.asnumpy(), rtol=1e-3,
                               atol=1e-4 * np.abs(gs.asnumpy()).max())
    with pytest.raises(ValueError, match="activation must be 'tanh'"):
        pinn.beam_loss_fn(lay, "sin", "fused")
    with pytest.raises(ValueError, match="method must be one of taylor, nested, fused"):
        pinn.beam_loss_fn(lay, "tanh", "symbolic")
    with pytest.raises(ValueError, match="method must be one of taylor, nested, got"):
        pinn.burgers_loss_fn(lay, "tanh", "fused", 0.01)


@pytest.mark.slow
def test_explore_derivatives_curves_agree(graph_mode):
    # the widget's curves: nested grad, stock Taylor and (MLP only) fused Taylor
    for function, curves in zip(chapter.EXPLORE_FUNCTIONS, (2, 3), strict=True):
        lines = chapter.explore_derivatives(3, function).axes[0].get_lines()
        assert len(lines) == curves
        ref = lines[0].get_ydata()
        for line in lines[1:]:
            np.testing.assert_allclose(line.get_ydata(), ref, rtol=1e-9,
                                       atol=1e-9 * np.abs(ref).max())
    with pytest.raises(ValueError, match="order"):
        chapter.explore_derivatives(0, chapter.EXPLORE_FUNCTIONS[1])


def test_interleaved_ms_reports_round_minima_and_per_round_ratios():
    calls = {"a": lambda: sum(range(2000)), "b": lambda: None}
    ms_by_call, timed = chapter.interleaved_ms(calls, rounds=4, repeats=2)
    assert set(ms_by_call) == {"a", "b"}
    assert all(len(r) == 2 for r in timed.seconds["a"]) and len(timed.seconds["a"]) == 4
    assert ms_by_call["a"] == pytest.approx(1e3 * np.median(timed.round_minima("a")))
    assert len(timed.ratios("a", "b", stat="min")) == 4


def test_reading_says_how_many_seeds_meet_the_target():
    from kit.core.results import spread_of

    spreads = {"burgers_rel_l2": spread_of([4.4e-3, 2.3e-2, 1.4e-2], "seeds"),
               "fno_rel_l2": spread_of([0.0146], "seeds")}
    assert chapter._seed_note(spreads, "burgers_rel_l2", 5e-3) == (
        ", median of 3 seeds [4.4e-03, 2.3e-02]; 1 of 3 seeds meet 0.005")
    assert chapter._seed_note(spreads, "fno_rel_l2", 0.02) == ""  # one seed: nothing to add
    assert chapter._seed_note(None, "burgers_rel_l2", 5e-3) == ""
